// The typed list of audit event kinds: every `action` the code writes, with the shape of its `detail` as stored
// (after the JSON round trip: times are ISO strings, absent fields are left out). Plain data + zod, no Node, no
// Prisma, no React: the writers (lib/server/audit) validate against it, the catalogue (lib/audit-catalogue.ts)
// reads with it, and the browser may import it. To add a kind: add its schema here, its sentence to AUDIT_KINDS in
// lib/audit-catalogue.ts (tsc requires it), then write it; lib/audit-catalogue.test.ts scans the source for kinds
// written without a schema and for schemas nobody writes.
// Objects are strict: a field added at a call site without being added here fails tsc or, if it came through a
// spread, the writer at run time. Rows already stored are never rewritten (they are hash-chained), so a row written
// before a shape changed reads with the generic sentence.
import { z } from "zod";

const s = z.string();
const sN = s.nullable();
const int = z.number().int();
/** A time as `Date.toISOString()` writes it. */
const iso = z.iso.datetime();
const strs = z.array(s);
const obj = z.strictObject;

/** The refusal written when a state change is denied (outcome "denied"). */
const deniedRequest = obj({ requestId: s, reason: s });
const deniedApproval = obj({ approvalId: s, reason: s });
/** A registry write that failed and will be retried (outcome "failure"). */
const failedPush = obj({ approvalId: s, error: s });

const review = {
  requestId: s,
  stage: s,
  comment: sN,
  approvals: int,
  required: int,
  waiverIds: strs,
  /** Earlier approvals that no longer counted towards N, and why ("carol@example.com: the account is disabled"). */
  notCounted: strs.optional(),
};
const evidence = obj({
  documentId: s,
  contentDigest: s,
  format: s,
  kind: s,
  components: int,
  findings: int,
  signature: s,
  signedBy: sN,
  artifactDigest: sN,
  /** Ingested from a streamed upload (the large-file path). */
  streamed: z.literal(true).optional(),
  /** A scan time in the future was clamped to the ingest time: what the scanner claimed (as written), and what was kept. */
  statedScanTime: s.optional(),
  scanTimeClampedTo: iso.optional(),
  /** One statement of a multi-statement upload (JSON Lines / several subjects): the upload and its line. */
  upload: s.optional(),
  line: int.nullable().optional(),
  statements: int.optional(),
  /** Stored but not counted in gates or advisory matching (unsigned registry evidence under evidence-uploader rules): why. */
  notCounted: s.optional(),
  /** The same payload was received before for this subject (a scan's age counts from then): its digest and that time. */
  payloadDigest: s.optional(),
  payloadFirstSeenAt: iso.optional(),
});
const keyInstalled = obj({ key: s, fingerprint: s, backend: s, retired: z.array(obj({ key: s, fingerprint: s, notAfter: iso })), stageBackend: s.optional() });
const stageSettings = obj({
  requiredApprovals: int,
  gates: z.unknown(),
  reviewerGroups: strs,
  waiverGroup: sN,
  emitBundle: z.boolean(),
  approvalTtlDays: int.nullable(),
  onRegression: s,
  regressionGraceHours: int,
});
const trustThresholds = obj({ tlog: int.optional(), timestamp: int.optional(), ctlog: int.optional() });
const trustChanges = obj({
  role: s.optional(),
  scope: strs.optional(),
  builderIds: strs.optional(),
  subject: sN.optional(),
  san: sN.optional(),
  oidcIssuer: sN.optional(),
  anyIdentityUnderRoot: z.boolean().optional(),
  validFrom: iso.nullable().optional(),
  validUntil: iso.nullable().optional(),
  thresholds: trustThresholds.nullable().optional(),
  revokedAt: iso.nullable().optional(),
});
const groupMembers = obj({ description: sN, membersBefore: strs, members: strs });
const registryTest = z.union([
  obj({ ok: z.literal(true), apiVersion: s.optional(), realm: s.optional(), realmChanged: z.literal(true).optional(), message: s.optional() }),
  obj({
    ok: z.literal(false),
    stage: z.enum(["dns", "tls", "connect", "auth", "api", "ssrf"]),
    detail: s,
    status: int.optional(),
    challenge: s.optional(),
    realm: s.optional(),
    credentialsTried: z.boolean().optional(),
    realmChanged: z.literal(true).optional(),
    message: s.optional(),
  }),
]);
const syncStats = {
  repositories: int,
  tags: int,
  newManifests: int,
  manifestBodiesFetched: int,
  tagMoves: int,
  deleted: int,
  signaturesChecked: int,
  artifacts: int,
  evidenceErrors: int,
  pendingCompleted: int,
  durationMs: int,
};
const imageRef = { registry: s, repository: s, digest: s, stage: s, approvalId: s, since: iso };

export const AUDIT_EVENTS = {
  // Promotion workflow
  "request.create": obj({
    requestId: s,
    stage: s,
    note: sN,
    renews: s.optional(),
    previousApproval: s.optional(),
    because: z.enum(["revoked", "expired"]).optional(),
  }),
  "request.withdraw": obj({ requestId: s, stage: s, reason: sN }),
  "request.reject": obj({ requestId: s, stage: s, reason: sN }),
  /** An API request refused before its handler ran (cross-site cookie write, wrong media type, token scope). */
  "request.denied": obj({ status: int, reason: s }),
  "review.approve": z.union([obj(review), deniedRequest]),
  /** Written only when a rejection is denied; an accepted rejection is request.reject. */
  "review.reject": deniedRequest,
  "review.break-glass": obj({ ...review, overridden: strs }),
  "approval.create": obj({
    approvalId: s,
    requestId: s,
    stage: s,
    key: s,
    keyFingerprint: s,
    layerDigest: s,
    approvers: strs,
    breakGlass: z.boolean(),
    waiverIds: strs,
  }),
  "approval.revoke": z.union([obj({ approvalId: s, requestId: sN, stage: s, reason: s, source: s, layerDigest: sN, status: s }), deniedApproval]),
  "approval.revoke.registry": z.union([
    obj({ approvalId: s, stage: s, removedLayer: sN, tag: s, removedBundle: s.optional() }),
    obj({ approvalIds: strs, error: s }),
  ]),
  "signature.push": z.union([obj({ approvalId: s, stage: s, layerDigest: sN, tag: s }), failedPush]),
  "signature.timestamp": z.union([obj({ approvalId: s, stage: s, genTime: iso, tsa: s }), failedPush]),
  "bundle.push": obj({ approvalId: s, stage: s, key: s, artifactDigest: s, bundleDigest: s, via: s, tag: s.optional() }),
  "verification-summary.push": obj({ approvalId: s, stage: s, key: s, layerDigest: s, tag: s, bundleArtifactDigest: s.optional() }),
  "verification-summary.remove": obj({ approvalId: s, layerDigest: s, tag: s, bundleArtifactDigest: s.optional() }),
  "revocation.bulk": obj({ bulkRevocationId: s, query: s, stages: strs, reason: s, images: int, approvals: int, approvalIds: strs, status: s }),
  "revocation.bulk.confirm": obj({ bulkRevocationId: s, approvals: int, requestedBy: s }),
  // `error`: the job stopped because its stored items could not be read (a failure outcome).
  "revocation.bulk.finish": obj({ bulkRevocationId: s, total: int, done: int, failed: int, error: s.optional() }),
  "image.at-risk": obj({ ...imageRef, reasons: strs, onRegression: s, revokeAt: iso.nullable() }),
  "image.at-risk.resolved": obj(imageRef),
  // Waivers
  "waiver.grant": obj({ waiverId: s, stage: s, gate: s, vulnIds: strs, scope: z.enum(["digest", "repository"]), reason: s, expiresAt: iso }),
  "waiver.revoke": obj({ waiverId: s, stage: s, gate: s, reason: sN }),
  // Evidence and advisories
  "evidence.upload": evidence,
  "evidence.discover": evidence,
  "evidence.withdraw": obj({ documentId: s, contentDigest: s, kind: s, format: s, uploadedBy: sN, signature: s, reason: s }),
  "evidence.uploaders.set": obj({
    before: z.array(obj({ pattern: s, group: s })),
    after: z.array(obj({ pattern: s, group: s })),
    /** Registry documents counted, or no longer counted, under the new rules (absent on rows written before it existed). */
    registryDocumentsRecounted: int.optional(),
  }),
  /** The one-off recount of registry evidence an upgrade left owed (run-pending-evidence-recount.ts), under the rules then saved. */
  "evidence.recounted": obj({ reason: s, rules: strs, registryDocumentsRecounted: int }),
  "advisory.import": obj({
    records: int,
    created: int,
    updated: int,
    unchanged: int,
    skipped: int,
    skippedEcosystems: z.record(s, int),
    findings: int,
    images: int,
    advisories: strs,
    more: int,
    // Records refused one by one (the scheduled feed); absent on events from before, and on uploads (refused whole).
    refused: int.optional(),
    refusedRecords: z.array(obj({ record: s, reason: s })).optional(),
  }),
  // Keys and trust
  "key.create": obj({ fingerprint: s, stageId: sN, algorithm: s, backend: s, token: s.optional(), keyId: sN.optional() }),
  "key.rotate": keyInstalled,
  "key.import": keyInstalled,
  "key.use": obj({ key: s, fingerprint: s, backend: s, purpose: s, bytes: int, dataDigest: s }),
  "key.revoke": obj({
    key: s,
    fingerprint: s,
    effectiveAt: iso,
    previousEffectiveAt: iso.nullable(),
    reason: s,
    revokedApprovals: strs,
    unaffected: int,
    replacement: obj({ name: s, fingerprint: s }).nullable(),
  }),
  "key.revoke.dry-run": obj({ key: s, effectiveAt: iso, wouldRevoke: strs }),
  "trust.add": obj({
    kind: s,
    role: s,
    scope: strs,
    builderIds: strs.optional(),
    fingerprint: s.optional(),
    algorithm: s.optional(),
    certificates: strs.optional(),
    fulcioCAs: int.optional(),
    rekorKeys: int.optional(),
    ctLogKeys: int.optional(),
    tsaRoots: int.optional(),
    anyIdentityUnderRoot: z.literal(true).optional(),
  }),
  "trust.update": obj({ changes: trustChanges }),
  "trust.revoke": obj({ changes: trustChanges }),
  "trust.delete": obj({ kind: s, role: s, scope: strs, builderIds: strs.optional(), fingerprint: sN }),
  // Registries
  "registry.create": obj({ url: s, readCredentials: z.boolean(), pushCredentials: z.boolean(), repositories: int }),
  "registry.update": obj({ changed: strs, readCredentials: s, pushCredentials: s }),
  "registry.delete": obj({ url: s }),
  "registry.test": registryTest,
  "registry.sync.request": obj({ syncRunId: s, trigger: s, scope: strs }),
  "registry.sync": obj({ syncRunId: s, trigger: s, scope: strs, ...syncStats, errors: z.array(obj({ repository: s, message: s })) }),
  "registry.notification": obj({ format: s, repositories: strs, ignored: int, syncRunId: s.optional() }),
  "registry.realm.confirm": obj({ from: sN, to: sN }),
  // Credentials sealed before they were bound to their URL, sealed again for the URL and realm the row had then.
  "registry.credentials.reseal": obj({ url: s, tokenRealm: sN, credentials: strs }),
  "registry.webhook-token.rotate": obj({ prefix: s }),
  // Administration
  "stage.create": obj({ before: z.null(), after: stageSettings }),
  "stage.update": obj({ before: stageSettings, after: stageSettings }),
  "group.create": groupMembers,
  "group.update": groupMembers,
  "user.create": obj({ role: s, method: z.literal("oidc").optional(), issuer: s.optional() }),
  "user.update": obj({ role: s }),
  "user.role": obj({ from: s, to: s }),
  "user.disable": obj({ revokedTokens: int, revokedCertificates: int.optional() }),
  "user.enable": obj({}),
  // temporary: set by another user (an admin), so not usable for reviews until its owner sets their own; self: the owner
  // set it (replaced: whoever else had set the one it replaces). countsAs: the users the new password descends from,
  // whom the account counts as for four eyes until a CLI reset (users/password-standing.ts). Events before these: {}.
  "user.password": obj({
    temporary: z.boolean().optional(),
    self: z.boolean().optional(),
    replaced: s.optional(),
    countsAs: strs.optional(),
    revokedTokens: z.number().int().nonnegative().optional(),
  }),
  "client-cert.add": obj({ fingerprint: s, subject: s, notAfter: s }),
  "client-cert.revoke": obj({ fingerprint: s }),
  "token.create": obj({ tokenId: s, prefix: s, name: sN, scopes: strs, expiresAt: iso }),
  "token.revoke": obj({ tokenId: s }),
  "webhook.create": obj({ url: s, events: strs, format: s, stages: strs, repositories: strs }),
  "webhook.delete": obj({ url: s }),
  // images: every distinct image of the review (rows before session 13 kept the first 50); denied: those refused.
  "admission.review": obj({ images: strs, containers: z.number().int().nonnegative().optional(), denied: strs.optional(), allowed: z.boolean(), reason: sN }),
  "admission.policy.set": obj({ stage: sN, exempt: z.boolean() }),
  "auth.signin": z.union([
    // A web sign-in that succeeded (password, or the session callback).
    obj({ source: s }),
    obj({ method: z.literal("password"), reason: s }),
    // next-auth's logger: a failure inside the OpenID Connect exchange (code = the next-auth error code).
    obj({ method: z.literal("oidc"), issuer: sN, stage: s, reason: s }),
    obj({ method: z.literal("oidc"), issuer: s, reason: s, source: s.optional() }),
    obj({ method: z.literal("oidc"), issuer: s, role: s, previousRole: s.optional(), groups: strs, joined: strs, left: strs, source: s.optional() }),
  ]),
  "audit.export": obj({ format: s, filter: z.record(s, s) }),
  "audit.checkpoint": obj({ checkpoint: int, headSeq: s, headHash: s, key: s }),
  // No checkpoint made: the registry already holds `checkpoint` while the database's records end at `recorded` (0: none).
  "audit.checkpoint.refused": obj({ checkpoint: int, recorded: int, registry: s, repository: s }),
} as const satisfies Record<string, z.ZodType<object>>;

/** `cli.<command words joined by dots>`: every CLI command run against the database (scripts/cli.ts). */
export const CLI_PREFIX = "cli.";
// An option left out is absent (JSON drops undefined); the password option is stored as "***".
export const cliEventSchema = obj({ args: z.record(s, z.union([s, z.boolean()]).optional()), positionals: strs });

export type AuditEventKind = keyof typeof AUDIT_EVENTS;
export type CliEventKind = `cli.${string}`;
/** Every action a writer accepts. */
export type AuditKindName = AuditEventKind | CliEventKind;
/** The detail of a kind, as stored and as read back. */
export type AuditDetail<K extends AuditKindName> = K extends AuditEventKind ? z.output<(typeof AUDIT_EVENTS)[K]> : z.output<typeof cliEventSchema>;

export function isAuditEventKind(action: string): action is AuditEventKind {
  return Object.prototype.hasOwnProperty.call(AUDIT_EVENTS, action);
}

/** The schema of an action's detail, or null for an action nobody writes. */
export function auditDetailSchema(action: string): z.ZodType<object> | null {
  if (isAuditEventKind(action)) return AUDIT_EVENTS[action];
  return action.startsWith(CLI_PREFIX) && action.length > CLI_PREFIX.length ? cliEventSchema : null;
}

/** Why a stored detail does not fit its kind, or null when it does. */
export function auditDetailProblem(action: string, detail: unknown): string | null {
  const schema = auditDetailSchema(action);
  if (!schema) return `unknown audit event kind ${JSON.stringify(action)}`;
  const r = schema.safeParse(detail);
  return r.success ? null : describeIssues(r.error.issues, []);
}

/** Issues as "path: message"; for a union (a kind with several shapes), those of the shape that came closest. */
function describeIssues(issues: readonly z.core.$ZodIssue[], at: PropertyKey[]): string {
  return issues
    .map((i) => {
      const path = [...at, ...i.path];
      if (i.code === "invalid_union" && i.errors.length) return describeIssues([...i.errors].sort((a, b) => a.length - b.length)[0]!, path);
      return `${path.map(String).join(".") || "(detail)"}: ${i.message}`;
    })
    .join("; ");
}
