import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTsa, type TsaHandle } from "../../../scripts/lib/tsa.mjs";
import { CHECKPOINT_TIMESTAMP_ANNOTATION, checkpointTag } from "../../audit-checkpoint";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { verifyTimestampToken } from "../../signing/trust/rfc3161";
import type { Actor } from "../actor";
import { timestampSignature } from "../approvals/timestamp-signature";
import { registryClient, resolveRegistry } from "../registries/resolve-registry";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { loadTrust } from "../trust/load-trust";
import { recordAuditEvent } from "./append-audit-event";
import { makeAuditCheckpoint } from "./make-audit-checkpoint";
import { verifyAuditCheckpoints } from "./verify-audit-checkpoints";

const cli: Actor = { kind: "cli", label: "checkpoint-tsa-test" };
const repository = `imprimatur/audit-tsa-${randomBytes(4).toString("hex")}`;
let tsa: TsaHandle;

async function events(n: number, tag: string) {
  for (let i = 0; i < n; i++)
    await recordAuditEvent({ actor: cli, action: "request.denied", outcome: "denied", detail: { status: 403, reason: `${tag} #${i}` } });
}
function useTsa(url: string | undefined) {
  if (url) process.env.IMPRIMATUR_TSA_URL = url;
  else delete process.env.IMPRIMATUR_TSA_URL;
  resetEnvCache();
}

beforeAll(async () => {
  tsa = await startTsa({});
  useTsa(tsa.url);
  await createTrustIdentity({ actor: { kind: "system", label: "test" }, input: { name: "audit-tsa", kind: "tsa", role: "stage", certificates: tsa.chainPem } });
});
afterAll(async () => {
  useTsa(undefined);
  await tsa.destroy();
  await disconnectDb();
});

describe("RFC 3161 timestamps on audit checkpoints (a real TSA: openssl ts -reply)", () => {
  it("timestamps the checkpoint's signature; verification checks the token and reports the trusted time", async () => {
    await events(3, "a");
    const r = await makeAuditCheckpoint({ actor: cli, registry: "default", repository });
    expect(r.status).toBe("pushed");
    const row = await db.auditCheckpoint.findUniqueOrThrow({ where: { number: 1 } });
    expect(row.timestampToken).not.toBeNull();
    expect(row.timestampError).toBeNull();
    expect(row.timestampBy).toContain("Imprimatur Test TSA");
    // The token imprints the checkpoint's signature bytes, and chains to the trusted TSA root.
    const { material } = await loadTrust();
    const v = verifyTimestampToken({ token: row.timestampToken!, signedData: Buffer.from(row.signature, "base64"), tsaRoots: material.tsaRoots });
    expect(v.ok).toBe(true);
    // The registry's copy carries it.
    const m = JSON.parse((await registryClient(await resolveRegistry("default")).getManifest(repository, checkpointTag(1))).bytes.toString()) as {
      annotations: Record<string, string>;
    };
    expect(Buffer.from(m.annotations[CHECKPOINT_TIMESTAMP_ANNOTATION]!, "base64").equals(Buffer.from(row.timestampToken!))).toBe(true);

    const check = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository });
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
    const c1 = check.checkpoints.find((c) => c.number === 1)!;
    expect(c1.time).toMatchObject({ kind: "trusted", at: row.timestampAt!.toISOString(), by: expect.stringContaining("audit-tsa") });
    expect(c1.message).toContain("(trusted: TSA");
  });

  it("a TSA that is down delays nothing: the checkpoint is pushed without a token and its time is reported as claimed", async () => {
    useTsa("http://127.0.0.1:9/tsa");
    try {
      await events(2, "b");
      const r = await makeAuditCheckpoint({ actor: cli, registry: "default", repository });
      expect(r.status).toBe("pushed");
      const row = await db.auditCheckpoint.findUniqueOrThrow({ where: { number: 2 } });
      expect(row.timestampToken).toBeNull();
      expect(row.timestampError).toMatch(/timestamp authority did not answer/);
      expect(row.pushedAt).not.toBeNull();
      const check = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository });
      expect(check.ok).toBe(true);
      expect(check.checkpoints.find((c) => c.number === 2)!.time).toMatchObject({ kind: "claimed", reason: "no timestamp token" });
    } finally {
      useTsa(tsa.url);
    }
  });

  it("reports a checkpoint whose token covers other bytes, or is garbage, as failing; never as trusted", async () => {
    const reg = await resolveRegistry("default");
    const client = registryClient(reg, "push");
    const original = (await client.getManifest(repository, checkpointTag(1))).bytes;
    const manifest = JSON.parse(original.toString()) as { annotations: Record<string, string> };
    // A genuine token from the trusted TSA, but over some other signature: the imprint does not match.
    const other = await timestampSignature({ signature: randomBytes(64) });
    manifest.annotations[CHECKPOINT_TIMESTAMP_ANNOTATION] = other.token.toString("base64");
    await client.putManifest(repository, checkpointTag(1), Buffer.from(JSON.stringify(manifest)), "application/vnd.oci.image.manifest.v1+json");
    let check = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository });
    expect(check.ok).toBe(false);
    expect(check.checkpoints.find((c) => c.number === 1)!.time).toMatchObject({ kind: "failed", reason: expect.stringMatching(/^imprint/) });
    expect(check.problems.join("\n")).toMatch(/checkpoint 1's timestamp token fails \(imprint/);

    manifest.annotations[CHECKPOINT_TIMESTAMP_ANNOTATION] = Buffer.from("not a token").toString("base64");
    await client.putManifest(repository, checkpointTag(1), Buffer.from(JSON.stringify(manifest)), "application/vnd.oci.image.manifest.v1+json");
    check = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository });
    expect(check.checkpoints.find((c) => c.number === 1)!.time).toMatchObject({ kind: "failed", reason: expect.stringMatching(/^format/) });
    expect(check.ok).toBe(false);

    // Put back the original: verification agrees again.
    await client.putManifest(repository, checkpointTag(1), original, "application/vnd.oci.image.manifest.v1+json");
    expect((await verifyAuditCheckpoints({ actor: cli, registry: "default", repository })).ok).toBe(true);
  });

  it("a token from a TSA that is not trusted fails on its chain", async () => {
    const untrusted = await startTsa({});
    try {
      useTsa(untrusted.url);
      await events(1, "c");
      // The untrusted TSA's token is refused before it is kept: the checkpoint goes out without one.
      expect((await makeAuditCheckpoint({ actor: cli, registry: "default", repository })).status).toBe("pushed");
      const row = await db.auditCheckpoint.findUniqueOrThrow({ where: { number: 3 } });
      expect(row.timestampToken).toBeNull();
      expect(row.timestampError).toMatch(/does not verify/);
    } finally {
      useTsa(tsa.url);
      await untrusted.destroy();
    }
  });
});
