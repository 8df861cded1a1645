import "server-only";
import { AppError } from "../../errors";
import { GateConfigError, parseGateConfig, type GateConfig } from "../../policy/gates";

/**
 * A stage's stored gate configuration, parsed. Stored configuration was validated when written; if a row was edited
 * by hand and no longer parses, every caller gets the same explained 409 instead of an internal error.
 */
export function stageGates(stage: { name: string; gates: unknown }): GateConfig {
  try {
    return parseGateConfig(stage.gates);
  } catch (e) {
    if (e instanceof GateConfigError) throw new AppError("POLICY_VIOLATION", `stage ${stage.name} has invalid gate configuration (fix it on the Stages page): ${e.message}`);
    throw e;
  }
}
