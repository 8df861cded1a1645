import "server-only";
import { db, Prisma } from "../../db";
import { JsonColumnError, readJson, stageGatesColumn } from "../json-columns";

/**
 * Time changes verdicts too: a waiver that expired (or was revoked), an approval that expired under its stage's TTL and
 * a newest scan that aged past a stage's maxScanAgeHours since the last sweep turn into re-evaluation requests for the
 * approved images they concern.
 * The sweep row is locked for the whole step, so replicas never sweep the same interval twice.
 */
export async function sweepTimeTriggers({ now: callerNow = new Date() }: { now?: Date } = {}): Promise<{ requested: number }> {
  return db.$transaction(async (tx) => {
    // The interval ends at the database's clock (or the caller's, if earlier), as expiry and revoke-after are judged:
    // a replica whose clock ran ahead marked an interval swept before the waivers and scans in it had expired by the
    // clock every judgement uses, and the next sweep started after it, so they were never judged again.
    const [clock] = await tx.$queryRaw<{ now: Date }[]>`SELECT LEAST(${callerNow}::timestamptz, statement_timestamp()) AS now`;
    const now = clock!.now;
    await tx.$executeRaw`INSERT INTO reevaluation_sweeps (id, last_at) VALUES (1, ${now}) ON CONFLICT (id) DO NOTHING`;
    const [row] = await tx.$queryRaw<{ last_at: Date }[]>`SELECT last_at FROM reevaluation_sweeps WHERE id = 1 FOR UPDATE`;
    const last = row!.last_at;
    if (last >= now) return { requested: 0 };
    let requested = await tx.$executeRaw`
      INSERT INTO reevaluation_requests (image_id, trigger)
      SELECT DISTINCT a.image_id, 'waiver'
      FROM waivers w
      JOIN images i ON i.repository_id = w.repository_id AND (w.digest IS NULL OR i.digest = w.digest)
      JOIN approvals a ON a.image_id = i.id AND a.stage_id = w.stage_id AND a.status IN ('signed', 'signing') AND a.revoked_at IS NULL
      WHERE (w.expires_at > ${last} AND w.expires_at <= ${now}) OR (w.revoked_at > ${last} AND w.revoked_at <= ${now})`;
    // An approval that expired in this interval (approval_expiry(), the definition verify uses): a later stage of its
    // image may have passed its previousStage gate on it, so the image's standing approvals are judged again.
    requested += await tx.$executeRaw`
      INSERT INTO reevaluation_requests (image_id, trigger)
      SELECT DISTINCT a.image_id, 'expiry'
      FROM approvals a JOIN stages s ON s.id = a.stage_id
      WHERE s.approval_ttl_days IS NOT NULL AND a.status IN ('signed', 'signing') AND a.revoked_at IS NULL
        AND approval_expiry(a.ages_from, s.approval_ttl_days) > ${last} AND approval_expiry(a.ages_from, s.approval_ttl_days) <= ${now}`;
    const stages = await tx.stage.findMany({ select: { id: true, gates: true } });
    for (const s of stages) {
      let hours: number | undefined;
      try {
        hours = readJson(stageGatesColumn, s.gates, { table: "stages", column: "gates", id: s.id }).maxScanAgeHours;
      } catch (e) {
        // Its scan-age limit is unknown, so every standing approval of the stage is judged again: each is then flagged
        // at risk saying its gates are unreadable (reevaluate-approvals.ts), rather than silently missing this interval.
        if (e instanceof JsonColumnError) {
          console.warn(`[sweep] ${e.message}`);
          requested += await tx.$executeRaw`
            INSERT INTO reevaluation_requests (image_id, trigger)
            SELECT DISTINCT a.image_id, 'scan-age' FROM approvals a WHERE a.stage_id = ${s.id}::uuid AND a.status IN ('signed', 'signing') AND a.revoked_at IS NULL`;
          continue;
        }
        throw e;
      }
      if (hours === undefined) continue;
      const ms = hours * 3_600_000;
      // A scan's time as gather-gate-facts.ts takes it: the earliest of its stated time, when its payload was first
      // received for its subject, and its upload (least() skips nulls).
      // Any counted scan (withdrawn ones no longer count: withdrawing queued its own re-evaluation) that aged past the limit in this interval, not only the newest: an index's scan age is its
      // least recently scanned platform's (gather-gate-facts.ts), which may be an older scan than the newest.
      requested += await tx.$executeRaw`
        INSERT INTO reevaluation_requests (image_id, trigger)
        SELECT DISTINCT a.image_id, 'scan-age' FROM approvals a
        WHERE a.stage_id = ${s.id}::uuid AND a.status IN ('signed', 'signing') AND a.revoked_at IS NULL
          AND EXISTS (SELECT 1 FROM evidence_documents d
                       WHERE d.image_id = a.image_id AND d.kind = 'scan' AND d.not_counted IS NULL AND d.withdrawn_at IS NULL
                         AND least(d.scanned_at, d.first_seen_at, d.uploaded_at) + ${Prisma.raw(`interval '${Math.round(ms)} milliseconds'`)} > ${last}
                         AND least(d.scanned_at, d.first_seen_at, d.uploaded_at) + ${Prisma.raw(`interval '${Math.round(ms)} milliseconds'`)} <= ${now})`;
    }
    await tx.$executeRaw`UPDATE reevaluation_sweeps SET last_at = ${now} WHERE id = 1`;
    return { requested };
  });
}
