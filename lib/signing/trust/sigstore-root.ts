import { createHash, createPublicKey, X509Certificate as NodeX509, type KeyObject } from "node:crypto";
import { PublicKeyDetails, type TrustedRoot } from "@sigstore/protobuf-specs";
import { toTrustMaterial, VerificationError, type TrustMaterial as SigstoreTrustMaterial } from "@sigstore/verify";
import type { AnchorCertificates, LogKey, TrustMaterial } from "../verification";

/**
 * Sigstore trust material (a `trusted_root.json`, as TUF distributes it) read into the plain shared types, and the
 * shared types turned back into what @sigstore/verify expects. Framework-free; no network: the root is imported
 * offline by an admin, never fetched here.
 */

export const TRUSTED_ROOT_MEDIA_TYPES: readonly string[] = [
  "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

/** Caps on untrusted input: the public-good root has 2 of each, with chains of at most 2 certificates. */
export const TRUSTED_ROOT_LIMITS = { entries: 64, chainLength: 10, rawBytes: 16 * 1024 } as const;

export class SigstoreTrustError extends Error {
  readonly code = "INVALID_TRUST_MATERIAL" as const;
  constructor(
    message: string,
    /** Every problem found, as `field: what is wrong`. */
    readonly problems: string[],
  ) {
    super(message);
    this.name = "SigstoreTrustError";
  }
}

export interface ParsedTrustedRoot {
  fulcioCAs: AnchorCertificates[];
  rekorKeys: LogKey[];
  ctLogKeys: LogKey[];
  tsaRoots: AnchorCertificates[];
}

type Problems = string[];

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function base64(v: unknown, field: string, problems: Problems): Buffer | null {
  if (typeof v !== "string" || v.length === 0) {
    problems.push(`${field}: expected a non-empty base64 string`);
    return null;
  }
  if (!BASE64.test(v) || v.length % 4 !== 0) {
    problems.push(`${field}: not base64`);
    return null;
  }
  const bytes = Buffer.from(v, "base64");
  if (bytes.byteLength > TRUSTED_ROOT_LIMITS.rawBytes) {
    problems.push(`${field}: ${bytes.byteLength} bytes, more than ${TRUSTED_ROOT_LIMITS.rawBytes}`);
    return null;
  }
  return bytes;
}

function optString(v: unknown, field: string, problems: Problems): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.length > 1024) {
    problems.push(`${field}: expected a string`);
    return undefined;
  }
  return v;
}

function date(v: unknown, field: string, problems: Problems): Date | null {
  if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) || Number.isNaN(Date.parse(v))) {
    problems.push(`${field}: expected an RFC 3339 time, got ${JSON.stringify(v)?.slice(0, 60)}`);
    return null;
  }
  return new Date(v);
}

/** `validFor` is optional; its `start` is required when present (protobuf TimeRange), `end` open-ended when absent. */
function validFor(v: unknown, field: string, problems: Problems): { validFrom: Date | null; validUntil: Date | null } {
  if (v === undefined) return { validFrom: null, validUntil: null };
  if (!isObject(v)) {
    problems.push(`${field}: expected an object`);
    return { validFrom: null, validUntil: null };
  }
  const validFrom = date(v.start, `${field}.start`, problems);
  const validUntil = v.end === undefined ? null : date(v.end, `${field}.end`, problems);
  if (validFrom && validUntil && validUntil < validFrom) problems.push(`${field}: end is before start`);
  return { validFrom, validUntil };
}

function list(v: unknown, field: string, problems: Problems, required: boolean): unknown[] {
  if (v === undefined && !required) return [];
  if (!Array.isArray(v)) {
    problems.push(`${field}: expected an array`);
    return [];
  }
  if (v.length > TRUSTED_ROOT_LIMITS.entries) {
    problems.push(`${field}: ${v.length} entries, more than ${TRUSTED_ROOT_LIMITS.entries}`);
    return [];
  }
  return v;
}

const PKCS1_DETAILS = new Set(["PKCS1_RSA_PKCS1V5", "PKCS1_RSA_PSS"]);

function logKeys(entries: unknown[], field: string, problems: Problems): LogKey[] {
  const out: LogKey[] = [];
  entries.forEach((e, i) => {
    const f = `${field}[${i}]`;
    if (!isObject(e)) {
      problems.push(`${f}: expected an object`);
      return;
    }
    const before = problems.length;
    const baseUrl = optString(e.baseUrl, `${f}.baseUrl`, problems);
    const pk = e.publicKey;
    let key: KeyObject | null = null;
    let range = { validFrom: null as Date | null, validUntil: null as Date | null };
    if (!isObject(pk)) {
      problems.push(`${f}.publicKey: expected an object`);
    } else {
      const raw = base64(pk.rawBytes, `${f}.publicKey.rawBytes`, problems);
      const details = pk.keyDetails;
      if (typeof details !== "string" || !(details in PublicKeyDetails) || details === "PUBLIC_KEY_DETAILS_UNSPECIFIED") {
        problems.push(`${f}.publicKey.keyDetails: expected a Sigstore PublicKeyDetails name, got ${JSON.stringify(details)?.slice(0, 60)}`);
      } else if (raw) {
        try {
          key = createPublicKey({ key: raw, format: "der", type: PKCS1_DETAILS.has(details) ? "pkcs1" : "spki" });
        } catch (err) {
          problems.push(
            `${f}.publicKey.rawBytes: not a ${PKCS1_DETAILS.has(details) ? "PKCS#1" : "DER SubjectPublicKeyInfo"} public key (${(err as Error).message})`,
          );
        }
      }
      range = validFor(pk.validFor, `${f}.publicKey.validFor`, problems);
    }
    let logId: Buffer | null = null;
    if (!isObject(e.logId)) problems.push(`${f}.logId: expected an object with keyId`);
    else {
      logId = base64(e.logId.keyId, `${f}.logId.keyId`, problems);
      if (logId && logId.byteLength !== 32) problems.push(`${f}.logId.keyId: expected 32 bytes, got ${logId.byteLength}`);
    }
    if (problems.length > before || !key || !logId) return;
    const hex = logId.toString("hex");
    out.push({ name: `${baseUrl || "log"} (${hex.slice(0, 12)})`, logId: hex, key, validFrom: range.validFrom, validUntil: range.validUntil });
  });
  return out;
}

function toPem(der: Buffer): string {
  const b64 = der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

function anchors(entries: unknown[], field: string, kind: string, problems: Problems): AnchorCertificates[] {
  const out: AnchorCertificates[] = [];
  entries.forEach((e, i) => {
    const f = `${field}[${i}]`;
    if (!isObject(e)) {
      problems.push(`${f}: expected an object`);
      return;
    }
    const before = problems.length;
    const uri = optString(e.uri, `${f}.uri`, problems);
    let cn: string | undefined;
    if (e.subject !== undefined) {
      if (!isObject(e.subject)) problems.push(`${f}.subject: expected an object`);
      else {
        optString(e.subject.organization, `${f}.subject.organization`, problems);
        cn = optString(e.subject.commonName, `${f}.subject.commonName`, problems);
      }
    }
    const certificates: string[] = [];
    const chain = e.certChain;
    if (!isObject(chain)) problems.push(`${f}.certChain: expected an object with certificates`);
    else if (!Array.isArray(chain.certificates) || chain.certificates.length === 0) problems.push(`${f}.certChain.certificates: expected a non-empty array`);
    else if (chain.certificates.length > TRUSTED_ROOT_LIMITS.chainLength) {
      problems.push(`${f}.certChain.certificates: ${chain.certificates.length} certificates, more than ${TRUSTED_ROOT_LIMITS.chainLength}`);
    } else {
      chain.certificates.forEach((c: unknown, j: number) => {
        const cf = `${f}.certChain.certificates[${j}]`;
        if (!isObject(c)) {
          problems.push(`${cf}: expected an object with rawBytes`);
          return;
        }
        const der = base64(c.rawBytes, `${cf}.rawBytes`, problems);
        if (!der) return;
        try {
          new NodeX509(der);
        } catch (err) {
          problems.push(`${cf}.rawBytes: not a DER X.509 certificate (${(err as Error).message})`);
          return;
        }
        certificates.push(toPem(der));
      });
    }
    const range = validFor(e.validFor, `${f}.validFor`, problems);
    if (problems.length > before) return;
    const from = range.validFrom ? ` from ${range.validFrom.toISOString().slice(0, 10)}` : "";
    out.push({ name: `${kind} ${cn ?? "CA"} (${uri || "no uri"})${from}`, certificates, validFrom: range.validFrom, validUntil: range.validUntil });
  });
  return out;
}

/**
 * Reads a Sigstore `trusted_root.json` (already JSON-parsed, untrusted) into plain data. Throws SigstoreTrustError
 * listing every bad field; nothing half-valid is returned.
 */
export function parseTrustedRoot(json: unknown): ParsedTrustedRoot {
  const problems: Problems = [];
  if (!isObject(json)) throw new SigstoreTrustError("trusted root: expected a JSON object", ["(root): expected an object"]);
  if (typeof json.mediaType !== "string" || !TRUSTED_ROOT_MEDIA_TYPES.includes(json.mediaType)) {
    problems.push(`mediaType: expected one of ${TRUSTED_ROOT_MEDIA_TYPES.join(", ")}, got ${JSON.stringify(json.mediaType)?.slice(0, 80)}`);
  }
  const rekorKeys = logKeys(list(json.tlogs, "tlogs", problems, true), "tlogs", problems);
  const fulcioCAs = anchors(list(json.certificateAuthorities, "certificateAuthorities", problems, true), "certificateAuthorities", "Fulcio", problems);
  const ctLogKeys = logKeys(list(json.ctlogs, "ctlogs", problems, false), "ctlogs", problems);
  const tsaRoots = anchors(list(json.timestampAuthorities, "timestampAuthorities", problems, false), "timestampAuthorities", "TSA", problems);
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join("; ");
    throw new SigstoreTrustError(`trusted root is invalid: ${shown}${problems.length > 10 ? `; and ${problems.length - 10} more` : ""}`, problems);
  }
  return { fulcioCAs, rekorKeys, ctLogKeys, tsaRoots };
}

function spkiDer(key: KeyObject): Buffer {
  return key.export({ format: "der", type: "spki" });
}

type TrustedKey = TrustMaterial["keys"][number];

/**
 * The trusted key a bundle's `publicKey.hint` names: the key's name, its fingerprint (`sha256:<hex>`), or the SHA-256
 * of its DER SubjectPublicKeyInfo in hex or base64 (what cosign and sigstore-go write as the hint).
 */
export function findKeyByHint(trust: TrustMaterial, hint: string): TrustedKey | undefined {
  if (!hint) return undefined;
  return trust.keys.find((k) => {
    if (k.name === hint || k.fingerprint === hint) return true;
    const sum = createHash("sha256").update(spkiDer(k.key)).digest();
    return hint === sum.toString("hex") || hint === sum.toString("base64") || hint === `sha256:${sum.toString("hex")}`;
  });
}

export interface SigstoreTrustOptions {
  /**
   * Chooses the bare key for a key-based bundle from its hint. Default: findKeyByHint. A caller that has already
   * matched the key (by trying the signature) passes it here, so a bundle with an empty or foreign hint still verifies.
   */
  keyFor?: (hint: string) => TrustedKey | undefined;
}

function range(validFrom?: Date | null, validUntil?: Date | null): { start: Date | undefined; end?: Date | undefined } {
  return { start: validFrom ?? undefined, ...(validUntil ? { end: validUntil } : {}) };
}

function pemToDer(pem: string): Buffer {
  return new NodeX509(pem).raw;
}

/**
 * Our plain trust material as the TrustMaterial @sigstore/verify expects: a TrustedRoot built from it, through the
 * library's own toTrustMaterial, plus a key finder for key-based bundles.
 */
export function toSigstoreTrustMaterial(trust: TrustMaterial, opts: SigstoreTrustOptions = {}): SigstoreTrustMaterial {
  const logInstance = (k: LogKey) => ({
    baseUrl: k.name,
    hashAlgorithm: 1, // SHA2_256
    // Keys are exported as SPKI: toTrustMaterial only reads PKCS#1 for the PKCS1 details, so any SPKI detail works.
    publicKey: { rawBytes: spkiDer(k.key), keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, validFor: range(k.validFrom, k.validUntil) },
    logId: { keyId: Buffer.from(k.logId, "hex") },
    checkpointKeyId: undefined,
    operator: "",
  });
  const authority = (a: AnchorCertificates) => ({
    subject: undefined,
    uri: a.name,
    certChain: { certificates: a.certificates.map((pem) => ({ rawBytes: pemToDer(pem) })) },
    validFor: range(a.validFrom, a.validUntil),
    operator: "",
  });
  const root: TrustedRoot = {
    mediaType: TRUSTED_ROOT_MEDIA_TYPES[0]!,
    tlogs: trust.rekorKeys.map(logInstance),
    certificateAuthorities: trust.certificateRoots.map(authority),
    ctlogs: trust.ctLogKeys.map(logInstance),
    timestampAuthorities: trust.tsaRoots.map(authority),
  };
  const keyFor = opts.keyFor ?? ((hint: string) => findKeyByHint(trust, hint));
  return toTrustMaterial(root, (hint: string) => {
    const k = keyFor(hint);
    if (!k)
      throw new VerificationError({ code: "PUBLIC_KEY_ERROR", message: `no trusted key matches the bundle's key hint ${JSON.stringify(hint.slice(0, 80))}` });
    return { publicKey: k.key, validFor: () => true };
  });
}

/** The parsed public-good root as TrustMaterial: Fulcio CAs as certificate roots. */
export function trustMaterialFromRoot(root: ParsedTrustedRoot, keys: TrustMaterial["keys"] = []): TrustMaterial {
  return { keys, certificateRoots: root.fulcioCAs, tsaRoots: root.tsaRoots, rekorKeys: root.rekorKeys, ctLogKeys: root.ctLogKeys };
}
