// The contract's operations: people, tokens, webhooks, audit. Listed in operations.ts, which the OpenAPI document is built from.
import { ADMIN, type Operation } from "./operation";
import { updateUserInput } from "../../users/update-user";
import * as s from "./schemas";

export const OPS_PEOPLE: readonly Operation[] = [
  { method: "GET", path: "/api/v1/users", tag: "users", summary: "Users with role, disabled flag, sign-in method and last sign-in", roles: ADMIN, ok: { status: 200, description: "{ users }" } },
  { method: "PATCH", path: "/api/v1/users/[email]", tag: "users", summary: "Change a user's role or disable them (ends their sessions, revokes their tokens)", roles: ADMIN, params: { email: "the user's email, URL-encoded" }, body: updateUserInput.pick({ role: true, disabled: true }).strict(), ok: { status: 200, description: "{ user, revokedTokens }" } },
  { method: "GET", path: "/api/v1/groups", tag: "users", summary: "Groups and their members", ok: { status: 200, description: "{ groups }" } },
  { method: "PUT", path: "/api/v1/groups", tag: "users", summary: "Create a group or replace its description and members", roles: ADMIN, body: s.groupBody, ok: { status: 200, description: "the group" } },
  { method: "GET", path: "/api/v1/tokens", tag: "tokens", summary: "Your API tokens (admins: everyone's), never their secrets", ok: { status: 200, description: "{ tokens }" } },
  { method: "POST", path: "/api/v1/tokens", tag: "tokens", summary: "Create an API token (the secret is in this answer only)", body: s.createTokenBody, ok: { status: 201, description: "the token with its secret" } },
  { method: "DELETE", path: "/api/v1/tokens/[id]", tag: "tokens", summary: "Revoke a token (your own; admins any)", params: { id: "token id or prefix" }, ok: { status: 200, description: "{ id, prefix, revokedAt }" } },
  { method: "GET", path: "/api/v1/webhooks", tag: "webhooks", summary: "Outgoing webhooks (CloudEvents 1.0)", roles: ADMIN, ok: { status: 200, description: "{ webhooks }" } },
  { method: "POST", path: "/api/v1/webhooks", tag: "webhooks", summary: "Add an outgoing webhook (the HMAC secret is in this answer only)", roles: ADMIN, body: s.webhookBody, ok: { status: 201, description: "the webhook with its secret" } },
  { method: "DELETE", path: "/api/v1/webhooks/[name]", tag: "webhooks", summary: "Delete an outgoing webhook", roles: ADMIN, ok: { status: 200, description: "what was deleted" } },
  { method: "GET", path: "/api/v1/audit", tag: "audit", summary: "The audit trail, newest first (`next` is the cursor)", roles: ["admin", "manager"], query: s.auditQuery, ok: { status: 200, description: "{ events, next }" } },
  { method: "GET", path: "/api/v1/reports/[name]", tag: "reports", summary: "One report table for a period: approvals, lead-time, reviewers, waivers, break-glass or risk", roles: ["admin", "manager"], params: { name: "approvals, lead-time, reviewers, waivers, break-glass or risk" }, query: s.reportQuery, ok: { status: 200, description: "{ name, from, to, columns, rows } as JSON, or CSV (RFC 4180, formula cells neutralised) with format=csv" } },
  { method: "GET", path: "/api/v1/audit/export", tag: "audit", summary: "The audit trail as a CSV or NDJSON download, oldest first, with each row's hashes", roles: ["admin", "manager"], query: s.auditExportQuery, ok: { status: 200, description: "NDJSON (default) or CSV", mediaType: "application/x-ndjson" } },
  { method: "GET", path: "/api/v1/audit/verify", tag: "audit", summary: "Check the hash chain against every signed checkpoint in the registry", roles: ["admin", "manager"], query: s.noQuery, ok: { status: 200, description: "{ ok, chain, checkpoints, problems, gaps }" } },
];
