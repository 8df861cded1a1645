// One certificate, three signature formats: the signer summary must be the same whichever format carried the
// certificate, so that one trust identity pattern matches it (or misses it) in all three. Before the summariser was
// shared, the Sigstore path printed the e-mail attribute as `emailAddress=` and cosign / Notation as `E=`.
import { createHash, createPrivateKey, sign, webcrypto, X509Certificate, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../oci/digest";
import type { Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { DAY, makeCert, NOW, x509 } from "../testing/certs";
import { matchCertificateIdentity, type TrustIdentity } from "../trust/identities";
import { judgeTrust } from "../trust/judgement";
import { EKU } from "../trust/x509";
import { CHECKS, EMPTY_TRUST, type CertificateSummary, type SignatureVerification, type TrustMaterial } from "../verification";
import { CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, verifyCosignSignatureLayer } from "./cosign-cert";
import { NOTATION_JWS, NOTATION_PAYLOAD, verifyNotationSignature } from "./notation";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "./simple-signing";
import { verifySigstoreBundle } from "./sigstore-bundle";

const IMAGE = `sha256:${"cd".repeat(32)}`;
const REPOSITORY = "acme/app";

const root = await makeCert({ name: "CN=Three Formats Root, O=Imprimatur", ca: true });
const leaf = await makeCert({
  name: "CN=Alice Signer, O=Acme, E=alice@acme.example",
  issuer: root,
  notBefore: new Date(NOW.getTime() - DAY),
  notAfter: new Date(NOW.getTime() + DAY),
  extensions: [
    new x509.SubjectAlternativeNameExtension([{ type: "email", value: "alice@acme.example" }]),
    new x509.ExtendedKeyUsageExtension([EKU.codeSigning]),
  ],
});
const key: KeyObject = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey("pkcs8", leaf.keys.privateKey)), format: "der", type: "pkcs8" });
const trust: TrustMaterial = { ...EMPTY_TRUST, certificateRoots: [{ name: "three formats root", certificates: [root.pem] }] };

function cosign(): SignatureVerification {
  const blob = buildSimpleSigningPayload({ dockerReference: `registry.example.com/${REPOSITORY}`, digest: IMAGE });
  const layer: Descriptor = {
    mediaType: MT.cosignSimpleSigning,
    size: blob.byteLength,
    digest: sha256Digest(blob),
    annotations: {
      [SIGNATURE_ANNOTATION]: sign("sha256", blob, { key, dsaEncoding: "der" }).toString("base64"),
      [CERTIFICATE_ANNOTATION]: leaf.pem,
      [CHAIN_ANNOTATION]: root.pem,
    },
  };
  return verifyCosignSignatureLayer({ layer, blob, imageDigest: IMAGE, trust, now: NOW });
}

function notation(): SignatureVerification {
  const b64u = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const prot = b64u({
    alg: "ES256",
    cty: NOTATION_PAYLOAD,
    crit: ["io.cncf.notary.signingScheme"],
    "io.cncf.notary.signingScheme": "notary.x509",
    "io.cncf.notary.signingTime": NOW.toISOString(),
  });
  const payload = b64u({ targetArtifact: { mediaType: MT.ociManifest, digest: IMAGE, size: 1234 } });
  const signature = sign("sha256", Buffer.from(`${prot}.${payload}`, "ascii"), { key, dsaEncoding: "ieee-p1363" }).toString("base64url");
  const envelope = Buffer.from(
    JSON.stringify({
      payload,
      protected: prot,
      header: { x5c: [Buffer.from(leaf.der).toString("base64"), Buffer.from(root.der).toString("base64")] },
      signature,
    }),
  );
  return verifyNotationSignature({ envelope, mediaType: NOTATION_JWS, subjectDigest: IMAGE, trust, now: NOW });
}

/** A v0.3 message-signature bundle with the certificate and no log entry: the signature verifies, the chain cannot be judged (no trusted time). */
function sigstore(): SignatureVerification {
  const artifact = Buffer.from("release artifact");
  const bundle = Buffer.from(
    JSON.stringify({
      mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      verificationMaterial: {
        certificate: { rawBytes: Buffer.from(leaf.der).toString("base64") },
        tlogEntries: [],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
      messageSignature: {
        messageDigest: { algorithm: "SHA2_256", digest: createHash("sha256").update(artifact).digest("base64") },
        signature: sign("sha256", artifact, { key, dsaEncoding: "der" }).toString("base64"),
      },
    }),
  );
  return verifySigstoreBundle({ bundle, artifact, subjectDigest: null, trust, thresholds: { tlog: 0, ctlog: 0, timestamp: 0 }, now: NOW });
}

function leafOf(v: SignatureVerification): CertificateSummary {
  if (v.signer?.kind !== "certificate") throw new Error(`${v.format}: no certificate signer (${v.detail})`);
  return v.signer.leaf;
}

const identity = (subject: string): TrustIdentity => ({ name: "alice", kind: "certificate", role: "team", scope: [REPOSITORY], subject });

describe("one certificate in cosign, Sigstore bundle and Notation signatures", () => {
  const results = { cosign: cosign(), notation: notation(), sigstore: sigstore() };

  it("verifies the signature in every format (cosign and Notation fully; the bundle up to its chain, which needs a trusted time)", () => {
    expect(results.cosign.verdict, results.cosign.detail).toBe("verified");
    expect(results.notation.verdict, results.notation.detail).toBe("verified");
    expect(results.sigstore.checks.find((c) => c.check === CHECKS.signature)?.passed).toBe(true);
    expect(results.sigstore.detail).toMatch(/^not verified: certificate chain is valid at the trusted time failed: no trusted time/);
  });

  it("summarises the certificate identically in all three formats, with one spelling of the e-mail attribute", () => {
    const summaries = Object.values(results).map(leafOf);
    expect(summaries[0]).toEqual({
      subject: "CN=Alice Signer, O=Acme, E=alice@acme.example",
      issuer: "CN=Three Formats Root, O=Imprimatur",
      serial: expect.stringMatching(/^[0-9a-f]+$/),
      notBefore: new Date(NOW.getTime() - DAY).toISOString(),
      notAfter: new Date(NOW.getTime() + DAY).toISOString(),
      fingerprint: `sha256:${createHash("sha256").update(leaf.der).digest("hex")}`,
      sans: ["alice@acme.example"],
      oidcIssuer: null,
    });
    expect(summaries[1]).toEqual(summaries[0]);
    expect(summaries[2]).toEqual(summaries[0]);
  });

  it("matches one subject pattern in every format, whichever spelling of the e-mail attribute it stores", () => {
    const nodeSpelling = new X509Certificate(leaf.pem).subject; // "CN=Alice Signer\nO=Acme\nemailAddress=alice@acme.example"
    expect(nodeSpelling).toContain("emailAddress=");
    const matching = [
      "CN=Alice Signer, O=Acme, E=alice@acme.example",
      "CN=Alice Signer, O=Acme, emailAddress=alice@acme.example",
      "cn=Alice Signer,o=Acme,EMAILADDRESS=alice@acme.example",
      "CN=Alice Signer, O=Acme, emailAddress=*@acme.example",
      nodeSpelling,
    ];
    for (const [format, v] of Object.entries(results)) {
      for (const pattern of matching) expect(matchCertificateIdentity(identity(pattern), leafOf(v), "").ok, `${format}: ${pattern}`).toBe(true);
      // Values are compared exactly: another address, or another case of the value, matches in no format.
      for (const pattern of [
        "CN=Alice Signer, O=Acme, emailAddress=bob@acme.example",
        "CN=Alice Signer, O=Acme, E=ALICE@acme.example",
        "CN=Alice Signer, O=Acme",
      ]) {
        expect(matchCertificateIdentity(identity(pattern), leafOf(v), "").ok, `${format}: ${pattern}`).toBe(false);
      }
    }
  });

  it("judges the cosign and Notation signatures trusted through an identity stored with emailAddress=, and refuses it for another repository", () => {
    const stored: TrustIdentity = {
      ...identity("CN=Alice Signer, O=Acme, emailAddress=alice@acme.example"),
      name: "three formats root",
      certificates: [root.pem],
    };
    for (const v of [results.cosign, results.notation]) {
      const ok = judgeTrust({ verification: v, repository: REPOSITORY, identities: [stored], now: NOW });
      expect(ok.verdict, `${v.format}: ${ok.detail}`).toBe("verified");
      expect(ok.checks.find((c) => c.check === CHECKS.identity)?.detail).toContain('subject "CN=Alice Signer, O=Acme, E=alice@acme.example" matches');
      const other = judgeTrust({ verification: v, repository: "other/app", identities: [stored], now: NOW });
      expect(other.verdict).toBe("unverified");
    }
  });
});
