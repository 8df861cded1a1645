import { z } from "zod";

// The only module that reads process.env. Parsed lazily so tests and the CLI can set variables first.
const schema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  /** The registry the demo and a single-registry install use; created as registry "default" on first use. */
  REGISTRY_URL: z.url().optional(),
  /** Host clients pull the default registry from, when it differs from REGISTRY_URL's host. */
  REGISTRY_PULL_NAME: z.string().optional(),
  /** base64 of 32 random bytes; encrypts signing keys at rest (AES-256-GCM). */
  IMPRIMATUR_MASTER_KEY: z.string().optional(),
  NEXTAUTH_SECRET: z.string().min(16).optional(),
  NEXTAUTH_URL: z.string().optional(),
  /** Run the background job workers (syncs, schedule) in this process. */
  IMPRIMATUR_WORKERS: z.enum(["0", "1"]).default("1").transform((v) => v === "1"),
  /** Largest evidence document accepted (bytes); larger uploads are refused with 413 while streaming. */
  EVIDENCE_MAX_BYTES: z.coerce.number().int().positive().default(256 * 1024 * 1024),
  /** `1`: GET /api/v1/verify refuses tag references instead of resolving them from the last sync. */
  VERIFY_REFUSE_TAGS: z.enum(["0", "1"]).default("0").transform((v) => v === "1"),
  /** Per-request timeout for registry calls, in milliseconds. */
  REGISTRY_TIMEOUT_MS: z.coerce.number().int().positive().default(15_000),
  /**
   * Addresses (or IPv4 CIDRs), comma-separated, of TLS-terminating proxies whose client-certificate header is
   * believed. Empty: the header is never trusted. Needs scripts/server.mjs, which stamps the real peer address.
   */
  IMPRIMATUR_TRUSTED_PROXIES: z
    .string()
    .default("")
    .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean)),
  /** The header a trusted proxy forwards the client certificate in (Envoy XFCC, or a URL-encoded PEM). */
  IMPRIMATUR_CLIENT_CERT_HEADER: z.string().regex(/^[a-z0-9-]+$/i).default("x-forwarded-client-cert").transform((v) => v.toLowerCase()),
  /** Most signatures verified per digest (cosign layers and referrer signatures); the rest are reported as not tried. */
  SIGNATURE_VERIFY_CAP: z.coerce.number().int().min(1).max(10_000).default(100),
  /** PKCS#11 key backend: the module (.so), the token's label and its user PIN. Stages with backend pkcs11 need all three. */
  PKCS11_MODULE: z.string().min(1).optional(),
  PKCS11_TOKEN_LABEL: z.string().min(1).optional(),
  PKCS11_PIN: z.string().min(1).optional(),
  /** Repository that audit checkpoints are pushed to, as OCI artifacts tagged checkpoint-<n>. */
  IMPRIMATUR_AUDIT_REPOSITORY: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/).default("imprimatur/audit"),
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
