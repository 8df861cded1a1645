// The contract's operations: registries and sync. Listed in operations.ts, which the OpenAPI document is built from.
import { ADMIN, type Operation } from "./operation";
import { createRegistryInput, updateRegistryInput } from "../../registries/registry-input";
import * as s from "./schemas";

export const OPS_REGISTRIES: readonly Operation[] = [
  { method: "GET", path: "/api/v1/registries", tag: "registries", summary: "Registries (credentials never included)", ok: { status: 200, description: "{ registries }" } },
  { method: "POST", path: "/api/v1/registries", tag: "registries", summary: "Add a registry", roles: ADMIN, body: createRegistryInput, ok: { status: 201, description: "the registry" } },
  { method: "GET", path: "/api/v1/registries/[name]", tag: "registries", summary: "A registry and its last 10 sync runs", ok: { status: 200, description: "the registry with syncRuns" } },
  { method: "PATCH", path: "/api/v1/registries/[name]", tag: "registries", summary: "Update a registry", roles: ADMIN, body: updateRegistryInput, ok: { status: 200, description: "the registry" } },
  { method: "DELETE", path: "/api/v1/registries/[name]", tag: "registries", summary: "Delete a registry", roles: ADMIN, ok: { status: 200, description: "what was deleted" } },
  { method: "POST", path: "/api/v1/registries/[name]/confirm-realm", tag: "registries", summary: "Confirm the token realm the registry named (credentials go only there)", roles: ADMIN, ok: { status: 200, description: "the registry" } },
  { method: "POST", path: "/api/v1/registries/[name]/test", tag: "registries", summary: "Test the connection (diagnostics per step)", roles: ADMIN, ok: { status: 200, description: "the diagnostics" } },
  { method: "POST", path: "/api/v1/registries/[name]/webhook-token", tag: "registries", summary: "Create or rotate the registry's notification token (shown once)", roles: ADMIN, ok: { status: 201, description: "{ token, url }" } },
  { method: "POST", path: "/api/v1/registries/[name]/notifications", tag: "registries", summary: "Distribution registry notifications (push / delete events)", description: "Authenticated with the registry's webhook token (`Authorization: Bearer <webhook token>`), not a user.", auth: "registry", rawBody: { mediaTypes: ["application/vnd.docker.distribution.events.v1+json", "application/json"], description: "a Distribution notification envelope { events: [...] }, up to 4 MiB" }, ok: { status: 202, description: "accepted: the events that start a sync" } },
  { method: "POST", path: "/api/v1/registries/[name]/sync", tag: "registries", summary: "Queue a sync of one registry", ok: { status: 202, description: "the sync run; poll /api/v1/sync-runs/{id}" } },
  { method: "POST", path: "/api/v1/sync", tag: "registries", summary: "Queue a sync (every registry, or one)", body: s.syncBody, bodyOptional: true, ok: { status: 202, description: "the sync run; poll /api/v1/sync-runs/{id}" } },
  { method: "GET", path: "/api/v1/sync-runs/[id]", tag: "registries", summary: "A sync run's progress", params: { id: "sync run id (UUID)" }, ok: { status: 200, description: "the sync run" } },
];
