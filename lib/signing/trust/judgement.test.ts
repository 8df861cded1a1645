import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateP256 } from "../keys/software";
import { judgeTrust, loadTrustMaterial } from "./judgement";
import { timestampTokenCertificates, verifyTimestampToken } from "./rfc3161";
import { toPem } from "./x509";
import { NOTATION_JWS, verifyNotationSignature } from "../formats/notation";
import { matchIdentityPattern, matchScope, type TrustIdentity } from "./identities";
import { CHECKS, type CertificateSummary, type SignatureVerification } from "../verification";

const pub = generateP256();
const other = generateP256();

/** What a cryptographic verifier returns for a valid key-based cosign signature anchored at `trustedBy`. */
function keySig(
  trustedBy: string,
  fingerprint = pub.fingerprint,
  time: SignatureVerification["time"] = { kind: "claimed", at: "2020-01-01T00:00:00.000Z", by: "optional.timestamp" },
): SignatureVerification {
  return {
    format: "cosign",
    verdict: "verified",
    detail: "signature valid",
    checks: [
      { check: CHECKS.payloadDigest, passed: true, detail: "sha256:aa" },
      { check: CHECKS.namesDigest, passed: true, detail: "sha256:bb" },
      { check: CHECKS.signature, passed: true, detail: `key ${trustedBy}` },
      { check: CHECKS.chain, passed: null, detail: "not run: a bare key has no certificate chain" },
    ],
    signer: { kind: "key", fingerprint, algorithm: "ecdsa-p256" },
    time,
    trustedBy,
  };
}

const leaf = (over: Partial<CertificateSummary> = {}): CertificateSummary => ({
  subject: "",
  issuer: "O=sigstore.dev, CN=sigstore-intermediate",
  serial: "01",
  notBefore: "2024-01-01T00:00:00.000Z",
  notAfter: "2024-01-01T00:10:00.000Z",
  fingerprint: "sha256:cc",
  sans: ["https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0"],
  oidcIssuer: "https://token.actions.githubusercontent.com",
  ...over,
});

function certSig(
  trustedBy: string,
  l: CertificateSummary,
  time: SignatureVerification["time"] = { kind: "trusted", at: "2024-01-01T00:05:00.000Z", by: "Rekor" },
): SignatureVerification {
  return {
    format: "sigstore-bundle",
    verdict: "verified",
    detail: "ok",
    checks: [
      { check: CHECKS.signature, passed: true, detail: "ok" },
      { check: CHECKS.chain, passed: true, detail: "ok" },
    ],
    signer: { kind: "certificate", leaf: l, chain: [] },
    time,
    trustedBy,
  };
}

const keyId = (over: Partial<TrustIdentity> = {}): TrustIdentity => ({
  name: "publisher",
  kind: "key",
  role: "publisher",
  scope: ["**"],
  publicKeyPem: pub.publicKeyPem,
  fingerprint: pub.fingerprint,
  ...over,
});
const check = (r: { checks: { check: string; passed: boolean | null; detail: string }[] }, name: string) => r.checks.find((c) => c.check === name);

describe("scope and identity patterns", () => {
  it("matches one segment with * and any depth with **", () => {
    expect(matchScope("library/*", "library/nginx")).toBe(true);
    expect(matchScope("library/*", "library/a/b")).toBe(false);
    expect(matchScope("library/*", "libraryx/nginx")).toBe(false);
    expect(matchScope("**", "a/b/c")).toBe(true);
    expect(matchScope("apps/**", "apps/web/frontend")).toBe(true);
    expect(matchScope("apps/**/web", "apps/web")).toBe(true);
    expect(matchScope("publisher/base", "publisher/base")).toBe(true);
    expect(matchScope("publisher/base", "publisher/base2")).toBe(false);
    // regex metacharacters in a pattern are literal
    expect(matchScope("a.b/*", "axb/c")).toBe(false);
  });

  it("matches SAN URIs with * across slashes, and exactly without one", () => {
    expect(matchIdentityPattern("https://github.com/acme/*", "https://github.com/acme/app/.github/workflows/x.yml@refs/heads/main")).toBe(true);
    expect(matchIdentityPattern("https://github.com/acme/*", "https://github.com/evil/acme/x")).toBe(false);
    expect(matchIdentityPattern("alice@example.com", "alice@example.com")).toBe(true);
    expect(matchIdentityPattern("alice@example.com", "alice@example.com.evil")).toBe(false);
  });
});

describe("judgeTrust: keys", () => {
  it("verifies a key signature in scope and names the identity and role", () => {
    const r = judgeTrust({ verification: keySig("publisher"), repository: "publisher/base", identities: [keyId()] });
    expect(r.verdict).toBe("verified");
    expect(r.detail).toContain('trusted key "publisher"');
    expect(r.role).toBe("publisher");
    expect(r.checks.map((c) => [c.check, c.passed])).toEqual([
      [CHECKS.payloadDigest, true],
      [CHECKS.namesDigest, true],
      [CHECKS.signature, true],
      [CHECKS.chain, null],
      [CHECKS.identity, true],
      [CHECKS.expiry, true],
      [CHECKS.revocation, true],
    ]);
  });

  it("is not verified when the scope does not cover the repository, naming the identity check", () => {
    const r = judgeTrust({ verification: keySig("publisher"), repository: "apps/payments", identities: [keyId({ scope: ["library/*"] })] });
    expect(r.verdict).toBe("unverified");
    expect(r.detail).toContain(CHECKS.identity);
    expect(r.detail).toContain('"library/*"');
    expect(check(r, CHECKS.identity)?.passed).toBe(false);
    expect(check(r, CHECKS.expiry)?.passed).toBeNull();
  });

  it("finds a second identity holding the same key with a wider scope", () => {
    const r = judgeTrust({
      verification: keySig("narrow"),
      repository: "apps/payments",
      identities: [keyId({ name: "narrow", scope: ["library/*"] }), keyId({ name: "wide", role: "team", scope: ["apps/*"] })],
    });
    expect(r.verdict).toBe("verified");
    expect(r.identity).toBe("wide");
    expect(r.role).toBe("team");
  });

  it("refuses an identity of another role when a role is required", () => {
    const r = judgeTrust({ verification: keySig("publisher"), repository: "x/y", identities: [keyId()], requiredRole: "stage" });
    expect(r.verdict).toBe("unverified");
    expect(check(r, CHECKS.identity)?.detail).toContain("role stage");
  });

  it("does not let a key name lead to an identity holding another key", () => {
    const r = judgeTrust({ verification: keySig("publisher", other.fingerprint), repository: "x/y", identities: [keyId({ kind: "certificate" })] });
    expect(r.verdict).toBe("unverified");
  });

  it("keeps a cryptographic failure as is and shows the trust checks as not run", () => {
    const failed: SignatureVerification = {
      ...keySig("publisher"),
      verdict: "invalid",
      detail: "invalid: names this digest failed",
      trustedBy: null,
      checks: [
        { check: CHECKS.payloadDigest, passed: true, detail: "" },
        { check: CHECKS.namesDigest, passed: false, detail: "another digest" },
      ],
    };
    const r = judgeTrust({ verification: failed, repository: "x/y", identities: [keyId()] });
    expect(r.verdict).toBe("invalid");
    expect(r.detail).toBe(failed.detail);
    expect(r.checks.slice(-3).map((c) => c.passed)).toEqual([null, null, null]);
  });
});

describe("judgeTrust: validity and revocation in time", () => {
  const t = (s: string) => new Date(s);
  it("judges expiry at the trusted time, not at now", () => {
    const id = keyId({ validUntil: t("2024-06-01T00:00:00Z") });
    const before = judgeTrust({
      verification: keySig("publisher", pub.fingerprint, { kind: "trusted", at: "2024-05-01T00:00:00.000Z", by: "TSA" }),
      repository: "a/b",
      identities: [id],
      now: t("2025-01-01T00:00:00Z"),
    });
    expect(before.verdict).toBe("verified");
    const after = judgeTrust({
      verification: keySig("publisher", pub.fingerprint, { kind: "trusted", at: "2024-07-01T00:00:00.000Z", by: "TSA" }),
      repository: "a/b",
      identities: [id],
      now: t("2025-01-01T00:00:00Z"),
    });
    expect(after.verdict).toBe("unverified");
    expect(after.detail).toContain(CHECKS.expiry);
  });

  it("judges at now without a trusted time: a claimed time never rescues an expired identity", () => {
    const id = keyId({ validUntil: t("2024-06-01T00:00:00Z") });
    const r = judgeTrust({ verification: keySig("publisher"), repository: "a/b", identities: [id], now: t("2025-01-01T00:00:00Z") });
    expect(r.verdict).toBe("unverified");
    expect(check(r, CHECKS.expiry)?.detail).toContain("no trusted time");
  });

  it("accepts a signature whose trusted time is before the revocation, and refuses one after it", () => {
    const id = keyId({ revokedAt: t("2024-06-01T00:00:00Z") });
    const early = judgeTrust({
      verification: keySig("publisher"),
      trustedTime: { at: t("2024-05-01T00:00:00Z"), by: "Imprimatur approval record" },
      repository: "a/b",
      identities: [id],
      now: t("2025-01-01T00:00:00Z"),
    });
    expect(early.verdict).toBe("verified");
    expect(early.time).toEqual({ kind: "trusted", at: "2024-05-01T00:00:00.000Z", by: "Imprimatur approval record" });
    expect(check(early, CHECKS.revocation)?.detail).toContain("after this signature's trusted time");
    const late = judgeTrust({
      verification: keySig("publisher"),
      trustedTime: { at: t("2024-07-01T00:00:00Z"), by: "x" },
      repository: "a/b",
      identities: [id],
      now: t("2025-01-01T00:00:00Z"),
    });
    expect(late.verdict).toBe("unverified");
    expect(late.detail).toContain(CHECKS.revocation);
  });

  it("judges Imprimatur's own signature at its record, not at a later trusted time its unbound annotation carries", () => {
    // A rotated stage key: valid until June. A fresh TSA token over the public signature bytes, put on the layer in
    // the registry, dates it in July; the approval's record says May.
    const id = keyId({ validUntil: t("2024-06-01T00:00:00Z") });
    const r = judgeTrust({
      verification: keySig("publisher", pub.fingerprint, { kind: "trusted", at: "2024-07-01T00:00:00.000Z", by: "TSA" }),
      recordedTime: { at: t("2024-05-01T00:00:00Z"), by: "Imprimatur's record of approval 1" },
      repository: "a/b",
      identities: [id],
      now: t("2025-01-01T00:00:00Z"),
    });
    expect(r.verdict).toBe("verified");
    expect(r.time).toEqual({ kind: "trusted", at: "2024-05-01T00:00:00.000Z", by: "Imprimatur's record of approval 1" });
    // A fallback trustedTime, by contrast, gives way to the verifier's own trusted time (a bundle's, bound by its digest).
    const fallback = judgeTrust({
      verification: keySig("publisher", pub.fingerprint, { kind: "trusted", at: "2024-07-01T00:00:00.000Z", by: "TSA" }),
      trustedTime: { at: t("2024-05-01T00:00:00Z"), by: "record" },
      repository: "a/b",
      identities: [id],
      now: t("2025-01-01T00:00:00Z"),
    });
    expect(fallback.verdict).toBe("unverified");
  });

  it("refuses a revoked identity when only a claimed (backdatable) time says the signature is older", () => {
    const id = keyId({ revokedAt: t("2024-06-01T00:00:00Z") });
    const r = judgeTrust({ verification: keySig("publisher"), repository: "a/b", identities: [id], now: t("2025-01-01T00:00:00Z") });
    expect(r.verdict).toBe("unverified");
    expect(check(r, CHECKS.revocation)?.detail).toContain("backdated");
  });

  it("keeps a verifier's own expiry failure", () => {
    const v = keySig("publisher");
    v.checks.push({ check: CHECKS.expiry, passed: false, detail: "the signature expired (io.cncf.notary.expiry)" });
    const r = judgeTrust({ verification: v, repository: "a/b", identities: [keyId()] });
    expect(r.verdict).toBe("unverified");
    expect(r.checks.filter((c) => c.check === CHECKS.expiry)).toHaveLength(1);
    expect(check(r, CHECKS.expiry)?.passed).toBe(false);
  });
});

describe("judgeTrust: certificate identities", () => {
  const fulcio = (over: Partial<TrustIdentity> = {}): TrustIdentity => ({
    name: "acme-ci",
    kind: "certificate",
    role: "team",
    scope: ["apps/**"],
    certificates: [],
    san: "https://github.com/acme/*",
    oidcIssuer: "https://token.actions.githubusercontent.com",
    ...over,
  });

  it("matches a Fulcio certificate (empty subject) on SAN and OIDC issuer", () => {
    const r = judgeTrust({ verification: certSig("acme-ci", leaf()), repository: "apps/web", identities: [fulcio()] });
    expect(r.verdict).toBe("verified");
    expect(r.role).toBe("team");
    expect(check(r, CHECKS.identity)?.detail).toContain("SAN https://github.com/acme/app");
  });

  it("refuses a matching SAN from another OIDC issuer", () => {
    const r = judgeTrust({ verification: certSig("acme-ci", leaf({ oidcIssuer: "https://evil.example" })), repository: "apps/web", identities: [fulcio()] });
    expect(r.verdict).toBe("unverified");
    expect(r.detail).toContain("OIDC issuer is https://evil.example");
  });

  it("refuses a SAN that does not match", () => {
    const r = judgeTrust({
      verification: certSig("acme-ci", leaf({ sans: ["https://github.com/evil/app/x"] })),
      repository: "apps/web",
      identities: [fulcio()],
    });
    expect(r.verdict).toBe("unverified");
    expect(r.detail).toContain("no subject alternative name");
  });

  it("matches a subject exactly, whatever the separator spacing", () => {
    const id = fulcio({ san: null, oidcIssuer: null, subject: "C=US,ST=WA,L=Seattle,O=Notary,CN=alpine" });
    const ok = judgeTrust({
      verification: certSig("acme-ci", leaf({ subject: "C=US, ST=WA, L=Seattle, O=Notary, CN=alpine", sans: [], oidcIssuer: null })),
      repository: "apps/web",
      identities: [id],
    });
    expect(ok.verdict).toBe("verified");
    const bad = judgeTrust({
      verification: certSig("acme-ci", leaf({ subject: "C=US, ST=WA, L=Seattle, O=Notary, CN=alpine2", sans: [], oidcIssuer: null })),
      repository: "apps/web",
      identities: [id],
    });
    expect(bad.verdict).toBe("unverified");
  });

  it("an identity with no subject or SAN vouches for no certificate unless marked any identity under this root", () => {
    const anyone = leaf({ sans: ["mallory@evil.example"], oidcIssuer: "https://accounts.google.com" });
    const unmarked = judgeTrust({ verification: certSig("acme-ci", anyone), repository: "apps/web", identities: [fulcio({ san: null, oidcIssuer: null })] });
    expect(unmarked.verdict).toBe("unverified");
    expect(check(unmarked, CHECKS.identity)?.detail).toContain("not marked");
    const marked = judgeTrust({
      verification: certSig("acme-ci", anyone),
      repository: "apps/web",
      identities: [fulcio({ san: null, oidcIssuer: null, anyIdentityUnderRoot: true })],
    });
    expect(marked.verdict).toBe("verified");
    expect(check(marked, CHECKS.identity)?.detail).toContain("any certificate issued under this root");
  });

  it("tries every identity configured with the same root", () => {
    const pem = readFileSync(new URL("../testdata/sigstore-public-good-trusted-root.json", import.meta.url), "utf8");
    const raw = (JSON.parse(pem) as { certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[] }).certificateAuthorities[0]!.certChain
      .certificates[0]!.rawBytes;
    const root = `-----BEGIN CERTIFICATE-----\n${raw.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
    const r = judgeTrust({
      verification: certSig("other-team", leaf()),
      repository: "apps/web",
      identities: [fulcio({ name: "other-team", certificates: [root], san: "https://github.com/other/*" }), fulcio({ certificates: [root] })],
    });
    expect(r.verdict).toBe("verified");
    expect(r.identity).toBe("acme-ci");
  });
});

describe("loadTrustMaterial", () => {
  it("turns identities of every kind into trust material named after them, and skips an unreadable one", () => {
    const trustedRoot = JSON.parse(readFileSync(new URL("../testdata/sigstore-public-good-trusted-root.json", import.meta.url), "utf8")) as unknown;
    const m = loadTrustMaterial([
      keyId(),
      keyId({ name: "same-key-again", scope: ["apps/*"] }),
      { name: "broken", kind: "key", role: "team", scope: ["**"], publicKeyPem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" },
      { name: "notary-root", kind: "certificate", role: "team", scope: ["**"], certificates: ["-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"] },
      { name: "tsa", kind: "tsa", role: "team", scope: ["**"], certificates: ["pem"] },
      { name: "public-good", kind: "sigstore", role: "team", scope: ["**"], sigstore: trustedRoot },
    ]);
    expect(m.keys.map((k) => k.name)).toEqual(["publisher"]);
    expect(m.keys[0]!.fingerprint).toBe(pub.fingerprint);
    expect(m.certificateRoots.map((c) => c.name)).toEqual([
      "notary-root",
      expect.stringMatching(/^public-good · Fulcio/),
      expect.stringMatching(/^public-good · Fulcio/),
    ]);
    expect(m.tsaRoots.map((c) => c.name)).toEqual(["tsa", expect.stringMatching(/^public-good · TSA/)]);
    expect(m.rekorKeys).toHaveLength(2);
    expect(m.rekorKeys.every((k) => k.name.startsWith("public-good · "))).toBe(true);
    expect(m.ctLogKeys).toHaveLength(2);
  });

  it("lets a Sigstore identity vouch for what its material's entries anchored", () => {
    const r = judgeTrust({
      verification: certSig("public-good · Fulcio sigstore (https://fulcio.sigstore.dev)", leaf()),
      repository: "apps/web",
      identities: [
        {
          name: "public-good",
          kind: "sigstore",
          role: "team",
          scope: ["apps/*"],
          san: "https://github.com/acme/*",
          oidcIssuer: "https://token.actions.githubusercontent.com",
        },
      ],
    });
    expect(r.verdict).toBe("verified");
    expect(r.identity).toBe("public-good");
  });
});

describe("a revoked TSA", () => {
  // A real RFC 3161 token (GlobalSign TSA, genTime 2024-06-18) over the JWS signature of a Notation envelope.
  const envelope = JSON.parse(readFileSync(new URL("../testdata/notation-jws-with-rfc3161-timestamp.json", import.meta.url), "utf8")) as {
    signature: string;
    header: { "io.cncf.notary.timestampSignature": string };
  };
  const token = Buffer.from(envelope.header["io.cncf.notary.timestampSignature"], "base64");
  const signedData = Buffer.from(envelope.signature, "base64url");
  const root = timestampTokenCertificates(token).find((c) => c.subject === c.issuer)!;
  const tsa = (revokedAt: Date | null): TrustIdentity => ({
    name: "globalsign",
    kind: "tsa",
    role: "team",
    scope: ["**"],
    certificates: [toPem(root.der)],
    revokedAt,
  });
  const now = new Date("2026-12-01T00:00:00Z");

  it("vouches for no time once revoked, not even one its token dates before the revocation (its key could backdate it)", () => {
    expect(verifyTimestampToken({ token, signedData, tsaRoots: loadTrustMaterial([tsa(null)], now).tsaRoots })).toMatchObject({ ok: true });
    const m = loadTrustMaterial([tsa(new Date("2025-01-01T00:00:00Z"))], now);
    expect(m.tsaRoots).toEqual([]);
    expect(verifyTimestampToken({ token, signedData, tsaRoots: m.tsaRoots })).toMatchObject({ ok: false });
  });

  it("lends no trusted time to a signature: an expired signing certificate then fails at now", () => {
    // The envelope's self-signed leaf (CN=alpine) expires in 2033; judged in 2040 it verifies only at a trusted time.
    const later = new Date("2040-01-01T00:00:00Z");
    const leafPem = toPem(Buffer.from((envelope.header as unknown as { x5c: string[] }).x5c[0]!, "base64"));
    const subjectDigest = (
      JSON.parse(Buffer.from((envelope as unknown as { payload: string }).payload, "base64url").toString()) as {
        targetArtifact: { digest: string };
      }
    ).targetArtifact.digest;
    const signer: TrustIdentity = {
      name: "alpine",
      kind: "certificate",
      role: "team",
      scope: ["**"],
      certificates: [leafPem],
      subject: "C=US, ST=WA, L=Seattle, O=Notary, CN=alpine",
    };
    const run = (revokedAt: Date | null) => {
      const identities = [signer, tsa(revokedAt)];
      const v = verifyNotationSignature({
        envelope: readFileSync(new URL("../testdata/notation-jws-with-rfc3161-timestamp.json", import.meta.url)),
        mediaType: NOTATION_JWS,
        subjectDigest,
        trust: loadTrustMaterial(identities, later),
        now: later,
      });
      return judgeTrust({ verification: v, repository: "apps/web", identities, now: later });
    };
    expect(run(null)).toMatchObject({ verdict: "verified", time: { kind: "trusted" } });
    const revoked = run(new Date("2030-01-01T00:00:00Z"));
    expect(revoked.verdict).toBe("unverified");
    expect(revoked.time?.kind).toBe("claimed");
    expect(revoked.checks.find((c) => c.passed === false)?.check).toBe(CHECKS.chain);
  });

  it("a revocation still ahead ends its trust then", () => {
    const m = loadTrustMaterial([tsa(new Date("2027-01-01T00:00:00Z"))], now);
    expect(m.tsaRoots).toEqual([expect.objectContaining({ name: "globalsign", validUntil: new Date("2027-01-01T00:00:00Z") })]);
    expect(verifyTimestampToken({ token, signedData, tsaRoots: m.tsaRoots })).toMatchObject({ ok: true });
  });
});
