// Re-exports only: each action has its own file (upsert-stage.ts, get-stage.ts, list-stages.ts). This file stays while
// tests in lib/server/approvals and lib/server/promotions import it (those folders were being restructured in
// parallel); point them at the new files and delete it.
export { upsertStage, type StageSettings } from "./upsert-stage";
export { getStage } from "./get-stage";
export { listStages } from "./list-stages";
