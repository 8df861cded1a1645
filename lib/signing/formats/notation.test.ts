import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../oci/digest";
import { NOTATION_CHECK_ORDER, NOTATION_CHECKS, NOTATION_COSE, NOTATION_JWS, verifyNotationSignature } from "./notation";
import { timestampTokenCertificates } from "../trust/rfc3161";
import { CHECKS, EMPTY_TRUST, type SignatureVerification, type TrustMaterial } from "../verification";
import { toPem } from "../trust/x509";

// Real Notation 1.0.0 signature (notation-go testdata): PS256, x5c = one self-signed test certificate CN=alpine,
// RFC 3161 token from GlobalSign's TSA over the signature bytes.
const bytes = readFileSync(new URL("../testdata/notation-jws-with-rfc3161-timestamp.json", import.meta.url));
const envelope = JSON.parse(bytes.toString("utf8")) as {
  payload: string;
  protected: string;
  signature: string;
  header: { "io.cncf.notary.timestampSignature": string; x5c: string[] } & Record<string, unknown>;
};
const subjectDigest = (JSON.parse(Buffer.from(envelope.payload, "base64url").toString()) as { targetArtifact: { digest: string } }).targetArtifact.digest;
const leafPem = toPem(Buffer.from(envelope.header.x5c[0]!, "base64"));
const tsaRoot = timestampTokenCertificates(Buffer.from(envelope.header["io.cncf.notary.timestampSignature"], "base64")).find((c) => c.subject === c.issuer)!;

const NOW = new Date("2025-06-01T00:00:00Z");
const LEAF_SUBJECT = "C=US, ST=WA, L=Seattle, O=Notary, CN=alpine";
const rootTrust: TrustMaterial = { ...EMPTY_TRUST, certificateRoots: [{ name: "notation test root", certificates: [leafPem] }] };
const fullTrust: TrustMaterial = { ...rootTrust, tsaRoots: [{ name: "GlobalSign Root R6", certificates: [toPem(tsaRoot.der)] }] };

function verify(over: Partial<Parameters<typeof verifyNotationSignature>[0]> = {}): SignatureVerification {
  return verifyNotationSignature({ envelope: bytes, mediaType: NOTATION_JWS, subjectDigest, trust: EMPTY_TRUST, now: NOW, ...over });
}
const failed = (r: SignatureVerification) => r.checks.find((c) => c.passed === false);
const check = (r: SignatureVerification, name: string) => r.checks.find((c) => c.check === name);
const reencode = (change: (e: typeof envelope) => void) => {
  const copy = structuredClone(envelope);
  change(copy);
  return Buffer.from(JSON.stringify(copy));
};

describe("verifyNotationSignature (real Notation envelope)", () => {
  it("names the digest the test reads from the payload", () => {
    expect(subjectDigest).toBe("sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda");
    expect(tsaRoot.subject).toBe("OU=GlobalSign Root CA - R6, O=GlobalSign, CN=GlobalSign");
  });

  it("verifies the signature and the timestamp but stays unverified while its root is not trusted", () => {
    const r = verify();
    expect(r.format).toBe("notation");
    expect(r.verdict).toBe("unverified");
    expect(failed(r)?.check).toBe(CHECKS.chain);
    expect(failed(r)?.detail).toBe(`untrusted root: ${LEAF_SUBJECT} is not a trusted root: no certificate roots are configured`);
    expect(r.detail).toContain(`not verified: ${CHECKS.chain} failed`);
    expect(check(r, CHECKS.signature)).toEqual({ check: CHECKS.signature, passed: true, detail: `PS256 signature by ${LEAF_SUBJECT}` });
    expect(check(r, NOTATION_CHECKS.timestamp)?.passed).toBe(true);
    expect(check(r, NOTATION_CHECKS.timestamp)?.detail).toContain("TSA root not trusted");
    expect(check(r, CHECKS.expiry)?.passed).toBeNull();
    // The whole pipeline is shown, in order.
    expect(r.checks.map((c) => c.check)).toEqual(NOTATION_CHECK_ORDER);
    expect(r.signer).toMatchObject({ kind: "certificate", leaf: { subject: LEAF_SUBJECT }, chain: [{ subject: LEAF_SUBJECT, issuer: LEAF_SUBJECT }] });
    expect(r.time).toEqual({ kind: "claimed", at: "2024-06-18T06:29:33.000Z", by: "signer's io.cncf.notary.signingTime" });
    expect(r.trustedBy).toBeNull();
  });

  it("is verified once its root is trusted; the time stays claimed without a trusted TSA root", () => {
    const r = verify({ trust: rootTrust });
    expect(r.verdict).toBe("verified");
    expect(r.trustedBy).toBe("notation test root");
    expect(r.detail).toBe(`verified: signed by ${LEAF_SUBJECT}, trusted through "notation test root"`);
    expect(r.checks.every((c) => c.passed !== false)).toBe(true);
    expect(check(r, CHECKS.chain)?.detail).toContain("(now: no trusted timestamp)");
    expect(r.time?.kind).toBe("claimed");
  });

  it("reports the timestamp's time as trusted once the GlobalSign TSA root is trusted", () => {
    const r = verify({ trust: fullTrust });
    expect(r.verdict).toBe("verified");
    expect(r.time).toEqual({
      kind: "trusted",
      at: "2024-06-18T06:29:37.000Z",
      by: "TSA C=BE, O=GlobalSign nv-sa, CN=Globalsign TSA for Advanced - G4 - 202311 (GlobalSign Root R6)",
    });
    expect(check(r, CHECKS.chain)?.detail).toContain("valid at the trusted time 2024-06-18T06:29:37.000Z");
  });

  it("checks the chain at the trusted time, so an expired signing certificate still verifies with a trusted timestamp", () => {
    const later = new Date("2040-01-01T00:00:00Z"); // after the test certificate's notAfter (2033)
    const noTsa = verify({ trust: rootTrust, now: later });
    expect(noTsa.verdict).toBe("unverified");
    expect(failed(noTsa)?.check).toBe(CHECKS.chain);
    expect(failed(noTsa)?.detail).toBe(
      `expired: ${LEAF_SUBJECT} expired at 2033-05-10T04:55:12.000Z, checked at 2040-01-01T00:00:00.000Z; no trusted timestamp was available, so the chain was checked now`,
    );
    expect(verify({ trust: fullTrust, now: later }).verdict).toBe("verified");
  });

  it("checks the envelope against its layer digest when the caller passes it", () => {
    expect(check(verify({ trust: rootTrust, blobDigest: sha256Digest(bytes) }), CHECKS.payloadDigest)).toMatchObject({ passed: true });
    expect(check(verify(), CHECKS.payloadDigest)?.passed).toBeNull();
    const r = verify({ trust: rootTrust, blobDigest: `sha256:${"0".repeat(64)}` });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)?.check).toBe(CHECKS.payloadDigest);
  });

  it("is invalid when a signature byte is flipped", () => {
    const sig = Buffer.from(envelope.signature, "base64url");
    sig[10]! ^= 0x01;
    const r = verify({ envelope: reencode((e) => (e.signature = sig.toString("base64url"))), trust: fullTrust });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)).toEqual({ check: CHECKS.signature, passed: false, detail: `the PS256 signature does not verify with the key of ${LEAF_SUBJECT}` });
  });

  it("is invalid when attached to another digest", () => {
    const other = `sha256:${"a".repeat(64)}`;
    const r = verify({ subjectDigest: other, trust: fullTrust });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)).toEqual({ check: CHECKS.namesDigest, passed: false, detail: `the payload names another digest: ${subjectDigest}, not ${other}` });
  });

  it("is invalid when the timestamp token was altered", () => {
    const token = Buffer.from(envelope.header["io.cncf.notary.timestampSignature"], "base64");
    token[token.length - 1]! ^= 0x01;
    const r = verify({ envelope: reencode((e) => (e.header["io.cncf.notary.timestampSignature"] = token.toString("base64"))), trust: fullTrust });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)?.check).toBe(NOTATION_CHECKS.timestamp);
  });

  it("treats a signature without a timestamp as claimed time", () => {
    const r = verify({ envelope: reencode((e) => delete (e.header as Record<string, unknown>)["io.cncf.notary.timestampSignature"]), trust: fullTrust });
    expect(r.verdict).toBe("verified");
    expect(check(r, NOTATION_CHECKS.timestamp)).toMatchObject({ passed: null });
    expect(r.time?.kind).toBe("claimed");
  });

  it("reports garbage as invalid instead of throwing", () => {
    const inputs = [
      Buffer.from("garbage"),
      Buffer.from("{}"),
      Buffer.from("[]"),
      bytes.subarray(0, 200),
      reencode((e) => (e.protected = "!!!")),
      reencode((e) => (e.protected = Buffer.from("not json").toString("base64url"))),
      reencode((e) => (e.payload = Buffer.from('{"targetArtifact":{}}').toString("base64url"))),
      reencode((e) => (e.header.x5c = ["AAAA"])),
      reencode((e) => Object.assign(e, { extra: 1 })),
      new Uint8Array(0),
    ];
    for (const envelopeBytes of inputs) {
      const r = verify({ envelope: envelopeBytes, trust: fullTrust });
      expect(r.verdict, Buffer.from(envelopeBytes).toString().slice(0, 60)).toBe("invalid");
      expect(r.checks.map((c) => c.check)).toEqual(NOTATION_CHECK_ORDER);
    }
  });

  it("rejects a critical header missing from crit, and an unsupported signing scheme", () => {
    const withHeader = (extra: Record<string, unknown>) =>
      reencode(
        (e) =>
          (e.protected = Buffer.from(JSON.stringify({ ...(JSON.parse(Buffer.from(e.protected, "base64url").toString()) as object), ...extra })).toString(
            "base64url",
          )),
      );
    const uncritical = verify({ envelope: withHeader({ "io.cncf.notary.expiry": "2030-01-01T00:00:00Z" }), trust: fullTrust });
    expect(failed(uncritical)).toMatchObject({ check: NOTATION_CHECKS.envelope, detail: "io.cncf.notary.expiry is present but not listed in crit" });
    const authority = verify({ envelope: withHeader({ "io.cncf.notary.signingScheme": "notary.x509.signingAuthority" }), trust: fullTrust });
    expect(authority.verdict).toBe("unverified");
    expect(failed(authority)?.detail).toContain("unsupported scheme notary.x509.signingAuthority");
  });

  it("reports COSE envelopes as unsupported, and refuses oversized envelopes", () => {
    const cose = verify({ mediaType: NOTATION_COSE, trust: fullTrust });
    expect(cose.verdict).toBe("unverified");
    expect(failed(cose)?.detail).toContain("COSE envelopes (application/cose) are not supported");
    const big = verify({ maxBytes: 1000, trust: fullTrust });
    expect(big.verdict).toBe("invalid");
    expect(failed(big)).toEqual({
      check: CHECKS.payloadDigest,
      passed: false,
      detail: `signature envelope of ${bytes.byteLength} bytes is over the limit of 1000, not read`,
    });
  });
});
