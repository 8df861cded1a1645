// A revoked `sigstore` identity's own time sources (its TSAs and Rekor log keys) are revoked with it, as a revoked
// `tsa` identity is: a private Sigstore deployment found compromised at T (CA, TSA and log keys leaked) and revoked from
// T must not let the key holder mint a certificate and a token dated before T and pass as the revoked identity.
import { execFileSync } from "node:child_process";
import { createPrivateKey, sign, webcrypto } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../oci/digest";
import type { Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { CERTIFICATE_ANNOTATION, RFC3161_ANNOTATION, verifyCosignSignatureLayer } from "../formats/cosign-cert";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "../formats/simple-signing";
import { makeCert, x509, type TestCert } from "../testing/certs";
import { judgeTrust, loadTrustMaterial } from "./judgement";
import type { TrustIdentity } from "./identities";
import { buildTimestampRequest } from "./rfc3161";
import { EKU } from "./x509";

const DAY = 86_400_000;
const now = new Date();
const compromisedAt = new Date(now.getTime() - DAY);
const backdated = new Date(compromisedAt.getTime() - 3_600_000);
const IMAGE = `sha256:${"cd".repeat(32)}`;
const SAN = "https://ci.corp/release";
const ISSUER = "https://issuer.corp";
const utf8String = (s: string) => new Uint8Array([0x0c, Buffer.byteLength(s), ...Buffer.from(s)]);
const validity = { notBefore: new Date(now.getTime() - 60 * DAY), notAfter: new Date(now.getTime() + 365 * DAY) };
const der64 = (c: TestCert) => Buffer.from(c.der).toString("base64");

async function pkcs8Pem(c: TestCert) {
  const b64 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", c.keys.privateKey)).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

/** A TimeStampResp over `data` at any genTime, signed with the TSA's (leaked) key (openssl cms, as backdating-tsa.ts). */
async function forgeToken(tsa: TestCert, data: Buffer, genTime: Date): Promise<Buffer> {
  const work = mkdtempSync(join(tmpdir(), "forge-tsa-"));
  try {
    writeFileSync(join(work, "tsa.crt"), tsa.pem);
    writeFileSync(join(work, "tsa.key"), await pkcs8Pem(tsa));
    const req = pkijs.TimeStampReq.fromBER(new Uint8Array(buildTimestampRequest(data).request).buffer);
    const tst = new pkijs.TSTInfo({
      version: 1,
      policy: "1.3.6.1.4.1.57264.2",
      messageImprint: req.messageImprint,
      serialNumber: new asn1js.Integer({ value: 4242 }),
      genTime,
    });
    writeFileSync(join(work, "tst.der"), Buffer.from(tst.toSchema().toBER(false)));
    const cms = execFileSync("openssl", [
      ...["cms", "-sign", "-binary", "-nodetach", "-nosmimecap", "-outform", "DER"],
      ...["-econtent_type", "1.2.840.113549.1.9.16.1.4", "-md", "sha256"],
      ...["-signer", join(work, "tsa.crt"), "-inkey", join(work, "tsa.key"), "-in", join(work, "tst.der")],
    ]);
    const content = asn1js.fromBER(new Uint8Array(cms).buffer).result;
    const resp = new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.Integer({ value: 0 })] }), content] });
    return Buffer.from(resp.toBER(false));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A private Sigstore deployment: a Fulcio CA, a TSA (root + leaf with the timeStamping EKU), a Rekor log key. */
async function deployment() {
  const fulcio = await makeCert({ name: "CN=Corp Fulcio", ca: true, ...validity });
  const tsaRoot = await makeCert({ name: "CN=Corp TSA Root", ca: true, ...validity });
  const tsa = await makeCert({ name: "CN=Corp TSA", issuer: tsaRoot, ...validity, extensions: [new x509.ExtendedKeyUsageExtension([EKU.timeStamping], true)] });
  const logKey = await makeCert({ name: "CN=log", ...validity });
  const logSpki = Buffer.from(await webcrypto.subtle.exportKey("spki", logKey.keys.publicKey));
  const start = { start: validity.notBefore.toISOString() };
  const trustedRoot = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [
      {
        baseUrl: "https://rekor.corp",
        hashAlgorithm: "SHA2_256",
        publicKey: { rawBytes: logSpki.toString("base64"), keyDetails: "PKIX_ECDSA_P256_SHA_256", validFor: start },
        logId: { keyId: Buffer.from(await webcrypto.subtle.digest("SHA-256", logSpki)).toString("base64") },
      },
    ],
    certificateAuthorities: [{ uri: "https://fulcio.corp", certChain: { certificates: [{ rawBytes: der64(fulcio) }] }, validFor: start }],
    ctlogs: [],
    timestampAuthorities: [{ uri: "https://tsa.corp", certChain: { certificates: [{ rawBytes: der64(tsa) }, { rawBytes: der64(tsaRoot) }] }, validFor: start }],
  };
  const identity = (revokedAt: Date | null): TrustIdentity => ({
    name: "corp-sigstore",
    kind: "sigstore",
    role: "publisher",
    scope: ["**"],
    san: SAN,
    oidcIssuer: ISSUER,
    sigstore: trustedRoot,
    revokedAt,
  });
  return { fulcio, tsa, tsaRoot, identity };
}

describe("a revoked sigstore identity's time sources", () => {
  it("do not date a signature made after the revocation before it (whoever holds its leaked keys could)", async () => {
    const { fulcio, tsa, tsaRoot, identity } = await deployment();
    // The attacker holds the leaked keys: a fresh "Fulcio" certificate for the release identity around T - 1h, a
    // signature made today, and a token from the deployment's own TSA dating it T - 1h.
    const leaf = await makeCert({
      name: "",
      issuer: fulcio,
      notBefore: new Date(backdated.getTime() - 300_000),
      notAfter: new Date(backdated.getTime() + 300_000),
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: SAN }], true),
        new x509.ExtendedKeyUsageExtension([EKU.codeSigning]),
        new x509.Extension("1.3.6.1.4.1.57264.1.8", false, utf8String(ISSUER)),
      ],
    });
    const blob = buildSimpleSigningPayload({ dockerReference: "registry.example.com/vendor/base", digest: IMAGE });
    const sig = sign("sha256", blob, { key: createPrivateKey({ key: await pkcs8Pem(leaf), format: "pem" }), dsaEncoding: "der" });
    const token = await forgeToken(tsa, sig, backdated);
    const layer: Descriptor = {
      mediaType: MT.cosignSimpleSigning,
      digest: sha256Digest(blob),
      size: blob.byteLength,
      annotations: {
        [SIGNATURE_ANNOTATION]: sig.toString("base64"),
        [CERTIFICATE_ANNOTATION]: leaf.pem,
        [RFC3161_ANNOTATION]: JSON.stringify({ SignedRFC3161Timestamp: token.toString("base64") }),
      },
    };
    const judge = (identities: TrustIdentity[]) => {
      const v = verifyCosignSignatureLayer({ layer, blob, imageDigest: IMAGE, trust: loadTrustMaterial(identities, now), now });
      return judgeTrust({ verification: v, repository: "vendor/base", identities, now });
    };

    // Not revoked, the deployment's token is a trusted time and the signature verifies: the forgery is a good one.
    expect(judge([identity(null)])).toMatchObject({ verdict: "verified", role: "publisher", time: { kind: "trusted" } });
    // The same CA and TSA as a `certificate` and a `tsa` identity revoked at T: not verified.
    const control: TrustIdentity[] = [
      { name: "corp-ca", kind: "certificate", role: "publisher", scope: ["**"], san: SAN, certificates: [fulcio.pem], revokedAt: compromisedAt },
      { name: "corp-tsa", kind: "tsa", role: "publisher", scope: ["**"], certificates: [tsa.pem, tsaRoot.pem], revokedAt: compromisedAt },
    ];
    expect(judge(control).verdict).not.toBe("verified");
    // As a sigstore identity revoked at T: its TSA vouches for no time, so the leaf is checked now, long expired.
    const revoked = judge([identity(compromisedAt)]);
    expect(revoked.verdict).not.toBe("verified");
    expect(revoked.time?.kind).not.toBe("trusted");
  });

  it("leave out the TSA roots and Rekor keys of a revoked identity, and end them at a revocation still ahead", async () => {
    const { identity } = await deployment();
    const past = loadTrustMaterial([identity(compromisedAt)], now);
    expect(past.tsaRoots).toEqual([]);
    expect(past.rekorKeys).toEqual([]);
    // Its Fulcio CA stays: a signature with a trusted time from another source before the revocation still verifies.
    expect(past.certificateRoots).toHaveLength(1);

    const ahead = new Date(now.getTime() + DAY);
    const later = loadTrustMaterial([identity(ahead)], now);
    expect(later.tsaRoots.map((r) => r.validUntil)).toEqual([ahead]);
    expect(later.rekorKeys.map((k) => k.validUntil)).toEqual([ahead]);
    expect(loadTrustMaterial([identity(null)], now).tsaRoots.map((r) => r.validUntil)).toEqual([null]);
  });
});
