import { createHash, createPrivateKey, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateP256, parsePublicKey } from "../keys/software";
import { SIGSTORE_CHECKS, verifySigstoreBundle } from "./sigstore-bundle";
import { parseTrustedRoot, trustMaterialFromRoot } from "../trust/sigstore-root";
import { CHECKS, type SignatureVerification, type TrustMaterial } from "../verification";

const FIXTURE = readFileSync(new URL("../testdata/sigstore-bundle-0.1-slsa-1.0.json", import.meta.url));
const ROOT = parseTrustedRoot(JSON.parse(readFileSync(new URL("../testdata/sigstore-public-good-trusted-root.json", import.meta.url), "utf8")));
const PUBLIC_GOOD: TrustMaterial = trustMaterialFromRoot(ROOT);
/** The binary the fixture's SLSA provenance is about (its in-toto subject). */
const BINARY_DIGEST = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
/** Long after the fixture's 10-minute certificate expired: verification must use the integrated time. */
const NOW = new Date("2026-01-01T00:00:00Z");

type Json = Record<string, any>;
const fixtureJson = (): Json => JSON.parse(FIXTURE.toString("utf8")) as Json;
const bytesOf = (j: Json) => Buffer.from(JSON.stringify(j));
const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function check(r: SignatureVerification, name: string) {
  return r.checks.find((c) => c.check === name);
}

function lastFailed(r: SignatureVerification) {
  const last = r.checks[r.checks.length - 1]!;
  expect(last.passed).toBe(false);
  return last;
}

describe("verifySigstoreBundle with the shared v0.1 SLSA fixture", () => {
  it("verifies offline with the imported public-good trust: inclusion proof, SET and the chain at integratedTime each pass", () => {
    const r = verifySigstoreBundle({ bundle: FIXTURE, blobDigest: sha256(FIXTURE), subjectDigest: null, trust: PUBLIC_GOOD, now: NOW });
    expect(r.verdict, r.detail).toBe("verified");
    expect(r.format).toBe("sigstore-bundle");
    expect(r.checks.map((c) => [c.check, c.passed])).toEqual([
      [CHECKS.payloadDigest, true],
      [SIGSTORE_CHECKS.wellFormed, true],
      [CHECKS.namesDigest, null],
      [CHECKS.signature, true],
      [SIGSTORE_CHECKS.tlogBody, true],
      [SIGSTORE_CHECKS.set, true],
      [SIGSTORE_CHECKS.checkpoint, true],
      [SIGSTORE_CHECKS.inclusionProof, true],
      [SIGSTORE_CHECKS.tlogThreshold, true],
      [SIGSTORE_CHECKS.timestampThreshold, true],
      [CHECKS.chain, true],
      [SIGSTORE_CHECKS.sct, true],
      [SIGSTORE_CHECKS.crossCheck, true],
    ]);
    expect(check(r, CHECKS.namesDigest)!.detail).toMatch(/^not attached to an image: .*names sha256:5891b5b5/);
    expect(check(r, CHECKS.chain)!.detail).toContain("2024-03-21T10:34:14.000Z");
    expect(check(r, SIGSTORE_CHECKS.set)!.detail).toContain("rekor.sigstore.dev");
    expect(r.time).toEqual({ kind: "trusted", at: "2024-03-21T10:34:14.000Z", by: expect.stringContaining("https://rekor.sigstore.dev") });
    expect(r.trustedBy).toMatch(/^Fulcio sigstore \(https:\/\/fulcio\.sigstore\.dev\) from 2022-04-13/);
    expect(r.signer?.kind).toBe("certificate");
    if (r.signer?.kind !== "certificate") return;
    expect(r.signer.leaf.oidcIssuer).toBe("https://token.actions.githubusercontent.com");
    expect(r.signer.leaf.sans[0]).toMatch(/^https:\/\/github\.com\/slsa-framework\//);
    expect(r.signer.leaf.issuer).toContain("sigstore-intermediate");
    expect(r.signer.leaf.fingerprint).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(r.detail).toMatch(
      /^verified: signed by https:\/\/github\.com\/slsa-framework\/.* \(issuer https:\/\/token\.actions\.githubusercontent\.com\), at 2024-03-21T10:34:14\.000Z/,
    );
  });

  it("passes the subject check when asked for the digest the statement names, and refuses another digest as invalid", () => {
    const ok = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: BINARY_DIGEST, trust: PUBLIC_GOOD, now: NOW });
    expect(ok.verdict).toBe("verified");
    expect(check(ok, CHECKS.namesDigest)).toMatchObject({ passed: true, detail: expect.stringContaining("https://slsa.dev/provenance/v1") });
    const other = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: `sha256:${"0".repeat(64)}`, trust: PUBLIC_GOOD, now: NOW });
    expect(other.verdict).toBe("invalid");
    expect(lastFailed(other).check).toBe(CHECKS.namesDigest);
    expect(other.detail).toMatch(/^invalid: names this digest failed: the in-toto statement .* names sha256:5891b5b5.*, not sha256:0000/);
  });

  it("judged as an image signature, a real SLSA provenance attestation about the digest is not one (cosign verify counts only its sign predicate)", () => {
    const r = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: BINARY_DIGEST, trust: PUBLIC_GOOD, now: NOW, asSignature: true });
    expect(r.verdict).toBe("unverified");
    expect(lastFailed(r).check).toBe(CHECKS.namesDigest);
    expect(lastFailed(r).detail).toMatch(
      /^the in-toto statement \(https:\/\/slsa\.dev\/provenance\/v1\) is an attestation about sha256:5891b5b5.*, not a signature of it: only a https:\/\/sigstore\.dev\/cosign\/sign\/v1 statement is/,
    );
  });

  it("is not verified without the Rekor key, and names the SET check", () => {
    const r = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: null, trust: { ...PUBLIC_GOOD, rekorKeys: [] }, now: NOW });
    expect(r.verdict).toBe("unverified");
    expect(lastFailed(r).check).toBe(SIGSTORE_CHECKS.set);
    expect(r.detail).toMatch(/^not verified: signed entry timestamp \(SET\) failed: .*import the Rekor key/);
    expect(r.time).toBeNull();
  });

  it("is not verified when the Fulcio CA is missing: the chain fails", () => {
    const r = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: null, trust: { ...PUBLIC_GOOD, certificateRoots: [] }, now: NOW });
    expect(r.verdict).toBe("unverified");
    expect(lastFailed(r).check).toBe(CHECKS.chain);
    expect(r.detail).toContain("at 2024-03-21T10:34:14.000Z");
    // The log still vouches for the time, even though the signer is not trusted.
    expect(check(r, SIGSTORE_CHECKS.set)!.passed).toBe(true);
  });

  it("is invalid when one byte of the DSSE signature is flipped", () => {
    const j = fixtureJson();
    const sig = Buffer.from(j.dsseEnvelope.signatures[0].sig as string, "base64");
    sig[sig.length - 5]! ^= 0x01;
    j.dsseEnvelope.signatures[0].sig = sig.toString("base64");
    const r = verifySigstoreBundle({ bundle: bytesOf(j), subjectDigest: null, trust: PUBLIC_GOOD, now: NOW });
    expect(r.verdict).toBe("invalid");
    expect(lastFailed(r).check).toBe(CHECKS.signature);
  });

  it("is invalid when the payload was changed after signing", () => {
    const j = fixtureJson();
    const st = JSON.parse(Buffer.from(j.dsseEnvelope.payload as string, "base64").toString("utf8")) as Json;
    st.subject[0].digest.sha256 = "1".repeat(64);
    j.dsseEnvelope.payload = Buffer.from(JSON.stringify(st)).toString("base64");
    const r = verifySigstoreBundle({ bundle: bytesOf(j), subjectDigest: `sha256:${"1".repeat(64)}`, trust: PUBLIC_GOOD, now: NOW });
    expect(r.verdict).toBe("invalid");
    expect(lastFailed(r).check).toBe(CHECKS.signature);
  });

  it("is invalid when the SET was altered, or the inclusion proof does not lead to the signed checkpoint", () => {
    const set = fixtureJson();
    const promise = Buffer.from(set.verificationMaterial.tlogEntries[0].inclusionPromise.signedEntryTimestamp as string, "base64");
    promise[promise.length - 3]! ^= 0x01;
    set.verificationMaterial.tlogEntries[0].inclusionPromise.signedEntryTimestamp = promise.toString("base64");
    const r1 = verifySigstoreBundle({ bundle: bytesOf(set), subjectDigest: null, trust: PUBLIC_GOOD, now: NOW });
    expect([r1.verdict, lastFailed(r1).check]).toEqual(["invalid", SIGSTORE_CHECKS.set]);

    const proof = fixtureJson();
    const hashes = proof.verificationMaterial.tlogEntries[0].inclusionProof.hashes as string[];
    hashes[0] = Buffer.alloc(32, 7).toString("base64");
    const r2 = verifySigstoreBundle({ bundle: bytesOf(proof), subjectDigest: null, trust: PUBLIC_GOOD, now: NOW });
    expect([r2.verdict, lastFailed(r2).check]).toEqual(["invalid", SIGSTORE_CHECKS.inclusionProof]);
    expect(check(r2, SIGSTORE_CHECKS.checkpoint)!.passed).toBe(true);
  });

  it("is invalid when the bytes don't match the layer descriptor's digest", () => {
    const r = verifySigstoreBundle({ bundle: FIXTURE, blobDigest: `sha256:${"a".repeat(64)}`, subjectDigest: null, trust: PUBLIC_GOOD, now: NOW });
    expect([r.verdict, lastFailed(r).check]).toEqual(["invalid", CHECKS.payloadDigest]);
  });

  it("is not verified without the CT log keys while an SCT is required", () => {
    const r = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: null, trust: { ...PUBLIC_GOOD, ctLogKeys: [] }, now: NOW });
    expect([r.verdict, lastFailed(r).check]).toEqual(["unverified", SIGSTORE_CHECKS.sct]);
    // @sigstore/verify checks every embedded SCT even at CT threshold 0, so the cross-check still refuses it.
    const zero = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: null, trust: { ...PUBLIC_GOOD, ctLogKeys: [] }, thresholds: { ctlog: 0 }, now: NOW });
    expect(check(zero, SIGSTORE_CHECKS.sct)!.passed).toBeNull();
    expect([zero.verdict, lastFailed(zero).check]).toEqual(["unverified", SIGSTORE_CHECKS.crossCheck]);
    expect(zero.detail).toContain('failed at "certificate transparency (SCT)"');
  });

  it("applies the caller's timestamp threshold", () => {
    const one = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: null, trust: PUBLIC_GOOD, thresholds: { timestamp: 1 }, now: NOW });
    expect(one.verdict).toBe("verified");
    const two = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: null, trust: PUBLIC_GOOD, thresholds: { timestamp: 2 }, now: NOW });
    expect([two.verdict, lastFailed(two).check]).toEqual(["unverified", SIGSTORE_CHECKS.timestampThreshold]);
  });

  it("refuses a log entry integrated in the future", () => {
    const r = verifySigstoreBundle({ bundle: FIXTURE, subjectDigest: null, trust: PUBLIC_GOOD, now: new Date("2024-03-21T10:00:00Z") });
    expect([r.verdict, lastFailed(r).check]).toEqual(["invalid", SIGSTORE_CHECKS.set]);
  });

  it("reads the same content under the v0.2 and v0.3 media types", () => {
    const v02 = fixtureJson();
    v02.mediaType = "application/vnd.dev.sigstore.bundle+json;version=0.2";
    expect(verifySigstoreBundle({ bundle: bytesOf(v02), subjectDigest: BINARY_DIGEST, trust: PUBLIC_GOOD, now: NOW }).verdict).toBe("verified");

    const v03 = fixtureJson();
    v03.mediaType = "application/vnd.dev.sigstore.bundle.v0.3+json";
    v03.verificationMaterial.certificate = v03.verificationMaterial.x509CertificateChain.certificates[0];
    delete v03.verificationMaterial.x509CertificateChain;
    const r = verifySigstoreBundle({ bundle: bytesOf(v03), subjectDigest: BINARY_DIGEST, trust: PUBLIC_GOOD, now: NOW });
    expect(r.verdict, r.detail).toBe("verified");
    expect(check(r, SIGSTORE_CHECKS.wellFormed)!.detail).toMatch(
      /^application\/vnd\.dev\.sigstore\.bundle\.v0\.3\+json: DSSE envelope, certificate, 1 tlog entry/,
    );
  });

  it("refuses what is not a bundle, listing the bad fields", () => {
    const notJson = verifySigstoreBundle({ bundle: Buffer.from("{"), subjectDigest: null, trust: PUBLIC_GOOD, now: NOW });
    expect([notJson.verdict, lastFailed(notJson).check, lastFailed(notJson).detail]).toEqual(["invalid", SIGSTORE_CHECKS.wellFormed, "not JSON"]);
    const j = fixtureJson();
    delete j.verificationMaterial.tlogEntries[0].inclusionPromise;
    const v01 = verifySigstoreBundle({ bundle: bytesOf(j), subjectDigest: null, trust: PUBLIC_GOOD, now: NOW });
    expect([v01.verdict, lastFailed(v01).check]).toEqual(["invalid", SIGSTORE_CHECKS.wellFormed]);
    expect(v01.detail).toContain("inclusionPromise");
  });
});

describe("verifySigstoreBundle with key-based bundles", () => {
  const pair = generateP256();
  const info = parsePublicKey(pair.publicKeyPem);
  const trust: TrustMaterial = { ...PUBLIC_GOOD, keys: [{ name: "release", fingerprint: info.fingerprint, key: info.key, algorithm: info.algorithm }] };
  const artifact = Buffer.from("hello, artifact\n");
  const messageBundle = (hint: string, signature?: Buffer) =>
    bytesOf({
      mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      verificationMaterial: { publicKey: { hint }, tlogEntries: [] },
      messageSignature: {
        messageDigest: { algorithm: "SHA2_256", digest: createHash("sha256").update(artifact).digest("base64") },
        signature: (signature ?? sign("sha256", artifact, { key: createPrivateKey(pair.privateKeyPem), dsaEncoding: "der" })).toString("base64"),
      },
    });

  it("verifies a message signature over the artifact with a trusted key and no log (tlog 0 by default for keys)", () => {
    const r = verifySigstoreBundle({ bundle: messageBundle("release"), subjectDigest: sha256(artifact), artifact, trust, now: NOW });
    expect(r.verdict, r.detail).toBe("verified");
    expect(r.signer).toEqual({ kind: "key", fingerprint: info.fingerprint, algorithm: "ecdsa-p256" });
    expect(r.trustedBy).toBe("release");
    expect(r.time).toEqual({ kind: "claimed", at: null, by: "no timestamp in the bundle" });
    expect(check(r, CHECKS.chain)).toMatchObject({ passed: null });
  });

  it("finds the key by trying the trusted keys when the hint names none of them", () => {
    const r = verifySigstoreBundle({ bundle: messageBundle("some-other-hint"), subjectDigest: sha256(artifact), artifact, trust, now: NOW });
    expect(r.verdict, r.detail).toBe("verified");
  });

  it("is not verified by an unknown key, and cannot check a message signature without the artifact", () => {
    const stranger = generateP256();
    const r = verifySigstoreBundle({
      bundle: messageBundle("x", sign("sha256", artifact, { key: createPrivateKey(stranger.privateKeyPem), dsaEncoding: "der" })),
      subjectDigest: sha256(artifact),
      artifact,
      trust,
      now: NOW,
    });
    expect([r.verdict, lastFailed(r).check]).toEqual(["unverified", CHECKS.signature]);
    const noArtifact = verifySigstoreBundle({ bundle: messageBundle("release"), subjectDigest: sha256(artifact), trust, now: NOW });
    expect([noArtifact.verdict, lastFailed(noArtifact).check]).toEqual(["unverified", CHECKS.signature]);
  });

  it("is invalid when the hinted trusted key does not verify it, and unverified when a log entry is required but absent", () => {
    const other = Buffer.from("another artifact");
    const bad = verifySigstoreBundle({
      bundle: messageBundle("release", sign("sha256", other, { key: createPrivateKey(pair.privateKeyPem), dsaEncoding: "der" })),
      subjectDigest: sha256(artifact),
      artifact,
      trust,
      now: NOW,
    });
    expect([bad.verdict, lastFailed(bad).check]).toEqual(["invalid", CHECKS.signature]);
    const needsLog = verifySigstoreBundle({
      bundle: messageBundle("release"),
      subjectDigest: sha256(artifact),
      artifact,
      trust,
      thresholds: { tlog: 1 },
      now: NOW,
    });
    expect([needsLog.verdict, lastFailed(needsLog).check]).toEqual(["unverified", SIGSTORE_CHECKS.tlogThreshold]);
  });
});
