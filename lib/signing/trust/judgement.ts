import { createHash, X509Certificate } from "node:crypto";
import { parsePublicKey } from "../keys/software";
import { parseTrustedRoot } from "./sigstore-root";
import {
  CHECK_ORDER,
  CHECKS,
  type AnchorCertificates,
  type CheckResult,
  type LogKey,
  type SignatureTime,
  type SignatureVerification,
  type SignerIdentity,
  type TrustMaterial,
} from "../verification";
import { identityMatch, type IdentityRole, type TrustIdentity } from "./identities";

/**
 * Trust evaluation: which signer may vouch for which repository, in which role, and when. Framework-free.
 *
 * The cryptographic verifiers (cosign, Sigstore bundle, Notation) answer "is this signature valid, and which trust
 * anchor does it chain to". This module answers the rest of the pipeline against the configured trust identities:
 * CHECKS.identity (scope and role, certificate subject or SAN + OIDC issuer), CHECKS.expiry (the identity's validity
 * at the signature's time) and CHECKS.revocation (an effective revocation time), and gives the final verdict.
 */

export interface TrustJudgement extends SignatureVerification {
  /** Role of the identity that vouched; null when none did. */
  role: IdentityRole | null;
  /** Name of the identity that vouched; null when none did. */
  identity: string | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates and trust material

/** sha256:<hex> of each DER certificate in a PEM bundle; unreadable blocks are skipped (validated when configured). */
export function certificateFingerprints(pems: readonly string[]): string[] {
  const out: string[] = [];
  for (const pem of pems) {
    for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g)) {
      try {
        out.push(`sha256:${createHash("sha256").update(new X509Certificate(m[0]).raw).digest("hex")}`);
      } catch {
        // ignore
      }
    }
  }
  return out;
}

/** Separator between an identity's name and the name of an entry of its Sigstore material. */
const SUB = " · ";

function belongsTo(anchorName: string | null, identity: TrustIdentity): boolean {
  return anchorName !== null && (anchorName === identity.name || anchorName.startsWith(identity.name + SUB));
}

/**
 * Trust identities → the plain trust material the cryptographic verifiers take. Keys carry the identity's name, so a
 * verifier's `trustedBy` names the identity; Sigstore material entries are named `<identity> · <entry>`. Revoked and
 * expired identities are included on purpose: a signature made before the revocation (at a trusted time) still
 * verifies, which judgeTrust decides; the exception is a time source (a TSA, a sigstore identity's TSAs and Rekor
 * logs), whose revocation can only be judged here (see below). An entry that no longer parses is skipped: it can only
 * fail to match, and input is validated when an identity is configured.
 */
export function loadTrustMaterial(identities: readonly TrustIdentity[], now: Date = new Date()): TrustMaterial {
  const keys: TrustMaterial["keys"][number][] = [];
  const certificateRoots: AnchorCertificates[] = [];
  const tsaRoots: AnchorCertificates[] = [];
  const rekorKeys: LogKey[] = [];
  const ctLogKeys: LogKey[] = [];
  const seenKeys = new Set<string>();
  for (const id of identities) {
    const window = { validFrom: id.validFrom ?? null, validUntil: id.validUntil ?? null };
    try {
      switch (id.kind) {
        case "key": {
          if (!id.publicKeyPem) break;
          const k = parsePublicKey(id.publicKeyPem);
          // The same key trusted twice (two scopes, two roles) is tried once; judgeTrust finds every identity by fingerprint.
          if (seenKeys.has(k.fingerprint)) break;
          seenKeys.add(k.fingerprint);
          keys.push({ name: id.name, fingerprint: k.fingerprint, key: k.key, algorithm: k.algorithm });
          break;
        }
        case "certificate":
          if (id.certificates?.length) certificateRoots.push({ name: id.name, certificates: id.certificates, ...window });
          break;
        case "tsa": {
          // A TSA proves no time but the one it writes itself: once it is revoked (its key compromised), whoever holds
          // the key can write a time from before the revocation, so a revoked TSA vouches for no time at all (its
          // tokens are claims). A revocation still ahead ends its trust then, as the end of its validity does.
          if (id.revokedAt && id.revokedAt <= now) break;
          const until = id.revokedAt && (!window.validUntil || id.revokedAt < window.validUntil) ? id.revokedAt : window.validUntil;
          if (id.certificates?.length) tsaRoots.push({ name: id.name, certificates: id.certificates, ...window, validUntil: until });
          break;
        }
        case "sigstore": {
          if (id.sigstore == null) break;
          const root = parseTrustedRoot(id.sigstore);
          const rename = <T extends { name: string }>(e: T): T => ({ ...e, name: `${id.name}${SUB}${e.name}` });
          certificateRoots.push(...root.fulcioCAs.map(rename));
          ctLogKeys.push(...root.ctLogKeys.map(rename));
          // Its TSAs and Rekor logs are time sources, revoked as a `tsa` identity is: whoever holds a compromised
          // deployment's keys can date a new signature before the revocation (a token, a log entry), so once revoked
          // they vouch for no time, and a revocation still ahead ends their trust then.
          if (id.revokedAt && id.revokedAt <= now) break;
          const cap = <T extends { validUntil?: Date | null }>(e: T): T =>
            id.revokedAt && (!e.validUntil || id.revokedAt < e.validUntil) ? { ...e, validUntil: id.revokedAt } : e;
          tsaRoots.push(...root.tsaRoots.map(rename).map(cap));
          rekorKeys.push(...root.rekorKeys.map(rename).map(cap));
          break;
        }
        default: {
          const never: never = id.kind;
          return never;
        }
      }
    } catch {
      // see above: an unreadable stored entry can only fail to match
    }
  }
  return { keys, certificateRoots, tsaRoots, rekorKeys, ctLogKeys };
}

// ---------------------------------------------------------------------------------------------------------------
// Judgement

function setCheck(checks: CheckResult[], check: string, passed: boolean | null, detail: string): void {
  const existing = checks.find((c) => c.check === check);
  if (existing) {
    // A verifier may already have judged this check (e.g. a Notation signature's own expiry): a failure stays.
    if (existing.passed === false) return;
    if (passed === null) return;
    existing.passed = passed;
    existing.detail = existing.passed === null || !existing.detail ? detail : `${existing.detail}; ${detail}`;
    return;
  }
  const rank = (name: string) => {
    const i = CHECK_ORDER.indexOf(name);
    return i === -1 ? -1 : i;
  };
  const mine = rank(check);
  const at = checks.findIndex((c) => rank(c.check) > mine);
  if (at === -1) checks.push({ check, passed, detail });
  else checks.splice(at, 0, { check, passed, detail });
}

/** Parsed Fulcio CAs per imported trusted root (the same object for every judgement of a sync's loaded trust). */
const fulcioCache = new WeakMap<object, { name: string; fingerprints: string[] }[]>();

/** A sigstore identity's Fulcio CAs, each under the anchor name the verifiers report, with its certificates' fingerprints. */
function fulcioAnchors(i: TrustIdentity): { name: string; fingerprints: string[] }[] {
  if (i.kind !== "sigstore" || typeof i.sigstore !== "object" || i.sigstore === null) return [];
  let cas = fulcioCache.get(i.sigstore);
  if (!cas) {
    try {
      cas = parseTrustedRoot(i.sigstore).fulcioCAs.map((ca) => ({ name: ca.name, fingerprints: certificateFingerprints(ca.certificates) }));
    } catch {
      cas = []; // as in loadTrustMaterial: an unreadable stored root can only fail to match
    }
    fulcioCache.set(i.sigstore, cas);
  }
  return cas.map((ca) => ({ name: `${i.name}${SUB}${ca.name}`, fingerprints: ca.fingerprints }));
}

function candidates(v: SignatureVerification, identities: readonly TrustIdentity[]): TrustIdentity[] {
  const signer = v.signer;
  const named = identities.filter((i) => belongsTo(v.trustedBy, i));
  if (signer?.kind === "key") {
    // Every identity holding the same key: one key may be trusted for two scopes or roles.
    const byKey = identities.filter((i) => i.kind === "key" && i.fingerprint === signer.fingerprint);
    return uniq([...named.filter((i) => i.kind === "key"), ...byKey]);
  }
  if (signer?.kind === "certificate") {
    // Every certificate identity configured with the same root: one Fulcio root, several SAN matchers.
    const roots = new Set(named.flatMap((i) => certificateFingerprints(i.certificates ?? [])));
    const sameRoot = identities.filter((i) => i.kind === "certificate" && certificateFingerprints(i.certificates ?? []).some((f) => roots.has(f)));
    // The same for sigstore identities: one trusted root imported twice (public-good as an upstream publisher and as
    // our CI's team identity) is one Fulcio CA, and the verifier names only the first identity's copy of it. Every
    // sigstore identity holding a certificate of the CA that vouched is tried, each with its own SAN and issuer rules.
    const anchor = new Set(named.flatMap((i) => fulcioAnchors(i).filter((ca) => ca.name === v.trustedBy)).flatMap((ca) => ca.fingerprints));
    const sameFulcio =
      anchor.size === 0 ? [] : identities.filter((i) => i.kind === "sigstore" && fulcioAnchors(i).some((ca) => ca.fingerprints.some((f) => anchor.has(f))));
    return uniq([...named.filter((i) => i.kind !== "key" && i.kind !== "tsa"), ...sameRoot, ...sameFulcio]);
  }
  return named;
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

const fmt = (d: Date) => d.toISOString();

/** CHECKS.expiry: the identity's validity window at the signature's trusted time (else now). */
function expiryCheck(i: TrustIdentity, at: Date, atWords: string): { ok: boolean; detail: string } {
  if (i.validFrom && at < i.validFrom) return { ok: false, detail: `"${i.name}" is valid from ${fmt(i.validFrom)}; judged ${atWords}` };
  if (i.validUntil && at >= i.validUntil) return { ok: false, detail: `"${i.name}" was valid until ${fmt(i.validUntil)}; judged ${atWords}` };
  return { ok: true, detail: `"${i.name}" is valid ${atWords}${i.validUntil ? ` (until ${fmt(i.validUntil)})` : ""}` };
}

/** CHECKS.revocation: a revocation effective after the trusted time leaves the signature standing; a claimed time counts for nothing. */
function revocationCheck(i: TrustIdentity, at: Date, trusted: Date | null): { ok: boolean; detail: string } {
  if (!i.revokedAt) return { ok: true, detail: `"${i.name}" is not revoked` };
  if (at < i.revokedAt) {
    return {
      ok: true,
      detail: trusted
        ? `"${i.name}" is revoked from ${fmt(i.revokedAt)}, after this signature's trusted time ${fmt(trusted)}`
        : `"${i.name}" will be revoked from ${fmt(i.revokedAt)}`,
    };
  }
  return {
    ok: false,
    detail: trusted
      ? `"${i.name}" is revoked from ${fmt(i.revokedAt)}, before this signature's trusted time ${fmt(trusted)}`
      : `"${i.name}" is revoked from ${fmt(i.revokedAt)} and nothing trusted proves the signature was made before that (a claimed time could be backdated)`,
  };
}

/** The first candidate identity whose scope and certificate identity match, or every miss, worded. */
function chooseIdentity(
  found: readonly TrustIdentity[],
  signer: SignerIdentity | null,
  repository: string,
): { i: TrustIdentity; detail: string } | { misses: string[] } {
  const misses: string[] = [];
  for (const i of found) {
    const m = identityMatch(i, signer, repository);
    if (m.ok) return { i, detail: m.detail };
    misses.push(m.detail);
  }
  return { misses };
}

/**
 * Appends CHECKS.identity, CHECKS.expiry and CHECKS.revocation to a verifier's result and gives the final verdict:
 * "verified" only when every check passed (checks that do not apply, such as the chain of a bare key, are shown as
 * not run). A signature that failed a cryptographic check keeps its verdict; the trust checks are shown as not run.
 *
 * Time. Validity and revocation are judged at the signature's trusted time when it has one (a trusted TSA, a trusted
 * Rekor entry, or — passed in as `trustedTime` — Imprimatur's own record of the approval it signed). A claimed time
 * is never used: the signer writes it and could backdate it past a revocation. Without a trusted time the judgement
 * is made at `now`, which is the strict choice: a revoked or expired identity then no longer vouches. A
 * `recordedTime` comes before all of them: see there.
 */
export function judgeTrust(opts: {
  verification: SignatureVerification;
  repository: string;
  identities: readonly TrustIdentity[];
  /** A trusted time known outside the signature (Imprimatur's record of the approval the layer carries). */
  trustedTime?: { at: Date; by: string } | null;
  /**
   * Imprimatur's record of when it made these very signature bytes (its approval's trusted time): the signature is
   * judged at it, whatever time the signature carries. A cosign layer's RFC 3161 annotation is not bound by the layer
   * digest, so anyone with push access can put a fresh (genuine, trusted) token over the public signature bytes on
   * Imprimatur's own layer; preferring it would judge the approval at that later time, after a rotation of its key.
   */
  recordedTime?: { at: Date; by: string } | null;
  /** When set, only identities of this role may vouch. */
  requiredRole?: IdentityRole | null;
  now?: Date;
}): TrustJudgement {
  const { verification: v, repository, identities } = opts;
  const now = opts.now ?? new Date();
  const checks = v.checks.map((c) => ({ ...c }));
  let time: SignatureTime | null = v.time;
  if (opts.recordedTime) time = { kind: "trusted", at: fmt(opts.recordedTime.at), by: opts.recordedTime.by };
  else if (opts.trustedTime && time?.kind !== "trusted") time = { kind: "trusted", at: fmt(opts.trustedTime.at), by: opts.trustedTime.by };

  // The whole pipeline is always shown: a check a verifier did not report is listed as not run, with why.
  if (!checks.some((c) => c.check === CHECKS.chain) && checks.some((c) => c.check === CHECKS.signature)) {
    setCheck(
      checks,
      CHECKS.chain,
      null,
      v.signer?.kind === "key" ? "does not apply: signed with a bare key, no certificate" : "not run: an earlier check failed",
    );
  }
  const notRun = (why: string) => {
    for (const c of [CHECKS.identity, CHECKS.expiry, CHECKS.revocation]) setCheck(checks, c, null, why);
  };
  if (v.verdict !== "verified") {
    notRun("not run: an earlier check failed");
    // "Unverified" always names the failed check, whatever words the verifier chose.
    const failed = checks.find((c) => c.passed === false);
    const word = v.verdict === "invalid" ? "invalid" : "not verified";
    const detail =
      failed && !v.detail.includes(`${failed.check} failed`)
        ? `${word}: ${failed.check} failed: ${failed.detail.replace(/^(not verified|invalid): /, "")}`
        : v.detail;
    return { ...v, detail, checks, time, role: null, identity: null };
  }

  const found = candidates(v, identities).filter((i) => !opts.requiredRole || i.role === opts.requiredRole);
  if (found.length === 0) {
    const detail = v.trustedBy
      ? `no trust identity${opts.requiredRole ? ` of role ${opts.requiredRole}` : ""} matches the anchor "${v.trustedBy}" that vouched for the signer`
      : "the verifier named no trust anchor";
    setCheck(checks, CHECKS.identity, false, detail);
    setCheck(checks, CHECKS.expiry, null, "not run: no trusted identity");
    setCheck(checks, CHECKS.revocation, null, "not run: no trusted identity");
    return { ...v, checks, time, verdict: "unverified", detail: `not verified: ${CHECKS.identity} failed: ${detail}`, role: null, identity: null };
  }

  const chosen = chooseIdentity(found, v.signer, repository);
  if ("misses" in chosen) {
    const detail = chosen.misses.join("; ");
    setCheck(checks, CHECKS.identity, false, detail);
    setCheck(checks, CHECKS.expiry, null, "not run: no identity is trusted for this repository");
    setCheck(checks, CHECKS.revocation, null, "not run: no identity is trusted for this repository");
    return { ...v, checks, time, verdict: "unverified", detail: `not verified: ${CHECKS.identity} failed: ${detail}`, role: null, identity: null };
  }
  const { i } = chosen;
  setCheck(checks, CHECKS.identity, true, chosen.detail);

  const trusted = time?.kind === "trusted" ? new Date(time.at) : null;
  const at = trusted ?? now;
  const atWords = trusted ? `at its trusted time ${fmt(trusted)} (${time!.by})` : `now (${fmt(now)}), as it has no trusted time`;
  const expiry = expiryCheck(i, at, atWords);
  setCheck(checks, CHECKS.expiry, expiry.ok, expiry.detail);
  const revocation = revocationCheck(i, at, trusted);
  setCheck(checks, CHECKS.revocation, revocation.ok, revocation.detail);

  const failed = checks.find((c) => c.passed === false);
  if (failed) {
    return { ...v, checks, time, verdict: "unverified", detail: `not verified: ${failed.check} failed: ${failed.detail}`, role: i.role, identity: i.name };
  }
  const what = i.kind === "key" ? `trusted key "${i.name}"` : `"${i.name}"`;
  const who =
    v.signer?.kind === "certificate"
      ? ` (${v.signer.leaf.subject || v.signer.leaf.sans[0] || "certificate"}${v.signer.leaf.oidcIssuer ? `, ${v.signer.leaf.oidcIssuer}` : ""})`
      : "";
  return { ...v, checks, time, verdict: "verified", detail: `verified by ${what} as ${i.role}${who}`, trustedBy: v.trustedBy, role: i.role, identity: i.name };
}
