// Re-exports only: each action has its own file (upsert-group.ts, list-groups.ts). This file stays while tests in
// lib/server/promotions import it (that folder was being restructured in parallel); point them at the new files and
// delete it.
export { upsertGroup } from "./upsert-group";
export { listGroups } from "./list-groups";
