import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, webcrypto, type KeyObject } from "node:crypto";
import canonicalize from "canonicalize";
import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../oci/digest";
import type { Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import {
  BUNDLE_ANNOTATION,
  CERTIFICATE_ANNOTATION,
  CHAIN_ANNOTATION,
  COSIGN_CERT_CHECK_ORDER,
  COSIGN_CERT_CHECKS,
  verifyCosignCertificateLayer,
  verifyCosignSignatureLayer,
} from "./cosign-cert";
import { generateP256, signP256 } from "../keys/software";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "./simple-signing";
import { CHECKS, EMPTY_TRUST, type SignatureVerification, type TrustMaterial } from "../verification";
import { EKU } from "../trust/x509";

import { DAY, makeCert, NOW, x509, type TestCert } from "../testing/certs";

const IMAGE = `sha256:${"ab".repeat(32)}`;

const utf8String = (s: string) => new Uint8Array([0x0c, Buffer.byteLength(s), ...Buffer.from(s)]);

/** A Fulcio-like leaf: no subject, SAN email, OIDC issuer extension, code signing. */
function fulcioLeaf(issuer: TestCert, notBefore: Date, notAfter: Date) {
  return makeCert({
    name: "",
    issuer,
    notBefore,
    notAfter,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "email", value: "alice@example.com" }], true),
      new x509.ExtendedKeyUsageExtension([EKU.codeSigning]),
      new x509.Extension("1.3.6.1.4.1.57264.1.8", false, utf8String("https://accounts.example.com")),
    ],
  });
}

async function privateKeyObject(c: TestCert): Promise<KeyObject> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", c.keys.privateKey));
  return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
}

const root = await makeCert({ name: "CN=Test Fulcio Root, O=Imprimatur", ca: true });
const intermediate = await makeCert({ name: "CN=Test Fulcio Intermediate, O=Imprimatur", ca: true, issuer: root });
const trust: TrustMaterial = { ...EMPTY_TRUST, certificateRoots: [{ name: "test fulcio", certificates: [root.pem] }] };

// The test "Rekor": an ECDSA P-256 log key whose logID is the SHA-256 of its DER SubjectPublicKeyInfo.
const rekor = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rekorLogId = createHash("sha256")
  .update(rekor.publicKey.export({ type: "spki", format: "der" }))
  .digest("hex");
const rekorTrust: TrustMaterial = { ...trust, rekorKeys: [{ name: "test rekor", logId: rekorLogId, key: rekor.publicKey }] };

async function signedLayer(leaf: TestCert, opts: { digest?: string; extraAnnotations?: Record<string, string> } = {}) {
  const blob = buildSimpleSigningPayload({ dockerReference: "registry.example.com/acme/app", digest: opts.digest ?? IMAGE });
  const sig = sign("sha256", blob, { key: await privateKeyObject(leaf), dsaEncoding: "der" });
  const layer: Descriptor = {
    mediaType: MT.cosignSimpleSigning,
    size: blob.byteLength,
    digest: sha256Digest(blob),
    annotations: {
      [SIGNATURE_ANNOTATION]: sig.toString("base64"),
      [CERTIFICATE_ANNOTATION]: leaf.pem,
      [CHAIN_ANNOTATION]: intermediate.pem + root.pem,
      ...opts.extraAnnotations,
    },
  };
  return { blob, sig, layer };
}

/** A Rekor bundle annotation for a hashedrekord entry of this signature, signed by `key`. */
function rekorBundle(o: {
  sig: Buffer;
  blob: Uint8Array;
  certPem: string;
  integratedTime: Date;
  key?: KeyObject;
  logId?: string;
  tamper?: (p: Record<string, unknown>) => void;
}): string {
  const body = Buffer.from(
    JSON.stringify({
      apiVersion: "0.0.1",
      kind: "hashedrekord",
      spec: {
        data: { hash: { algorithm: "sha256", value: createHash("sha256").update(o.blob).digest("hex") } },
        signature: { content: o.sig.toString("base64"), publicKey: { content: Buffer.from(o.certPem).toString("base64") } },
      },
    }),
  ).toString("base64");
  const payload: Record<string, unknown> = {
    body,
    integratedTime: Math.floor(o.integratedTime.getTime() / 1000),
    logIndex: 12345,
    logID: o.logId ?? rekorLogId,
  };
  const set = sign("sha256", Buffer.from(canonicalize(payload)!), { key: o.key ?? rekor.privateKey, dsaEncoding: "der" });
  o.tamper?.(payload);
  return JSON.stringify({ SignedEntryTimestamp: set.toString("base64"), Payload: payload });
}

const failed = (r: SignatureVerification) => r.checks.find((c) => c.passed === false);
const check = (r: SignatureVerification, name: string) => r.checks.find((c) => c.check === name);

// A Fulcio certificate: valid for ten minutes, an hour ago.
const issuedAt = new Date(NOW.getTime() - 60 * 60_000);
const shortLived = await fulcioLeaf(intermediate, issuedAt, new Date(issuedAt.getTime() + 10 * 60_000));
const loggedAt = new Date(issuedAt.getTime() + 2 * 60_000);

describe("verifyCosignCertificateLayer", () => {
  it("verifies a certificate-signed layer and names the anchor and the signer's identity", async () => {
    const leaf = await fulcioLeaf(intermediate, new Date(NOW.getTime() - DAY), new Date(NOW.getTime() + DAY));
    const { blob, layer } = await signedLayer(leaf);
    const r = verifyCosignSignatureLayer({ layer, blob, imageDigest: IMAGE, trust, now: NOW });
    expect(r.verdict).toBe("verified");
    expect(r.format).toBe("cosign");
    expect(r.trustedBy).toBe("test fulcio");
    expect(r.detail).toBe('verified: signed by alice@example.com, trusted through "test fulcio"');
    expect(r.signer).toMatchObject({ kind: "certificate", leaf: { sans: ["alice@example.com"], oidcIssuer: "https://accounts.example.com" } });
    if (r.signer?.kind === "certificate") expect(r.signer.chain.map((c) => c.subject)).toEqual(["", intermediate.name, root.name]);
    expect(r.checks.map((c) => c.check)).toEqual(COSIGN_CERT_CHECK_ORDER);
    expect(check(r, COSIGN_CERT_CHECKS.time)).toMatchObject({ passed: null, detail: "no trusted time: the layer has no Rekor bundle or RFC 3161 timestamp" });
    expect(r.time).toEqual({ kind: "claimed", at: null, by: "no Rekor bundle or RFC 3161 timestamp" });
  });

  it("is unverified when the chain leads to an untrusted root", async () => {
    const leaf = await fulcioLeaf(intermediate, new Date(NOW.getTime() - DAY), new Date(NOW.getTime() + DAY));
    const { blob, layer } = await signedLayer(leaf);
    const other = await makeCert({ name: "CN=Other Root", ca: true });
    const r = verifyCosignCertificateLayer({
      layer,
      blob,
      imageDigest: IMAGE,
      trust: { ...EMPTY_TRUST, certificateRoots: [{ name: "other", certificates: [other.pem] }] },
      now: NOW,
    });
    expect(r.verdict).toBe("unverified");
    expect(failed(r)).toEqual({ check: CHECKS.chain, passed: false, detail: `untrusted root: ${root.name} is not a trusted root` });
  });

  it("fails the chain of a 10-minute certificate without a trusted time, saying so", async () => {
    const { blob, layer } = await signedLayer(shortLived);
    const r = verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust, now: NOW });
    expect(r.verdict).toBe("unverified");
    expect(failed(r)?.check).toBe(CHECKS.chain);
    expect(failed(r)?.detail).toContain(`expired at ${new Date(issuedAt.getTime() + 10 * 60_000).toISOString()}`);
    expect(failed(r)?.detail).toContain("no trusted time was available");
  });

  it("verifies the 10-minute certificate at the time a trusted Rekor SET vouches for", async () => {
    const { blob, sig, layer } = await signedLayer(shortLived);
    layer.annotations![BUNDLE_ANNOTATION] = rekorBundle({ sig, blob, certPem: shortLived.pem, integratedTime: loggedAt });
    const r = verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust: rekorTrust, now: NOW });
    expect(r.verdict).toBe("verified");
    expect(r.time).toEqual({ kind: "trusted", at: loggedAt.toISOString(), by: 'Rekor log "test rekor"' });
    expect(check(r, COSIGN_CERT_CHECKS.time)).toMatchObject({
      passed: true,
      detail: `logged at ${loggedAt.toISOString()} (index 12345) in trusted Rekor log "test rekor"`,
    });
    expect(check(r, CHECKS.chain)?.detail).toContain(`valid at the trusted time ${loggedAt.toISOString()}`);
  });

  it("is invalid when the SET was tampered with (integrated time moved)", async () => {
    const { blob, sig, layer } = await signedLayer(shortLived);
    layer.annotations![BUNDLE_ANNOTATION] = rekorBundle({
      sig,
      blob,
      certPem: shortLived.pem,
      integratedTime: loggedAt,
      tamper: (p) => (p.integratedTime = (p.integratedTime as number) + 60),
    });
    const r = verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust: rekorTrust, now: NOW });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)).toEqual({
      check: COSIGN_CERT_CHECKS.time,
      passed: false,
      detail: 'the Rekor SignedEntryTimestamp does not verify with the key of trusted log "test rekor"',
    });
  });

  it("is invalid when a validly signed Rekor entry logs another signature", async () => {
    const { blob, layer } = await signedLayer(shortLived);
    const other = await signedLayer(shortLived, { digest: `sha256:${"cd".repeat(32)}` });
    layer.annotations![BUNDLE_ANNOTATION] = rekorBundle({ sig: other.sig, blob: other.blob, certPem: shortLived.pem, integratedTime: loggedAt });
    const r = verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust: rekorTrust, now: NOW });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)?.detail).toBe("the Rekor entry is not this signature: it logs another signature");
  });

  it("gives no trusted time when the SET's log key is not trusted", async () => {
    const { blob, sig, layer } = await signedLayer(shortLived);
    const impostor = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const impostorId = createHash("sha256")
      .update(impostor.publicKey.export({ type: "spki", format: "der" }))
      .digest("hex");
    layer.annotations![BUNDLE_ANNOTATION] = rekorBundle({
      sig,
      blob,
      certPem: shortLived.pem,
      integratedTime: loggedAt,
      key: impostor.privateKey,
      logId: impostorId,
    });
    const r = verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust: rekorTrust, now: NOW });
    expect(r.verdict).toBe("unverified");
    expect(check(r, COSIGN_CERT_CHECKS.time)).toMatchObject({ passed: null, detail: `no trusted time: Rekor log ${impostorId} is not a trusted log` });
    expect(failed(r)?.check).toBe(CHECKS.chain);
    expect(r.time?.kind).toBe("claimed");
    // The impostor signing with the trusted log's ID is caught by the signature check.
    layer.annotations![BUNDLE_ANNOTATION] = rekorBundle({ sig, blob, certPem: shortLived.pem, integratedTime: loggedAt, key: impostor.privateKey });
    expect(verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust: rekorTrust, now: NOW }).verdict).toBe("invalid");
  });

  it("is invalid when the signature is not by the certificate's key", async () => {
    const leaf = await fulcioLeaf(intermediate, new Date(NOW.getTime() - DAY), new Date(NOW.getTime() + DAY));
    const other = await fulcioLeaf(intermediate, new Date(NOW.getTime() - DAY), new Date(NOW.getTime() + DAY));
    const { blob, layer } = await signedLayer(other);
    layer.annotations![CERTIFICATE_ANNOTATION] = leaf.pem;
    const r = verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust, now: NOW });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)?.check).toBe(CHECKS.signature);
  });

  it("is invalid when the payload names another image", async () => {
    const { blob, layer } = await signedLayer(shortLived, { digest: `sha256:${"cd".repeat(32)}` });
    const r = verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust, now: NOW });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)?.check).toBe(CHECKS.namesDigest);
  });

  it("reports a garbage or oversized certificate annotation as invalid without throwing", async () => {
    const { blob, layer } = await signedLayer(shortLived);
    for (const bad of ["garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "", `${shortLived.pem}${"x".repeat(70 * 1024)}`]) {
      const r = verifyCosignSignatureLayer({
        layer: { ...layer, annotations: { ...layer.annotations, [CERTIFICATE_ANNOTATION]: bad } },
        blob,
        imageDigest: IMAGE,
        trust,
        now: NOW,
      });
      expect(r.verdict).toBe("invalid");
      expect(failed(r)?.check).toBe(CHECKS.signature);
    }
    const big = verifyCosignCertificateLayer({
      layer: { ...layer, annotations: { ...layer.annotations, [CERTIFICATE_ANNOTATION]: "x".repeat(65 * 1024) } },
      blob,
      imageDigest: IMAGE,
      trust,
      now: NOW,
    });
    expect(failed(big)?.detail).toBe("certificate annotation over 64 KiB, not read");
  });

  it("refuses a chain annotation of more than 10 certificates", async () => {
    const leaf = await fulcioLeaf(intermediate, new Date(NOW.getTime() - DAY), new Date(NOW.getTime() + DAY));
    const { blob, layer } = await signedLayer(leaf, { extraAnnotations: { [CHAIN_ANNOTATION]: intermediate.pem.repeat(10) + root.pem } });
    const r = verifyCosignCertificateLayer({ layer, blob, imageDigest: IMAGE, trust, now: NOW });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)).toEqual({ check: CHECKS.chain, passed: false, detail: "chain of 12 certificates exceeds the limit of 10" });
  });

  it("refuses a layer over 1 MiB without reading it", async () => {
    const { layer } = await signedLayer(shortLived);
    const r = verifyCosignSignatureLayer({ layer: { ...layer, size: 2 * 1024 * 1024 }, blob: null, imageDigest: IMAGE, trust, now: NOW });
    expect(r.verdict).toBe("invalid");
    expect(failed(r)).toEqual({ check: CHECKS.payloadDigest, passed: false, detail: "signature layer over 1 MiB, not read" });
  });
});

describe("verifyCosignSignatureLayer (key-based layers)", () => {
  const pair = generateP256();
  const blob = buildSimpleSigningPayload({ dockerReference: "registry.example.com/acme/app", digest: IMAGE });
  const layer: Descriptor = {
    mediaType: MT.cosignSimpleSigning,
    size: blob.byteLength,
    digest: sha256Digest(blob),
    annotations: { [SIGNATURE_ANNOTATION]: signP256(pair.privateKeyPem, blob).toString("base64") },
  };
  const keyTrust: TrustMaterial = {
    ...EMPTY_TRUST,
    keys: [{ name: "release key", fingerprint: pair.fingerprint, key: createPublicKey(pair.publicKeyPem), algorithm: "ecdsa-p256" }],
  };

  it("routes a layer without a certificate to the trusted keys", () => {
    const r = verifyCosignSignatureLayer({ layer, blob, imageDigest: IMAGE, trust: keyTrust, now: NOW });
    expect(r).toMatchObject({
      format: "cosign",
      verdict: "verified",
      trustedBy: "release key",
      signer: { kind: "key", fingerprint: pair.fingerprint, algorithm: "ecdsa-p256" },
    });
    expect(r.checks.find((c) => c.check === CHECKS.payloadDigest)?.passed).toBe(true);
  });

  it("is unverified when no trusted key verifies it", () => {
    const r = verifyCosignSignatureLayer({ layer, blob, imageDigest: IMAGE, trust: EMPTY_TRUST, now: NOW });
    expect(r.verdict).toBe("unverified");
    expect(r.signer).toBeNull();
    expect(failed(r)?.check).toBe(CHECKS.signature);
  });
});
