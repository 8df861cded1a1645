import type { CertificateSummary, SignerIdentity } from "../verification";

/**
 * Trust identities and how they match: which repository a pattern covers, which certificate subject or SAN an
 * identity names. Pure string logic with no node: builtins, so the browser (policy catalogue, trust forms) can import
 * it. The judgement that uses these against a verified signature is in ./judgement.ts.
 */

export type IdentityKind = "key" | "certificate" | "sigstore" | "tsa";
export type IdentityRole = "publisher" | "team" | "stage" | "builder" | "scanner";
export const IDENTITY_KINDS: readonly IdentityKind[] = ["key", "certificate", "sigstore", "tsa"];
export const IDENTITY_ROLES: readonly IdentityRole[] = ["publisher", "team", "stage", "builder", "scanner"];
/** Display order of a signature chain: the publisher of the base, then the team that built it, then the stages. */
export const ROLE_ORDER: Record<IdentityRole, number> = { publisher: 0, team: 1, builder: 1, stage: 2, scanner: 3 };

/** A trust identity as plain data (a trust_identities row, or a stage key seen as an identity of role stage). */
export interface TrustIdentity {
  name: string;
  kind: IdentityKind;
  role: IdentityRole;
  /** Repository glob patterns: `*` and `?` stay within one path segment, `**` crosses segments. */
  scope: readonly string[];
  /** kind key */
  publicKeyPem?: string | null;
  fingerprint?: string | null;
  /** kind certificate and tsa: PEM roots / intermediates */
  certificates?: readonly string[];
  /** Certificate identity: exact subject (or a glob when it contains `*`), or a SAN glob with the OIDC issuer. */
  subject?: string | null;
  san?: string | null;
  oidcIssuer?: string | null;
  /** kind certificate / sigstore without subject or SAN: the admin's explicit "any certificate under this root". */
  anyIdentityUnderRoot?: boolean;
  /** kind sigstore: the trusted_root.json as imported */
  sigstore?: unknown;
  validFrom?: Date | null;
  validUntil?: Date | null;
  /** Effective time of the revocation. */
  revokedAt?: Date | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Glob matching

type GlobToken = { kind: "lit"; c: string } | { kind: "one" } | { kind: "star" } | { kind: "globstar" } | { kind: "gate"; skipTo: number };

/**
 * Compiles a glob: `*` any run (without `/` when segmented), `?` one character, `**` any run including `/`, and
 * `**` + `/` also zero segments. Matched by simulating the automaton (globMatch), never as a backtracking RegExp:
 * `*a*a*a*b` against a long hostile SAN or repository name would take polynomial time of the number of stars.
 */
function compileGlob(pattern: string): GlobToken[] {
  const out: GlobToken[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        if (pattern[i + 2] === "/") {
          // `**/`: zero segments (a gate that, before any character is consumed, may skip past the slash), or any
          // run followed by the slash.
          out.push({ kind: "gate", skipTo: out.length + 3 }, { kind: "globstar" }, { kind: "lit", c: "/" });
          i += 2;
        } else {
          out.push({ kind: "globstar" });
          i += 1;
        }
      } else out.push({ kind: "star" });
    } else if (c === "?") out.push({ kind: "one" });
    else out.push({ kind: "lit", c });
  }
  return out;
}

/** Runs the glob automaton over `value`: O(value × pattern) time, whatever either holds. */
function globMatch(tokens: GlobToken[], value: string, segmented: boolean): boolean {
  const m = tokens.length;
  // Flat arrays: kind codes 0 lit, 1 one, 2 star, 3 globstar, 4 gate; lit char code; gate skip target.
  const kind = new Uint8Array(m);
  const arg = new Int32Array(m);
  tokens.forEach((t, i) => {
    kind[i] = t.kind === "lit" ? 0 : t.kind === "one" ? 1 : t.kind === "star" ? 2 : t.kind === "globstar" ? 3 : 4;
    arg[i] = t.kind === "lit" ? t.c.charCodeAt(0) : t.kind === "gate" ? t.skipTo : 0;
  });
  let cur = new Uint8Array(m + 1);
  let next = new Uint8Array(m + 1);
  const close = (set: Uint8Array) => {
    // Epsilon moves only go forward, so one pass in order reaches the fixpoint.
    for (let i = 0; i < m; i++) {
      if (!set[i]) continue;
      const k = kind[i]!;
      if (k >= 2) set[i + 1] = 1;
      if (k === 4) set[arg[i]!] = 1;
    }
  };
  cur[0] = 1;
  close(cur);
  for (let p = 0; p < value.length; p++) {
    const ch = value.charCodeAt(p);
    const slashOk = !segmented || ch !== 47;
    next.fill(0);
    let any = false;
    for (let i = 0; i < m; i++) {
      if (!cur[i]) continue;
      const k = kind[i]!;
      if (k === 0 ? arg[i] === ch : k === 1 && slashOk) {
        next[i + 1] = 1;
        any = true;
      } else if ((k === 2 && slashOk) || k === 3) {
        next[i] = 1;
        any = true;
      }
    }
    if (!any) return false;
    close(next);
    [cur, next] = [next, cur];
  }
  return cur[m] === 1;
}

/** Longer than any repository name (255), SAN or subject a pattern is meant for. */
export const MAX_GLOB_VALUE = 8192;

/** Whether a builder id pattern vouches for every builder id (`**`, or more stars): shown as a warning. */
export function matchesAnyBuilder(pattern: string): boolean {
  return /^\*{2,}$/.test(pattern);
}

/** Repository scope match: `library/*` matches `library/nginx` but not `library/a/b`; `**` matches everything. */
export function matchScope(pattern: string, repository: string): boolean {
  if (repository.length > MAX_GLOB_VALUE) return false;
  return globMatch(compileGlob(pattern.trim()), repository, true);
}

/**
 * Identity match for subjects and SANs. `*` matches any characters here, including `/`: a SAN is usually a URI
 * (`https://github.com/org/repo/.github/workflows/release.yml@refs/tags/*`) and segments mean nothing in it.
 * Without a `*` the match is exact.
 */
export function matchIdentityPattern(pattern: string, value: string): boolean {
  if (!pattern.includes("*") && !pattern.includes("?")) return pattern === value;
  // Fails closed on absurd values (a SAN from a hostile certificate): no identity is meant to match those.
  if (value.length > MAX_GLOB_VALUE) return false;
  return globMatch(compileGlob(pattern), value, false);
}

/**
 * Attribute labels as the X.509 summariser (lib/signing/trust/x509.ts) prints them. Attribute types are
 * case-insensitive (RFC 4514), and the e-mail attribute has several spellings: Node and OpenSSL print
 * `emailAddress=`, Windows and Go `E=`; a stored pattern may use any of them and must match the same certificate
 * whichever format (cosign, Sigstore bundle, Notation) carried it. Values are never changed.
 */
const DN_LABELS: Record<string, string> = {
  cn: "CN",
  c: "C",
  l: "L",
  st: "ST",
  s: "ST",
  o: "O",
  ou: "OU",
  serialnumber: "SERIALNUMBER",
  street: "STREET",
  dc: "DC",
  uid: "UID",
  e: "E",
  email: "E",
  emailaddress: "E",
  "1.2.840.113549.1.9.1": "E",
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
};

function dnLabel(label: string): string {
  const key = label.toLowerCase();
  return Object.hasOwn(DN_LABELS, key) ? DN_LABELS[key]! : label;
}

/**
 * "CN = a,O=b", "cn=a\nO=b" and "CN=a, o=b" compare equal; so do "emailAddress=x" and "E=x". One scan: split on newlines and on commas not escaped by a
 * backslash, trim each part, tighten the first "=" (regexes with `\s*` on both sides rescanned whitespace runs
 * from every position, quadratic on a hostile certificate subject).
 */
export function normalizeDn(dn: string): string {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i <= dn.length; i++) {
    const c = dn[i];
    if (i === dn.length || c === "\n" || (c === "," && dn[i - 1] !== "\\")) {
      const p = dn.slice(start, i).trim();
      if (p) {
        const eq = p.indexOf("=");
        parts.push(eq < 0 ? p : `${dnLabel(p.slice(0, eq).trimEnd())}=${p.slice(eq + 1).trimStart()}`);
      }
      start = i + 1;
    }
  }
  return parts.join(", ");
}

/**
 * Does this certificate (its summary, the same whichever format carried it) have the subject or SAN + OIDC issuer
 * the identity names? Scope is not decided here (see identityMatch).
 */
export function matchCertificateIdentity(i: TrustIdentity, leaf: CertificateSummary, where: string): { ok: boolean; detail: string } {
  // Fulcio certificates have an empty subject: their identity is the SAN, vouched for by the OIDC issuer.
  if (i.subject) {
    const want = normalizeDn(i.subject);
    const have = normalizeDn(leaf.subject);
    if (matchIdentityPattern(want, have)) return { ok: true, detail: `${where}; subject "${leaf.subject}" matches` };
    if (!i.san) return { ok: false, detail: `certificate subject "${leaf.subject || "(empty)"}" does not match "${i.subject}" of "${i.name}"` };
  }
  if (i.san) {
    const san = leaf.sans.find((s) => matchIdentityPattern(i.san!, s));
    if (!san)
      return { ok: false, detail: `no subject alternative name of the certificate (${leaf.sans.join(", ") || "none"}) matches "${i.san}" of "${i.name}"` };
    if (i.oidcIssuer && leaf.oidcIssuer !== i.oidcIssuer) {
      return { ok: false, detail: `SAN ${san} matches, but the OIDC issuer is ${leaf.oidcIssuer ?? "absent"}, not ${i.oidcIssuer} ("${i.name}")` };
    }
    return { ok: true, detail: `${where}; SAN ${san}${leaf.oidcIssuer ? ` issued by ${leaf.oidcIssuer}` : ""}` };
  }
  if (i.oidcIssuer && leaf.oidcIssuer !== i.oidcIssuer) {
    return { ok: false, detail: `the certificate's OIDC issuer is ${leaf.oidcIssuer ?? "absent"}, not ${i.oidcIssuer} ("${i.name}")` };
  }
  // No identity matcher configured: the root itself is the identity (a private CA that only issues to this signer),
  // but only when an admin said so explicitly. With a public root (Sigstore public-good) that would be anyone.
  if (!i.anyIdentityUnderRoot)
    return { ok: false, detail: `"${i.name}" names no subject or SAN and is not marked "any identity under this root"; it vouches for no certificate` };
  return { ok: true, detail: `${where}; any certificate issued under this root (marked "any identity under this root")` };
}

/** Scope (repository pattern) first, then, for a certificate signer, its subject or SAN. */
export function identityMatch(i: TrustIdentity, signer: SignerIdentity | null, repository: string): { ok: boolean; detail: string } {
  const scope = i.scope.length ? i.scope : [];
  const inScope = scope.find((p) => matchScope(p, repository));
  if (!inScope) {
    return {
      ok: false,
      detail: `"${i.name}" (${i.role}) is trusted for ${scope.length ? scope.map((s) => `"${s}"`).join(", ") : "no repositories"}, not ${repository}`,
    };
  }
  const where = `"${i.name}" is trusted as ${i.role} for ${repository} (scope "${inScope}")`;
  if (signer?.kind !== "certificate") return { ok: true, detail: where };
  return matchCertificateIdentity(i, signer.leaf, where);
}
