import "server-only";
import { wellFormedJson } from "../well-formed-json";
import { z } from "zod";
import type { Prisma } from "../db";
import { AppError } from "../errors";
import { GATE_IDS, gateConfigSchema, type GateId } from "../policy/gates";
import { sigstoreThresholds } from "./trust/trust-identity-input";

/**
 * Checked reads of the JSON columns (issue 11, item 5). Prisma types a `Json` column as `JsonValue`: anything. A row
 * may have been written by an older release, edited by hand, or restored from elsewhere, so every read site parses it
 * with the one schema below instead of casting, and every write site types its value with the same schema's input
 * type (`jsonColumn(schema, value)`), so reads and writes share one definition.
 *
 * What a row that does not parse means is decided per column, and written next to its schema:
 *  - fail closed (`readJson`): the value decides something (stage gates, trust thresholds, gate results that are
 *    signed into an attestation, the items of a bulk revocation, the digests evidence may name). The read throws
 *    `JsonColumnError` naming table, column and row; the action stops, nothing is treated as "none".
 *  - display only (`readDisplayJson`): the value is shown and decides nothing (labels, history, last sync info,
 *    signature check lists). What parses is shown, the entries that do not are dropped and listed as unreadable,
 *    the page never crashes.
 *
 * `audit_events.detail` / `audit_outbox.detail` are typed per audit kind elsewhere; `advisories.raw` is re-parsed by
 * the OSV parser (lib/evidence/osv); `trust_identities.sigstore` is parsed by lib/signing/trust (an unreadable
 * trusted root grants no trust) and only counted here for display.
 */

/** Where a JSON value was read from: named in every error and warning. */
export interface JsonColumnRef {
  table: string;
  column: string;
  id: string | number | bigint;
}

const MAX_ISSUES = 5;

function describeIssues(error: z.ZodError): string {
  const list = error.issues.slice(0, MAX_ISSUES).map((i) => `${i.path.length ? i.path.join(".") : "(value)"}: ${i.message}`);
  if (error.issues.length > MAX_ISSUES) list.push(`and ${error.issues.length - MAX_ISSUES} more`);
  return list.join("; ");
}

/**
 * A stored JSON value that does not have the shape its column holds. An internal error (500): the caller did nothing
 * wrong and cannot fix it; the message names the row so an operator can. It names no value, only paths.
 */
export class JsonColumnError extends AppError {
  readonly table: string;
  readonly column: string;
  readonly rowId: string;
  readonly issues: string;

  constructor(ref: JsonColumnRef, issues: string, hint?: string) {
    super("INTERNAL", `stored ${ref.table}.${ref.column} of row ${String(ref.id)} is unreadable (${issues}); it was not used${hint ? `. ${hint}` : ""}`);
    this.name = "JsonColumnError";
    this.table = ref.table;
    this.column = ref.column;
    this.rowId = String(ref.id);
    this.issues = issues;
  }
}

/** Fail closed: the parsed value, or a JsonColumnError naming table, column and row. */
export function readJson<S extends z.ZodType>(schema: S, value: unknown, ref: JsonColumnRef & { hint?: string }): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new JsonColumnError(ref, describeIssues(r.error), ref.hint);
  return r.data;
}

export interface DisplayRead<T> {
  /** What parses: the whole value, or the value without its unreadable entries; null when nothing is usable. */
  value: T | null;
  /** Paths of the entries left out ("labels.maintainer", "[3]"), or ["(value)"] when the whole value was. Empty: all read. */
  unreadable: string[];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) s = s.unwrap() as z.ZodType;
  return s;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The value without the array items / record or object entries its schema refuses, and their paths. */
function salvage(schema: z.ZodType, value: unknown): { input: unknown; dropped: string[] } | null {
  const s = unwrap(schema);
  if (s instanceof z.ZodArray && Array.isArray(value)) {
    const dropped: string[] = [];
    const element = s.element as z.ZodType;
    const input = value.filter((v, i) => (element.safeParse(v).success ? true : (dropped.push(`[${i}]`), false)));
    return { input, dropped };
  }
  if ((s instanceof z.ZodRecord || s instanceof z.ZodObject) && isPlainObject(value)) {
    const fieldSchema = (k: string): z.ZodType | undefined =>
      s instanceof z.ZodRecord ? (s.valueType as z.ZodType) : (s.shape as Record<string, z.ZodType>)[k];
    const dropped: string[] = [];
    const input = Object.fromEntries(Object.entries(value).filter(([k, v]) => (fieldSchema(k)?.safeParse(v).success ? true : (dropped.push(k), false))));
    return { input, dropped };
  }
  return null;
}

/**
 * Display only: never throws. A value that does not parse as a whole is read entry by entry (array items, record
 * and object entries); the entries that parse are kept, the others listed in `unreadable` and logged with the row.
 */
export function readDisplayJson<S extends z.ZodType>(schema: S, value: unknown, ref: JsonColumnRef): DisplayRead<z.output<S>> {
  const whole = schema.safeParse(value);
  if (whole.success) return { value: whole.data, unreadable: [] };
  const part = salvage(schema, value);
  const again = part ? schema.safeParse(part.input) : null;
  const result: DisplayRead<z.output<S>> = again?.success && part ? { value: again.data, unreadable: part.dropped } : { value: null, unreadable: ["(value)"] };
  console.warn(
    `[json-columns] ${ref.table}.${ref.column} of row ${String(ref.id)}: unreadable ${result.unreadable.join(", ")} (${describeIssues(whole.error)})`,
  );
  return result;
}

/**
 * The value a write stores, typed with the column schema's input type: a write that no longer matches what the
 * readers parse fails to compile. Returns the value unchanged (Prisma's JSON input type).
 */
export function jsonColumn<S extends z.ZodType>(_schema: S, value: z.input<S>): Prisma.InputJsonValue {
  // A lone surrogate from hostile input (a registry label, an attestation's material) becomes U+FFFD: jsonb refuses the
  // escape JSON.stringify would write, which would fail the whole write with a 500.
  return JSON.parse(wellFormedJson(value)) as Prisma.InputJsonValue;
}

// ---------------------------------------------------------------------------------------------------------------
// Fail closed

/** stages.gates — fail closed: a stage whose gates cannot be read must not be judged as "no gates". */
export const stageGatesColumn = gateConfigSchema;

/** trust_identities.sigstore_thresholds — fail closed: a threshold that cannot be read must not fall back to the looser default. */
export const sigstoreThresholdsColumn = sigstoreThresholds;

const gateResult = z.object({
  gate: z.enum(GATE_IDS as [GateId, ...GateId[]]),
  label: z.string(),
  passed: z.boolean(),
  waived: z.boolean(),
  waiverIds: z.array(z.string()),
  detail: z.string(),
  failingIds: z.array(z.string()).optional(),
});

/**
 * promotion_requests.gate_results / reviews.gate_results (the gates as judged at the decision) — fail closed: they
 * go into the signed verification summary and say why a request was approved; an unreadable record is not "passed".
 */
export const gateResultsColumn = z.array(gateResult);

/** bulk_revocations.items — fail closed: the job must revoke exactly what was confirmed, or nothing. */
export const bulkRevocationItemsColumn = z.array(
  z.object({
    approvalId: z.string().min(1),
    imageId: z.string().min(1),
    registry: z.string(),
    repository: z.string(),
    digest: z.string(),
    stage: z.string(),
    status: z.string(),
    approvedAt: z.string(),
    approver: z.string(),
    requester: z.string().nullable(),
    reviewers: z.array(z.string()),
    viaIndexOf: z.string().nullable(),
  }),
);

/** bulk_revocations.outcomes (approval id → outcome) — fail closed: an approval with an outcome is not touched again. */
export const bulkRevocationOutcomesColumn = z.record(z.string(), z.string());

const platform = z.object({
  digest: z.string(),
  mediaType: z.string(),
  size: z.number(),
  os: z.string(),
  architecture: z.string(),
  variant: z.string().optional(),
  // A buildx attestation manifest (lib/oci/manifest.ts isAttestationEntry): only `true`, anything else fails closed.
  attestation: z.literal(true).optional(),
});

/**
 * images.platforms (an index's platform manifests, from indexPlatforms) — fail closed where it says which digests
 * evidence may name (ingest); read for display on the image page.
 */
export const imagePlatformsColumn = z.array(platform);

/** webhook_deliveries.payload (what emitEvent stored) — fail closed: a delivery that cannot be read is not sent. */
export const webhookPayloadColumn = z.object({ event: z.string(), at: z.string() }).catchall(z.unknown());

// ---------------------------------------------------------------------------------------------------------------
// Display only

/** images.labels (the config's Labels, as the image wrote them) — display only. */
export const imageLabelsColumn = z.record(z.string(), z.string());

/** images.history (the config's history, first 500 entries, as the image wrote it) — display only. */
export const imageHistoryColumn = z.array(
  z
    .object({
      created: z.string().optional(),
      created_by: z.string().optional(),
      author: z.string().optional(),
      comment: z.string().optional(),
      empty_layer: z.boolean().optional(),
    })
    .loose(),
);

const count = z.number().int().nonnegative();

/** sync_runs.stats (SyncStats) — display only. */
export const syncRunStatsColumn = z.object({
  repositories: count,
  tags: count,
  newManifests: count,
  manifestBodiesFetched: count,
  tagMoves: count,
  deleted: count,
  signaturesChecked: count,
  artifacts: count,
  evidenceErrors: count,
  pendingCompleted: count,
  durationMs: z.number().nonnegative(),
});

/** sync_runs.errors (one per failed repository; "*" for the whole run) — display only. */
export const syncRunErrorsColumn = z.array(z.object({ repository: z.string(), message: z.string() }));

/** registries.last_sync_info (the run's stats, the number of errors, the fatal error) — display only. */
export const registryLastSyncInfoColumn = syncRunStatsColumn.partial().extend({
  status: z.string().optional(),
  errors: count.optional(),
  fatal: z.string().nullable().optional(),
  syncRunId: z.string().optional(),
});

/** registries.last_test_result (ConnectionTest, plus the realm note) — display only. */
export const registryLastTestResultColumn = z.object({
  ok: z.boolean(),
  apiVersion: z.string().optional(),
  stage: z.string().optional(),
  detail: z.string().optional(),
  status: z.number().optional(),
  challenge: z.string().optional(),
  realm: z.string().optional(),
  credentialsTried: z.boolean().optional(),
  realmChanged: z.boolean().optional(),
  message: z.string().optional(),
});

/** signatures.checks (CheckResult[], the verifier's pipeline) — display only: the verdict column decides. */
export const signatureChecksColumn = z.array(z.object({ check: z.string(), passed: z.boolean().nullable(), detail: z.string() }));

const certificateSummary = z.object({
  subject: z.string(),
  issuer: z.string(),
  serial: z.string(),
  notBefore: z.string(),
  notAfter: z.string(),
  fingerprint: z.string(),
  sans: z.array(z.string()),
  oidcIssuer: z.string().nullable(),
});

/** signatures.signer (SignerIdentity: a key or a certificate chain) — display only: the verdict and key columns decide. */
export const signatureSignerColumn = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("key"), fingerprint: z.string(), algorithm: z.string() }),
  z.object({ kind: z.literal("certificate"), leaf: certificateSummary, chain: z.array(certificateSummary) }),
]);

/** signatures.optional (the cosign payload's `optional` map, as the signer wrote it) — display only. */
export const signatureOptionalColumn = z.record(z.string(), z.unknown());

/** provenance.materials (Material[] from the in-toto statement) — display only: gates read builder and source columns. */
export const provenanceMaterialsColumn = z.array(z.object({ uri: z.string(), digest: z.record(z.string(), z.string()).optional() }));

/** trust_identities.sigstore, counted for display (lib/signing/trust parses it for verification). */
export const sigstoreMaterialCountsColumn = z
  .object({
    certificateAuthorities: z.array(z.unknown()).optional(),
    tlogs: z.array(z.unknown()).optional(),
    ctlogs: z.array(z.unknown()).optional(),
    timestampAuthorities: z.array(z.unknown()).optional(),
  })
  .loose();
