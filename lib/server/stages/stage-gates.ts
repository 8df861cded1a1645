import "server-only";
import type { GateConfig } from "../../policy/gates";
import { readJson, stageGatesColumn } from "../json-columns";

/**
 * A stage's stored gate configuration, parsed. Stored configuration was validated when written; a row edited by hand
 * that no longer parses fails closed: every caller gets the same JsonColumnError naming the stage row, never "no gates".
 */
export function stageGates(stage: { id: string; name: string; gates: unknown }): GateConfig {
  return readJson(stageGatesColumn, stage.gates, {
    table: "stages",
    column: "gates",
    id: stage.id,
    hint: `Stage ${stage.name}: set its gates again (PUT /api/v1/stages/${encodeURIComponent(stage.name)})`,
  });
}
