// Every Postgres advisory lock id Imprimatur takes, in one place, so no two subsystems pick the same number by
// accident (lib/server/advisory-locks.test.ts checks they are distinct and that no other file spells a literal id).
// Each is the first key of pg_advisory_xact_lock(int, int); the second key narrows it (0, or hashtext(<object id>)).
// Values are the ones the code used before this file existed: changing one would let an old and a new replica hold
// "the same" lock at once during a rolling deploy.

export const ADVISORY_LOCKS = {
  /** The audit chain head: appends, folding staged events, checkpoints (second key 0). */
  auditChain: 0x1a0d17,
  /** Queueing a sync of one registry (second key hashtext(registry id)). */
  syncEnqueue: 0x5359,
  /** OSV advisory imports (second key 0). */
  advisoryImport: 0x05f1a7,
  /** Admin-count checks on role changes and disabling users (second key 0). */
  userAdmin: 0x05e7a5,
  /** Writers of one image's cosign `.sig` manifest (second key hashtext(registry/repository@digest)). */
  signatureManifest: 0x5167,
  /** Writers of one subject's referrers fallback tag (second key hashtext(registry/repository@digest)). */
  referrers: 0x5168,
  /** Writers of one image's `.att` manifest (second key hashtext(registry/repository@digest)). */
  attestationManifest: 0x5169,
  /** Judging one image's approved stages again (second key hashtext(image id)). */
  stageRisk: 0x0a91e6,
  /**
   * Writers of one stored (image, stage) decision (second key hashtext('<image id>/<stage id>')). Taken only in SQL, by
   * refresh_stage_decision (migration 20261207090000_stage_decision_serialised spells it as 24032).
   */
  stageDecision: 0x5de0,
  /**
   * The evidence-uploader rules (second key 0): replacing them (and recounting registry evidence) takes it exclusively,
   * storing registry evidence takes it shared, so a document is judged by the rules its recount would see.
   */
  evidenceUploaderRules: 0x0e7d01,
  /**
   * Approvals in flight (second key 0): an approval's review transaction takes it shared; re-evaluation takes it
   * exclusively for an instant, to wait for them (lib/server/reevaluation/judgement-inputs-lock.ts).
   */
  judgementInputs: 0x7a0a11,
} as const;

/**
 * Opening a promotion request for one digest and stage: the first key is computed by Postgres as hashtext() of this
 * name (second key hashtext(image id/stage id)). Kept as it was, for the rolling-deploy reason above.
 */
export const PROMOTION_REQUEST_LOCK_NAME = "promotion-request";

/** Prisma's own migration lock (scripts/lib/migrate.mjs, plain JS, repeats it): never take it from the app. */
export const PRISMA_MIGRATE_LOCK = 72707369;
