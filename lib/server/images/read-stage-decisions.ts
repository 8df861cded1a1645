import "server-only";
import { type db, type Tx } from "../../db";

export const STAGE_STATES = ["approved", "signature pending", "signed, not verified", "revoked", "approval expired", "not approved"] as const;
export type StageState = (typeof STAGE_STATES)[number];

/** One stage of one image as the image page, the gate facts and "my images" show it. */
export interface StageStatus {
  stage: string;
  position: number;
  state: StageState;
  detail: string;
  approvedAt: string | null;
  approver: string | null;
  /** When the approval that counts stops counting (its stage's TTL from its trusted time), or when it expired; null = never. */
  expiresAt: string | null;
}

export interface ImageStageStatuses {
  /** Every stage, in stage order. */
  statuses: StageStatus[];
  /** The highest stage passed, or null. */
  current: string | null;
  /** The stages' ids, in the order of statuses. */
  stageIds: string[];
}

interface Row {
  image_id: string;
  stage_id: string;
  stage: string;
  position: number;
  state: string;
  detail: string;
  approver: string | null;
  approved_at: Date | null;
  expires_at: Date | null;
}

function isStageState(s: string): s is StageState {
  return (STAGE_STATES as readonly string[]).includes(s);
}

/**
 * Whether each image passed each stage, and why, as the database decides it: the stored stage_decisions row while
 * it is valid, else stage_decision() (an image without approvals for the stage, an index shown for its platform,
 * a row whose approval has since expired). The rules are written once, in SQL (migrations 20261204110000 and
 * 20261205120000); nothing here judges. `client` may be a transaction: the triggers keep the rows current inside it.
 */
export async function readStageDecisions(client: Tx | typeof db, { imageIds }: { imageIds: string[] }): Promise<Map<string, ImageStageStatuses>> {
  const out = new Map<string, ImageStageStatuses>();
  const ids = [...new Set(imageIds)];
  if (ids.length === 0) return out;
  for (const id of ids) out.set(id, { statuses: [], current: null, stageIds: [] });
  const rows = await client.$queryRaw<Row[]>`
    SELECT image_id::text AS image_id, stage_id::text AS stage_id, stage, position, state, detail, approver, approved_at, expires_at
    FROM stage_decisions_for(${ids}::uuid[])`;
  for (const r of rows) {
    // The SQL names a closed set of states; anything else is a defect there, not something to show.
    if (!isStageState(r.state)) throw new Error(`stage_decision() returned an unknown state ${JSON.stringify(r.state)}`);
    const entry = out.get(r.image_id)!;
    entry.statuses.push({
      stage: r.stage,
      position: r.position,
      state: r.state,
      detail: r.detail,
      approvedAt: r.approved_at?.toISOString() ?? null,
      approver: r.approver,
      expiresAt: r.expires_at?.toISOString() ?? null,
    });
    entry.stageIds.push(r.stage_id);
    if (r.state === "approved") entry.current = r.stage;
  }
  return out;
}
