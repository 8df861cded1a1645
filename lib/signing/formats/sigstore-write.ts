import { bundleToJSON, toDSSEBundle, type SerializedBundle } from "@sigstore/bundle";
import { assertDigest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import { preAuthEncoding } from "../../evidence/dsse";

/** The predicate type cosign v3 writes for an image signature in the bundle format (formats.md 2.4). */
export const COSIGN_SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1";
export const IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1";
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

export interface BuildKeyBundleOptions {
  /** The subject's name in the statement (the repository, e.g. `registry.example/team/app`); "" leaves it out, as cosign v3 does. */
  subjectName: string;
  /** The signed image's manifest digest. */
  subjectDigest: string;
  /** Signs the DSSE pre-authentication encoding; returns an ASN.1 DER ECDSA signature. The key stays with the caller. */
  sign: (data: Uint8Array) => Promise<Uint8Array>;
  /** Written as verificationMaterial.publicKey.hint (and the DSSE keyid) so a verifier can pick the key. */
  publicKeyHint: string;
  /**
   * Returns an RFC 3161 timestamp token (DER) over the raw DSSE signature bytes, written to
   * verificationMaterial.timestampVerificationData.rfc3161Timestamps; absent: the bundle carries no trusted time.
   */
  timestamp?: (signature: Uint8Array) => Promise<Uint8Array>;
}

export interface BuiltBundle {
  /** The bundle JSON, as pushed (the referrer's layer). */
  bytes: Buffer;
  json: SerializedBundle;
  /** The in-toto statement inside the envelope. */
  statement: InTotoStatement;
}

export interface InTotoStatement {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: { name?: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

/**
 * A key-based Sigstore bundle v0.3 as `cosign sign` v3 writes it for an image: a DSSE envelope around an in-toto
 * Statement v1 with predicateType https://sigstore.dev/cosign/sign/v1 and an empty predicate, verification material
 * `publicKey.hint`, and no transparency log entry (our keys sign for a private registry; nothing goes to Rekor).
 */
export async function buildKeyBundle(opts: BuildKeyBundleOptions): Promise<BuiltBundle> {
  const digest = assertDigest(opts.subjectDigest, "subjectDigest");
  if (typeof opts.subjectName !== "string" || opts.subjectName.length > 512) throw new TypeError("subjectName must be a string of at most 512 characters");
  const statement: InTotoStatement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ ...(opts.subjectName ? { name: opts.subjectName } : {}), digest: { sha256: digest.slice("sha256:".length) } }],
    predicateType: COSIGN_SIGN_PREDICATE_TYPE,
    predicate: {},
  };
  const payload = Buffer.from(JSON.stringify(statement), "utf8");
  const signature = await opts.sign(preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  if (!(signature instanceof Uint8Array) || signature.byteLength === 0) throw new TypeError("sign() returned no signature");
  const bundle = toDSSEBundle({ artifact: payload, artifactType: IN_TOTO_PAYLOAD_TYPE, signature: Buffer.from(signature), keyHint: opts.publicKeyHint });
  if (opts.timestamp) {
    const token = await opts.timestamp(signature);
    bundle.verificationMaterial.timestampVerificationData = { rfc3161Timestamps: [{ signedTimestamp: Buffer.from(token) }] };
  }
  const json = bundleToJSON(bundle);
  if (json.mediaType !== MT.sigstoreBundleV03) throw new Error(`unexpected bundle media type ${json.mediaType}`);
  return { bytes: Buffer.from(JSON.stringify(json), "utf8"), json, statement };
}
