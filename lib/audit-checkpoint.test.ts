import { describe, expect, it } from "vitest";
import { CHECKPOINT_TYPE, checkpointBytes, checkpointManifest, compareCheckpoint, verifyCheckpoint, type CheckpointPayload } from "./audit-checkpoint";
import { generateP256, signP256 } from "./signing/keys/software";

const key = generateP256();
const trusted = [{ fingerprint: key.fingerprint, publicKeyPem: key.publicKeyPem }];
const payload: CheckpointPayload = {
  type: CHECKPOINT_TYPE,
  checkpoint: 41,
  seq: "5120",
  hash: "a".repeat(64),
  time: "2026-12-03T05:00:00.000Z",
  key: key.fingerprint,
};

function artifact(p: CheckpointPayload | Buffer, signWith = key) {
  const bytes = Buffer.isBuffer(p) ? p : checkpointBytes(p);
  const sig = signP256(signWith.privateKeyPem, bytes).toString("base64");
  return { manifest: JSON.parse(checkpointManifest(bytes, sig, payload.time).toString()), payloadBytes: bytes };
}

describe("audit checkpoints", () => {
  it("accepts a checkpoint signed by a trusted audit key", () => {
    const r = verifyCheckpoint({ tagNumber: 41, trustedKeys: trusted, ...artifact(payload) });
    expect(r).toEqual({ ok: true, payload });
  });

  it("refuses another key, a tampered payload, a non-canonical payload, a wrong tag and a missing signature", () => {
    const other = generateP256();
    expect(verifyCheckpoint({ tagNumber: 41, trustedKeys: trusted, ...artifact({ ...payload, key: other.fingerprint }, other) })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not an audit key/),
    });
    const good = artifact(payload);
    const tampered = checkpointBytes({ ...payload, seq: "5121" });
    expect(verifyCheckpoint({ tagNumber: 41, trustedKeys: trusted, manifest: good.manifest, payloadBytes: tampered })).toMatchObject({
      ok: false,
      reason: "signature does not verify with the audit key",
    });
    expect(verifyCheckpoint({ tagNumber: 41, trustedKeys: trusted, ...artifact(Buffer.from(JSON.stringify(payload, null, 2))) })).toMatchObject({
      ok: false,
      reason: "payload is not in canonical form",
    });
    expect(verifyCheckpoint({ tagNumber: 40, trustedKeys: trusted, ...artifact(payload) })).toMatchObject({
      ok: false,
      reason: "payload names checkpoint 41, its tag 40",
    });
    const unsigned = artifact(payload);
    delete unsigned.manifest.annotations["dev.imprimatur.audit.signature"];
    expect(verifyCheckpoint({ tagNumber: 41, trustedKeys: trusted, ...unsigned })).toMatchObject({ ok: false, reason: expect.stringMatching(/unsigned/) });
  });

  it("names a cut tail and a rewritten row in words", () => {
    expect(compareCheckpoint(payload, { lastSeq: 5117n, hashAt: () => null })).toEqual({
      kind: "cut",
      message: "checkpoint 41 names seq 5,120; the table ends at 5,117 (its tail was cut)",
    });
    expect(compareCheckpoint(payload, { lastSeq: 6000n, hashAt: () => "b".repeat(64) })?.kind).toBe("rewritten");
    expect(compareCheckpoint(payload, { lastSeq: 6000n, hashAt: () => "a".repeat(64) })).toBeNull();
  });
});
