import { z } from "zod";

// The only module that reads process.env. Parsed lazily so tests and the CLI can set variables first.
const schema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  /** Connections each replica keeps to Postgres, at most. */
  DATABASE_POOL_MAX: z.coerce.number().int().min(2).max(500).default(10),
  /**
   * Seconds an idle connection is kept before it is closed. Long by default: a new connection is a new backend
   * process (fork, catalog caches, fresh memory) whose prepared admission statements are parsed and planned again,
   * and under a burst of load the pool opened ten at once (issue 17: node-postgres's 10 s default closed them between
   * bursts, and each burst paid for them in its p99).
   */
  DATABASE_POOL_IDLE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
  /** The registry the demo and a single-registry install use; created as registry "default" on first use. */
  REGISTRY_URL: z.url().optional(),
  /** Host clients pull the default registry from, when it differs from REGISTRY_URL's host. */
  REGISTRY_PULL_NAME: z.string().optional(),
  /** base64 of 32 random bytes; encrypts signing keys at rest (AES-256-GCM). */
  IMPRIMATUR_MASTER_KEY: z.string().optional(),
  NEXTAUTH_SECRET: z.string().min(16).optional(),
  NEXTAUTH_URL: z.string().optional(),
  /** Run the background job workers (syncs, schedule) in this process. */
  IMPRIMATUR_WORKERS: z
    .enum(["0", "1"])
    .default("1")
    .transform((v) => v === "1"),
  /** Largest evidence document accepted (bytes); larger uploads are refused with 413 while streaming. */
  EVIDENCE_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  /**
   * Largest evidence upload parsed whole in memory: every format but a CycloneDX or SPDX JSON SBOM (those stream up to
   * EVIDENCE_MAX_BYTES). A parsed document takes many times its size in memory, so a 128 MiB scan of tiny entries
   * exhausted the heap (found by review); larger ones get 413. The same bound as evidence read from a registry.
   */
  EVIDENCE_BUFFERED_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
  /**
   * Bytes of evidence uploads one server process holds at once while they arrive (in memory up to 8 MiB each, then in
   * its temp-file spool); an upload that would pass it is refused with 429, so concurrent uploads cannot fill the disk.
   */
  EVIDENCE_SPOOL_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024 * 1024),
  /** `1`: GET /api/v1/verify refuses tag references instead of resolving them from the last sync. */
  VERIFY_REFUSE_TAGS: z
    .enum(["0", "1"])
    .default("0")
    .transform((v) => v === "1"),
  /** Per-request timeout for registry calls, in milliseconds. */
  REGISTRY_TIMEOUT_MS: z.coerce.number().int().positive().default(15_000),
  /**
   * Addresses (or IPv4 CIDRs), comma-separated, of TLS-terminating proxies whose client-certificate header is
   * believed. Empty: the header is never trusted. Needs scripts/server.mjs, which stamps the real peer address.
   */
  IMPRIMATUR_TRUSTED_PROXIES: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  /** The header a trusted proxy forwards the client certificate in (Envoy XFCC, or a URL-encoded PEM). */
  IMPRIMATUR_CLIENT_CERT_HEADER: z
    .string()
    .regex(/^[a-z0-9-]+$/i)
    .default("x-forwarded-client-cert")
    .transform((v) => v.toLowerCase()),
  /** Most signatures verified per digest (cosign layers and referrer signatures); the rest are reported as not tried. */
  SIGNATURE_VERIFY_CAP: z.coerce.number().int().min(1).max(10_000).default(100),
  /** PKCS#11 key backend: the module (.so), the token's label and its user PIN. Stages with backend pkcs11 need all three. */
  PKCS11_MODULE: z.string().min(1).optional(),
  PKCS11_TOKEN_LABEL: z.string().min(1).optional(),
  PKCS11_PIN: z.string().min(1).optional(),
  /** OpenID Connect sign-in (provider id `oidc`): the issuer URL (discovery at <issuer>/.well-known/openid-configuration). */
  OIDC_ISSUER: z.url().optional(),
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /** Space-separated scopes requested; `openid` is always included. */
  OIDC_SCOPES: z.string().default("openid email profile groups"),
  /** The ID token / userinfo claim that lists the user's groups. */
  OIDC_GROUPS_CLAIM: z
    .string()
    .regex(/^[A-Za-z0-9_:./-]{1,128}$/)
    .default("groups"),
  /** Shown on the sign-in button: "Sign in with <name>". */
  OIDC_DISPLAY_NAME: z.string().min(1).max(64).default("SSO"),
  /** Provider groups to roles, e.g. `security=reviewer,imprimatur-admins=admin`; the highest role wins; no match, no access. */
  OIDC_ROLE_MAP: z.string().default(""),
  /**
   * API tokens and client certificates of accounts linked to the provider work only while their owner has signed in
   * through it within this many days (the provider never hears of a token; this is how its removals reach them).
   * 0: no limit.
   */
  OIDC_TOKEN_SIGNIN_DAYS: z.coerce.number().int().min(0).max(3650).default(0),
  /** `0`: no password sign-in except for admins (a break-glass admin made with the CLI signs in at /signin?password=1). */
  IMPRIMATUR_PASSWORD_LOGIN: z
    .enum(["0", "1"])
    .default("1")
    .transform((v) => v === "1"),
  /** API tokens: lifetime when none is asked for, and the longest allowed (days). */
  IMPRIMATUR_TOKEN_DEFAULT_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  IMPRIMATUR_TOKEN_MAX_DAYS: z.coerce.number().int().min(1).max(3650).default(365),
  /**
   * An RFC 3161 Time Stamping Authority: every stage signature (and its Sigstore bundle) gets a token over the raw
   * signature bytes. Its chain must be trusted as a trust identity of kind tsa. Unset: Imprimatur's record is the time.
   */
  IMPRIMATUR_TSA_URL: z.url().optional(),
  /** Timeout of one TSA request, in milliseconds. */
  IMPRIMATUR_TSA_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Largest advisory import accepted (bytes, compressed for a ZIP); larger bodies are refused with 413 while streaming. */
  ADVISORY_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  /** Most entries, and most inflated bytes in total, an advisory ZIP may hold (zip bombs, 100,000-file archives). */
  ADVISORY_ZIP_MAX_ENTRIES: z.coerce.number().int().positive().max(65_534).default(50_000),
  ADVISORY_ZIP_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(512 * 1024 * 1024),
  /** An OSV feed fetched on a schedule (an osv.dev ecosystem all.zip, a JSON array or one record), for connected installs. */
  ADVISORY_FEED_URL: z.url().optional(),
  /** Hours between two fetches of ADVISORY_FEED_URL. */
  ADVISORY_FEED_INTERVAL_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 30)
    .default(24),
  /** `1`: a bulk revocation must be confirmed by a second person (not the one who started it). */
  BULK_REVOCATION_TWO_PERSON: z
    .enum(["0", "1"])
    .default("0")
    .transform((v) => v === "1"),
  /** Repository that audit checkpoints are pushed to, as OCI artifacts tagged checkpoint-<n>. */
  IMPRIMATUR_AUDIT_REPOSITORY: z
    .string()
    .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/)
    .default("imprimatur/audit"),
  /** Registry (by name) for audit checkpoints; default: the only or default registry. */
  IMPRIMATUR_AUDIT_REGISTRY: z.string().min(1).optional(),
  /** Minutes between scheduled checkpoints (made only when the chain has grown). */
  IMPRIMATUR_AUDIT_CHECKPOINT_MINUTES: z.coerce.number().int().min(1).max(10_080).default(60),
});

export type Env = z.infer<typeof schema>;

let cached: Env | undefined;

export function env(): Env {
  if (cached) return cached;
  const r = schema.safeParse(process.env);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid environment: ${problems}`);
  }
  cached = r.data;
  return cached;
}

/** For tests that change variables between cases. */
export function resetEnvCache(): void {
  cached = undefined;
}
