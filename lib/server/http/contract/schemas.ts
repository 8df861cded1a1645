// The request schemas of the API routes: route handlers parse with them (parseBody / parseQuery) and the OpenAPI
// document (lib/server/http/openapi) is generated from them, so the two cannot drift. Schemas that belong to a domain
// action stay next to it (registries, trust identities, users, ImageReview, image lists, evidence) and are imported
// by operations.ts from there.
import { z } from "zod";
import { isDigest } from "../../../oci/digest";
import { isRepositoryName } from "../../../oci/reference";

const digest = () => z.string().refine(isDigest, "must be sha256:<64 lowercase hex>").meta({ pattern: "^sha256:[a-f0-9]{64}$" });
const repository = () => z.string().refine(isRepositoryName, "not a valid repository name").meta({ description: "repository name, e.g. team/app" });

// ---- admission
export const namespacePolicyBody = z
  .object({ namespace: z.string().min(1).max(253), stage: z.string().min(1).max(64).nullable().optional(), exempt: z.boolean().optional() })
  .strict();

// ---- advisories
export const advisoriesQuery = z.object({
  q: z.string().max(500).optional().meta({ description: "GHSA-…, CVE-… or text" }),
  page: z
    .string()
    .regex(/^\d{1,6}$/, "page must be a number")
    .optional(),
});

// ---- approvals
export const approvalBody = z
  .object({
    registry: z.string().min(1).max(100).optional(),
    repository: repository(),
    digest: digest(),
    stage: z.string().min(1).max(64),
    comment: z.string().trim().min(1, "a comment is required").max(2000),
  })
  .strict();
export const revokeApprovalBody = z.object({ reason: z.string().max(1000) }).strict();

// ---- audit (parsed by lib/server/audit/audit-filter.ts, which adds the semantic checks; described here)
const auditFilters = {
  actor: z.string().max(320).optional().meta({ description: "actor email or label" }),
  action: z.string().max(80).optional().meta({ description: "an event kind (request.created) or a family (request.*)" }),
  target: z.string().max(600).optional().meta({ description: "digest:…, repository:…, registry:…, stage:…, request:<uuid>, or text" }),
  outcome: z.string().max(20).optional(),
  from: z.string().max(40).optional().meta({ description: "ISO 8601 date or time" }),
  to: z.string().max(40).optional().meta({ description: "ISO 8601 date or time; a bare date includes that day" }),
};
export const auditQuery = z
  .object({
    ...auditFilters,
    cursor: z
      .string()
      .regex(/^[1-9]\d{0,17}$/, "cursor must be the seq of the last event of the previous page")
      .optional()
      .meta({ description: "`next` of the previous page" }),
    limit: z
      .string()
      .regex(/^\d{1,6}$/, "limit must be 1-500")
      .optional()
      .meta({ description: "1-500, default 100" }),
  })
  .strict();
export const auditExportQuery = z.object({ ...auditFilters, format: z.enum(["csv", "ndjson"], "format must be csv or ndjson").default("ndjson") }).strict();
export const noQuery = z.object({}).strict();

// ---- evidence
export const evidenceUploadersBody = z
  .object({
    rules: z
      .array(
        z
          .object({
            pattern: z
              .string()
              .min(1)
              .max(255)
              .regex(/^[a-z0-9._\-/*?]+$/, "must be a repository pattern such as apps/*, team/** or **"),
            group: z.string().min(1).max(100),
          })
          .strict(),
      )
      .max(200),
  })
  .strict();
export const withdrawEvidenceBody = z.object({ reason: z.string().trim().min(5, "withdrawing evidence needs a reason").max(2000) }).strict();
export const imageRegistryQuery = z.object({
  registry: z.string().max(100).optional().meta({ description: "registry name, when the repository exists in several" }),
});

// ---- groups
export const groupBody = z
  .object({ name: z.string().min(1).max(64), description: z.string().max(500).optional(), members: z.array(z.string().email()).max(500).optional() })
  .strict();

// ---- keys
export const importKeyBody = z
  .object({
    pem: z
      .string()
      .min(1)
      .max(64 * 1024),
    password: z.string().max(1024),
    name: z.string().max(64).optional(),
  })
  .strict();
/**
 * An ISO-8601 time with a zone that Postgres can store: years 1 to 9999 in UTC. "0000-01-01T00:00:00Z" is a valid
 * ISO string, and Postgres refused it with an error that surfaced as a 500 (found by review).
 */
function isoTime() {
  return z.iso.datetime({ offset: true }).refine((v) => {
    const y = new Date(v).getUTCFullYear();
    return y >= 1 && y <= 9999;
  }, "must be a time from year 1 to 9999 (UTC)");
}

export const revokeKeyBody = z
  .object({
    effectiveAt: isoTime(),
    reason: z.string().max(1000),
    dryRun: z.boolean().optional(),
    key: z.string().min(1).max(64).optional(),
  })
  .strict();
export const rotateKeyBody = z.object({ name: z.string().max(64).optional(), backend: z.enum(["software", "pkcs11"]).optional() }).strict();
export const keyHistoryQuery = z.object({ format: z.string().max(20).optional().meta({ description: "pem: one multi-PEM file; otherwise JSON" }) });

// ---- promotion requests
export const listRequestsQuery = z.object({
  view: z.enum(["inbox", "mine", "all"]).default("all"),
  status: z.enum(["open", "approved", "signed", "rejected", "withdrawn"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(200),
});
export const requestPromotionBody = z
  .object({
    registry: z.string().min(1).max(100).optional(),
    repository: repository(),
    digest: digest(),
    stage: z.string().min(1).max(64),
    note: z.string().trim().max(2000).default(""),
  })
  .strict();
export const reviewBody = z
  .object({
    decision: z.enum(["approve", "reject"]),
    comment: z.string().trim().max(2000).default(""),
    breakGlass: z.boolean().default(false),
    /**
     * With break glass: the failing gates (labels) the confirmation listed. A gate failing now that it did not list
     * refuses the approval (409), so nothing is overridden that the admin did not see. Omitted: none listed.
     */
    expectOverrides: z.array(z.string().max(200)).max(50).optional(),
    /**
     * With break glass: the vulnerability ids over a findings gate's limit that the confirmation listed (the request's
     * gates[].failingIds). One failing now that it did not list refuses the approval (409).
     */
    expectFailingIds: z.array(z.string().max(200)).max(10_000).optional(),
  })
  .strict();
export const withdrawRequestBody = z.object({ reason: z.string().trim().max(2000).default("") }).strict();

// ---- registries
/** The realm the person confirming was shown: confirmed only if it is still the one pending. */
export const confirmRealmBody = z.object({ realm: z.string().min(1).max(2048).optional() }).strict();

// ---- revocations
export const bulkRevocationBody = z
  .object({
    query: z.string().trim().min(1, "a fleet search query is required, e.g. lodash < 4.17.21").max(500),
    stages: z.array(z.string().min(1).max(64)).min(1, "choose at least one stage").max(50),
    reason: z.string().max(1000).optional(),
    dryRun: z.boolean().default(true),
    images: z
      .array(
        z
          .object({
            registry: z.string().min(1).max(100),
            repository: z.string().min(1).max(255),
            digest: z.string().regex(/^sha256:[a-f0-9]{64}$/, "must be sha256:<64 hex>"),
          })
          .strict(),
      )
      .max(100_000)
      .optional(),
    /**
     * The approval ids the dry run listed (what the confirmation showed): the revocation is refused with 409 when the
     * plan made now differs, so nothing is revoked that the person confirming did not see.
     */
    expectApprovals: z.array(z.uuid()).max(100_000).optional(),
  })
  .strict();

// ---- search
export const searchPackagesQuery = z.object({
  q: z
    .string("q is required, e.g. openssl < 3.0.7")
    .trim()
    .min(1, "q is required, e.g. openssl < 3.0.7 or pkg:maven/org.apache.logging.log4j/log4j-core vers:maven/>=2.0.0|<2.17.1")
    .max(500, "q is longer than 500 characters"),
  format: z.string().max(20).optional().meta({ description: "csv: a CSV download of every match; otherwise JSON" }),
  limit: z
    .string()
    .regex(/^\d{1,6}$/, "limit must be a number of results (0 = all)")
    .optional()
    .meta({ description: "JSON only; default 500, 0 = all" }),
  deleted: z.string().max(20).optional().meta({ description: "1: include deleted images" }),
});

// ---- stages
export const stageBody = z
  .object({
    requiredApprovals: z.number().int().min(1).max(50).optional(),
    reviewerGroups: z.array(z.string().min(1).max(64)).max(20).optional(),
    waiverGroup: z.string().min(1).max(64).nullable().optional(),
    gates: z.unknown().optional(),
    emitBundle: z.boolean().optional(),
    approvalTtlDays: z.number().int().min(1).max(3650).nullable().optional(),
    onRegression: z.enum(["flag", "revoke-after"]).optional(),
    regressionGraceHours: z
      .number()
      .int()
      .min(0)
      .max(24 * 365)
      .optional(),
  })
  .strict();
export const stagePolicyQuery = z.object({
  format: z
    .string("format is required: kyverno, kyverno-clusterpolicy, policy-controller or cosign")
    .max(40)
    .meta({ description: "kyverno, kyverno-clusterpolicy, policy-controller or cosign" }),
  images: z.array(z.string().max(2000)).max(100).optional().meta({ description: "image globs, repeated or comma-separated (at most 100)" }),
  requireVerificationSummary: z.enum(["true", "false"], "requireVerificationSummary must be true or false").optional(),
});

// ---- sync
export const syncBody = z.object({ registry: z.string().min(1).max(100).optional() }).strict();

// ---- tokens
export const createTokenBody = z
  .object({
    email: z.email().max(254).optional(),
    name: z.string().trim().min(1).max(100).optional(),
    scopes: z.array(z.string().max(32)).min(1).max(10),
    expires: z.string().max(16).optional(),
  })
  .strict();

// ---- verify
export const verifyQuery = z.object({
  image: z
    .string("image is required (e.g. registry.example.com/team/app@sha256:…)")
    .min(1)
    .max(2000)
    .meta({ description: "registry.example.com/team/app@sha256:… (a tag is resolved unless VERIFY_REFUSE_TAGS)" }),
  stage: z.string("stage is required").min(1).max(64),
});

// ---- waivers
export const listWaiversQuery = z.object({ stage: z.string().max(64).optional() });
export const grantWaiverBody = z
  .object({
    stage: z.string().min(1).max(64),
    gate: z.string().min(1).max(32),
    vulnIds: z.array(z.string().max(100)).max(200).default([]),
    registry: z.string().min(1).max(100).optional(),
    repository: repository(),
    digest: digest().nullable().optional(),
    reason: z.string().trim().min(5, "a waiver needs a reason").max(2000),
    expiresAt: isoTime(),
    requestId: z.uuid().optional(),
  })
  .strict();
export const revokeWaiverBody = z.object({ reason: z.string().trim().min(3).max(2000) }).strict();

// ---- webhooks
export const webhookBody = z
  .object({
    name: z.string().min(1).max(64),
    url: z.string().min(1).max(2000),
    events: z.array(z.string()).max(20).default([]),
    format: z.string().max(20).optional(),
    stages: z.array(z.string().max(64)).max(50).optional(),
    repositories: z.array(z.string().max(255)).max(50).optional(),
  })
  .strict();

// ---- health
export const healthQuery = z.object({ ready: z.string().max(10).optional().meta({ description: "1: readiness (checks the database); otherwise liveness" }) });

// ---- reports
export const reportQuery = z
  .object({
    format: z.enum(["csv", "json"], "format must be csv or json").default("json"),
    from: z.string().max(40).optional().meta({ description: "start of the period: a date (2026-11-01) or an ISO time; default: 30 days before `to`" }),
    to: z
      .string()
      .max(40)
      .optional()
      .meta({ description: "end of the period: a date (that whole day included) or an ISO time; default: now; at most 366 days after `from`" }),
  })
  .strict();
