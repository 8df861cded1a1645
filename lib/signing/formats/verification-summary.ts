import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { bundleToJSON, toDSSEBundle, type SerializedBundle } from "@sigstore/bundle";
import { assertDigest } from "../../oci/digest";
import { preAuthEncoding } from "../../evidence/dsse";
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1 } from "./sigstore-write";
import { verifyRaw, type PublicKeyInfo } from "../keys/software";

/**
 * SLSA Verification Summary Attestation (VSA, SLSA 1.1) for a stage approval: what Imprimatur checked before it
 * signed, as an in-toto Statement v1 in a DSSE envelope signed with the stage key. Framework-free.
 */

export const VSA_PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1";

export interface VsaInputAttestation {
  /** Where the evidence can be found (a registry reference, or this instance's evidence URL). */
  uri: string;
  /** "sha256:<hex>" of the evidence bytes. */
  digest: string;
}

export interface VsaWaiver {
  id: string;
  gate: string;
  reason: string;
  vulnIds: string[];
  expiresAt: string;
}

export interface BuildVsaOptions {
  verifierId: string;
  verifierVersion: string;
  /** When the gates were judged (the Nth approval). */
  timeVerified: Date;
  /** The image's repository as clients pull it, without tag (e.g. `registry.example/team/app`). */
  subjectName: string;
  subjectDigest: string;
  stage: string;
  /** This instance's URI for the stage's policy. */
  policyUri: string;
  /** The stage's gate configuration as stored: its canonical JSON is digested into policy.digest. */
  gateConfig: unknown;
  inputAttestations: VsaInputAttestation[];
  waivers: VsaWaiver[];
  breakGlass: { used: boolean; reason?: string };
  approvalId: string;
  requestId: string | null;
  approvers: string[];
  requiredApprovals: number;
  /** Gate results as judged, each `{ gate, passed, waived, detail }`. */
  gates: { gate: string; passed: boolean; waived: boolean; detail: string }[];
}

export interface VsaStatement {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: typeof VSA_PREDICATE_TYPE;
  predicate: Record<string, unknown>;
}

/** sha256 of the RFC 8785 canonical JSON of the gate configuration: equal configs give equal digests. */
export function gateConfigDigest(gateConfig: unknown): string {
  const canon = canonicalize(gateConfig ?? {});
  if (canon === undefined) throw new TypeError("gate configuration is not JSON");
  return createHash("sha256").update(canon, "utf8").digest("hex");
}

const hexOf = (digest: string, field: string) => assertDigest(digest, field).slice("sha256:".length);

export function buildVsaStatement(o: BuildVsaOptions): VsaStatement {
  const hex = hexOf(o.subjectDigest, "subjectDigest");
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: o.subjectName, digest: { sha256: hex } }],
    predicateType: VSA_PREDICATE_TYPE,
    predicate: {
      verifier: { id: o.verifierId, version: { imprimatur: o.verifierVersion } },
      timeVerified: o.timeVerified.toISOString(),
      resourceUri: `${o.subjectName}@sha256:${hex}`,
      policy: { uri: o.policyUri, digest: { sha256: gateConfigDigest(o.gateConfig) } },
      inputAttestations: o.inputAttestations.map((a, i) => ({ uri: a.uri, digest: { sha256: hexOf(a.digest, `inputAttestations[${i}].digest`) } })),
      verificationResult: "PASSED",
      // Imprimatur's gates are its own policy, not SLSA track levels: it claims none it did not check.
      verifiedLevels: [],
      slsaVersion: "1.1",
      // Extension fields (the VSA format allows more): what made it pass.
      "https://imprimatur.dev/vsa/v1": {
        stage: o.stage,
        approvalId: o.approvalId,
        requestId: o.requestId,
        approvers: o.approvers,
        requiredApprovals: o.requiredApprovals,
        gates: o.gates,
        waivers: o.waivers,
        breakGlass: o.breakGlass,
      },
    },
  };
}

export interface DsseEnvelopeJson {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

export interface SignedVsa {
  statement: VsaStatement;
  /** The statement bytes inside the envelope. */
  payload: Buffer;
  envelope: DsseEnvelopeJson;
  /** The envelope JSON as pushed into `.att` (the layer blob). */
  envelopeBytes: Buffer;
  /** The same signature as a key-based Sigstore bundle v0.3 (for bundle-emitting stages). */
  bundle: SerializedBundle;
  bundleBytes: Buffer;
}

/**
 * Signs the statement under DSSE's pre-authentication encoding with the caller's `sign` (the stage key stays with the
 * caller), as cosign attest writes it: keyid "" in the envelope; the bundle carries `publicKeyHint`.
 */
export async function signVsa(statement: VsaStatement, sign: (pae: Uint8Array) => Promise<Uint8Array>, publicKeyHint: string): Promise<SignedVsa> {
  const payload = Buffer.from(JSON.stringify(statement), "utf8");
  const sig = Buffer.from(await sign(preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload)));
  if (sig.byteLength === 0) throw new TypeError("sign() returned no signature");
  const envelope: DsseEnvelopeJson = {
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    payload: payload.toString("base64"),
    signatures: [{ keyid: "", sig: sig.toString("base64") }],
  };
  const bundle = bundleToJSON(toDSSEBundle({ artifact: payload, artifactType: IN_TOTO_PAYLOAD_TYPE, signature: sig, keyHint: publicKeyHint }));
  return {
    statement,
    payload,
    envelope,
    envelopeBytes: Buffer.from(JSON.stringify(envelope), "utf8"),
    bundle,
    bundleBytes: Buffer.from(JSON.stringify(bundle), "utf8"),
  };
}

/**
 * Verifies a VSA envelope (bytes as read from a registry) with a public key: the signature over PAE, the payload
 * type, the predicate type, the subject digest and the result. Returns the statement, or a reason.
 */
export function verifyVsaEnvelope(
  bytes: Uint8Array,
  key: PublicKeyInfo,
  expectDigest: string,
): { ok: true; statement: VsaStatement } | { ok: false; reason: string } {
  let env: DsseEnvelopeJson;
  try {
    env = JSON.parse(Buffer.from(bytes).toString("utf8")) as DsseEnvelopeJson;
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (env?.payloadType !== IN_TOTO_PAYLOAD_TYPE || typeof env.payload !== "string" || !Array.isArray(env.signatures))
    return { ok: false, reason: "not a DSSE in-toto envelope" };
  const payload = Buffer.from(env.payload, "base64");
  const pae = preAuthEncoding(env.payloadType, payload);
  if (!env.signatures.some((s) => typeof s?.sig === "string" && verifyRaw(key, pae, Buffer.from(s.sig, "base64"))))
    return { ok: false, reason: "no signature verifies with the key under DSSE PAE" };
  let st: VsaStatement;
  try {
    st = JSON.parse(payload.toString("utf8")) as VsaStatement;
  } catch {
    return { ok: false, reason: "payload is not JSON" };
  }
  if (st.predicateType !== VSA_PREDICATE_TYPE) return { ok: false, reason: `predicate type ${String(st.predicateType)}` };
  if (!st.subject?.some((s) => `sha256:${s.digest?.sha256}` === expectDigest)) return { ok: false, reason: "names another digest" };
  if (st.predicate?.verificationResult !== "PASSED") return { ok: false, reason: "result is not PASSED" };
  return { ok: true, statement: st };
}
