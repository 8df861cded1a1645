import { bundleFromJSON, bundleToJSON, toDSSEBundle } from "@sigstore/bundle";
import { preAuthEncoding } from "../../evidence/dsse";
import { toSignedEntity, Verifier, VerificationError } from "@sigstore/verify";
import { describe, expect, it } from "vitest";
import { generateP256, parsePublicKey, signP256 } from "../keys/software";
import { verifySigstoreBundle } from "./sigstore-bundle";
import { toSigstoreTrustMaterial } from "../trust/sigstore-root";
import { buildKeyBundle, COSIGN_SIGN_PREDICATE_TYPE } from "./sigstore-write";
import { EMPTY_TRUST, type TrustMaterial } from "../verification";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const pair = generateP256();
const info = parsePublicKey(pair.publicKeyPem);
/** Trust material holding only the signing key. */
const ONLY_KEY: TrustMaterial = {
  ...EMPTY_TRUST,
  keys: [{ name: "imprimatur-release", fingerprint: info.fingerprint, key: info.key, algorithm: info.algorithm }],
};
const sign = async (data: Uint8Array) => signP256(pair.privateKeyPem, data);

function sigstoreVerify(bytes: Uint8Array) {
  const bundle = bundleFromJSON(JSON.parse(Buffer.from(bytes).toString("utf8")));
  return new Verifier(toSigstoreTrustMaterial(ONLY_KEY), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
}

describe("buildKeyBundle", () => {
  it("writes a v0.3 key-based bundle with a cosign v3 image-signature statement and no log entries", async () => {
    const b = await buildKeyBundle({ subjectName: "registry.local/team/app", subjectDigest: DIGEST, sign, publicKeyHint: info.fingerprint });
    const j = JSON.parse(b.bytes.toString("utf8"));
    expect(j.mediaType).toBe("application/vnd.dev.sigstore.bundle.v0.3+json");
    expect(j.verificationMaterial.publicKey).toEqual({ hint: info.fingerprint });
    // protojson (as sigstore-js and cosign write it) omits the empty list.
    expect(j.verificationMaterial.tlogEntries ?? []).toEqual([]);
    expect(j.dsseEnvelope.payloadType).toBe("application/vnd.in-toto+json");
    expect(j.dsseEnvelope.signatures).toHaveLength(1);
    expect(JSON.parse(Buffer.from(j.dsseEnvelope.payload, "base64").toString("utf8"))).toEqual({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: "registry.local/team/app", digest: { sha256: "ab".repeat(32) } }],
      predicateType: COSIGN_SIGN_PREDICATE_TYPE,
      predicate: {},
    });
    expect(COSIGN_SIGN_PREDICATE_TYPE).toBe("https://sigstore.dev/cosign/sign/v1");
  });

  it("is accepted by @sigstore/verify with only that public key and thresholds tlog 0, ctlog 0, timestamp 0", async () => {
    const b = await buildKeyBundle({ subjectName: "registry.local/team/app", subjectDigest: DIGEST, sign, publicKeyHint: "imprimatur-release" });
    const signer = sigstoreVerify(b.bytes);
    expect(signer.key.equals(info.key)).toBe(true);
  });

  it("is refused by @sigstore/verify when the payload is tampered with", async () => {
    const b = await buildKeyBundle({ subjectName: "", subjectDigest: DIGEST, sign, publicKeyHint: "imprimatur-release" });
    const j = JSON.parse(b.bytes.toString("utf8"));
    const st = JSON.parse(Buffer.from(j.dsseEnvelope.payload, "base64").toString("utf8"));
    st.subject[0].digest.sha256 = "cd".repeat(32);
    j.dsseEnvelope.payload = Buffer.from(JSON.stringify(st)).toString("base64");
    let err: unknown;
    try {
      sigstoreVerify(Buffer.from(JSON.stringify(j)));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).code).toBe("SIGNATURE_ERROR");
  });

  it("leaves the subject name out when none is given, as cosign v3 does", async () => {
    const b = await buildKeyBundle({ subjectName: "", subjectDigest: DIGEST, sign, publicKeyHint: "" });
    expect(b.statement.subject).toEqual([{ digest: { sha256: "ab".repeat(32) } }]);
  });

  it("verifies with verifySigstoreBundle against the image digest, and names another digest as invalid", async () => {
    const b = await buildKeyBundle({ subjectName: "registry.local/team/app", subjectDigest: DIGEST, sign, publicKeyHint: info.fingerprint });
    const ok = verifySigstoreBundle({ bundle: b.bytes, subjectDigest: DIGEST, trust: ONLY_KEY, now: new Date() });
    expect(ok.verdict, ok.detail).toBe("verified");
    expect(ok.trustedBy).toBe("imprimatur-release");
    const other = verifySigstoreBundle({ bundle: b.bytes, subjectDigest: `sha256:${"cd".repeat(32)}`, trust: ONLY_KEY, now: new Date() });
    expect(other.verdict).toBe("invalid");
  });

  it("judged as an image signature, counts with cosign's sign predicate; the same key's statement with any other predicate is an attestation", async () => {
    const b = await buildKeyBundle({ subjectName: "registry.local/team/app", subjectDigest: DIGEST, sign, publicKeyHint: info.fingerprint });
    expect(verifySigstoreBundle({ bundle: b.bytes, subjectDigest: DIGEST, trust: ONLY_KEY, now: new Date(), asSignature: true }).verdict).toBe("verified");
    // A provenance statement about the same digest, properly signed by the same trusted key.
    const payload = Buffer.from(JSON.stringify({ ...b.statement, predicateType: "https://slsa.dev/provenance/v1", predicate: { buildDefinition: {} } }));
    const signature = await sign(preAuthEncoding("application/vnd.in-toto+json", payload));
    const attestation = Buffer.from(
      JSON.stringify(
        bundleToJSON(
          toDSSEBundle({ artifact: payload, artifactType: "application/vnd.in-toto+json", signature: Buffer.from(signature), keyHint: info.fingerprint }),
        ),
      ),
    );
    const asAttestation = verifySigstoreBundle({ bundle: attestation, subjectDigest: DIGEST, trust: ONLY_KEY, now: new Date() });
    expect(asAttestation.verdict, asAttestation.detail).toBe("verified");
    const asSignature = verifySigstoreBundle({ bundle: attestation, subjectDigest: DIGEST, trust: ONLY_KEY, now: new Date(), asSignature: true });
    expect(asSignature.verdict).toBe("unverified");
    expect(asSignature.detail).toContain("is an attestation about");
    // A statement with no predicateType at all is not a signature either.
    const bare = Buffer.from(JSON.stringify({ _type: b.statement._type, subject: b.statement.subject }));
    const bareSig = await sign(preAuthEncoding("application/vnd.in-toto+json", bare));
    const bareBundle = Buffer.from(
      JSON.stringify(
        bundleToJSON(
          toDSSEBundle({ artifact: bare, artifactType: "application/vnd.in-toto+json", signature: Buffer.from(bareSig), keyHint: info.fingerprint }),
        ),
      ),
    );
    expect(verifySigstoreBundle({ bundle: bareBundle, subjectDigest: DIGEST, trust: ONLY_KEY, now: new Date(), asSignature: true }).verdict).toBe("unverified");
  });

  it("refuses a subject digest that is not sha256:<hex>", async () => {
    await expect(buildKeyBundle({ subjectName: "x", subjectDigest: "sha256:nope", sign, publicKeyHint: "" })).rejects.toThrow(/subjectDigest must be sha256/);
  });
});
