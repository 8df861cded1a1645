// Every API operation: its route template (the folder under app/), method, who may call it, and the schemas its route
// parses with. The OpenAPI document is generated from this list (lib/server/http/openapi/build-openapi.ts), and
// lib/server/http/openapi/openapi.test.ts fails when a route file or an exported method is missing here, or when an
// entry names a route that does not exist.
import type { z } from "zod";
import type { Role } from "../../actor";
import { imageReviewSchema } from "../../admission/review-images";
import { evidenceQuery } from "../../evidence/get-image-evidence";
import { listImagesQuery } from "../../images/list-images";
import { createRegistryInput, updateRegistryInput } from "../../registries/registry-input";
import { createTrustIdentityInput, updateTrustIdentityInput } from "../../trust/trust-identity-input";
import { updateUserInput } from "../../users/update-user";
import * as s from "./schemas";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Operation {
  method: HttpMethod;
  /** The route's folder under app/, e.g. /api/v1/requests/[id] */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  /**
   * How the caller authenticates: "user" (session cookie or API token; the default), "user-or-cert" (also a client
   * certificate forwarded by a trusted proxy), "registry" (the registry's webhook token), "public" (nobody).
   */
  auth?: "user" | "user-or-cert" | "registry" | "public";
  /** The roles apiHandler requires; absent: any signed-in user, the action decides (NOT_FOUND / FORBIDDEN). */
  roles?: readonly Role[];
  query?: z.ZodObject;
  /** A JSON body; or `raw` for bodies that are not one JSON document (evidence files, ZIP archives). */
  body?: z.ZodType;
  rawBody?: { mediaTypes: readonly string[]; description: string };
  /** The route reads an empty body as {} (parseBody's `optional`). */
  bodyOptional?: boolean;
  /** Path parameters that need more than "a string". */
  params?: Record<string, string>;
  ok: { status: 200 | 201 | 202; description: string; mediaType?: string };
  /** Another success status the route answers (200 for "already there", 201 for "created"). */
  alsoOk?: { status: 200 | 201; description: string };
}

const ADMIN = ["admin"] as const;
const IMAGE_REF = "the repository name, `@`, the digest, then an optional sub-resource: `team/app@sha256:…`, `…/evidence`, `…/evidence/{id}/raw`, `…/evidence-pack`";

export const OPERATIONS: readonly Operation[] = [
  // ---- public and sign-in
  { method: "GET", path: "/api/healthz", tag: "health", summary: "Liveness (and with ?ready=1 readiness) probe", auth: "public", query: s.healthQuery, ok: { status: 200, description: "{ status: ok } (503 with ?ready=1 while the database does not answer)" } },
  { method: "GET", path: "/api/auth/[...nextauth]", tag: "session", summary: "next-auth: session, CSRF token, providers, OIDC callbacks", auth: "public", params: { nextauth: "next-auth's route, e.g. session, csrf, providers, callback/oidc" }, ok: { status: 200, description: "next-auth's answer" } },
  { method: "POST", path: "/api/auth/[...nextauth]", tag: "session", summary: "next-auth: sign in with a password (throttled: 429 with Retry-After), sign out", auth: "public", params: { nextauth: "signin/…, callback/credentials, signout" }, rawBody: { mediaTypes: ["application/x-www-form-urlencoded"], description: "next-auth's form fields (csrfToken, email, password, callbackUrl)" }, ok: { status: 200, description: "{ url } or a redirect" } },
  { method: "GET", path: "/api/v1/openapi.json", tag: "meta", summary: "This document", auth: "public", ok: { status: 200, description: "The OpenAPI 3.1 document of this API" } },

  // ---- images and evidence
  { method: "GET", path: "/api/v1/images", tag: "images", summary: "List images (filtered, sorted, paged)", query: listImagesQuery, ok: { status: 200, description: "{ images, total, page, pageSize }" } },
  { method: "GET", path: "/api/v1/images/[...ref]", tag: "images", summary: "An image with its signatures and stages; its evidence; a stored evidence document; the evidence pack", params: { ref: IMAGE_REF }, query: evidenceQuery.extend(s.imageRegistryQuery.shape), ok: { status: 200, description: "JSON; `…/evidence/{id}/raw` is application/octet-stream, `…/evidence-pack` a JSON download" } },
  { method: "POST", path: "/api/v1/images/[...ref]", tag: "evidence", summary: "Upload a scan, SBOM, VEX or attestation to `…/evidence`", roles: ["admin", "developer", "reviewer"], params: { ref: IMAGE_REF }, query: s.imageRegistryQuery, rawBody: { mediaTypes: ["application/json", "application/x-ndjson", "application/vnd.in-toto+json", "application/octet-stream"], description: "the document as uploaded (Trivy, Grype, CycloneDX, SPDX, OpenVEX, in-toto / DSSE; JSON Lines for several statements), up to EVIDENCE_MAX_BYTES" }, ok: { status: 201, description: "{ created, document, documents? }" }, alsoOk: { status: 200, description: "the same document was already there" } },
  { method: "GET", path: "/api/v1/my-images", tag: "images", summary: "Digests I requested or built, their stage, what blocks the next one", ok: { status: 200, description: "{ images }" } },
  { method: "GET", path: "/api/v1/evidence-uploaders", tag: "evidence", summary: "Which group's members may attach evidence to which repositories", ok: { status: 200, description: "{ rules }" } },
  { method: "PUT", path: "/api/v1/evidence-uploaders", tag: "evidence", summary: "Replace the evidence-uploader rules (admins)", body: s.evidenceUploadersBody, ok: { status: 200, description: "{ rules }" } },
  { method: "POST", path: "/api/v1/evidence/[id]/withdraw", tag: "evidence", summary: "Withdraw an evidence document (kept, shown withdrawn, no longer counted; admins)", body: s.withdrawEvidenceBody, ok: { status: 200, description: "the withdrawn document" } },
  { method: "GET", path: "/api/v1/search/packages", tag: "evidence", summary: "Fleet search by package and version range (JSON or CSV)", query: s.searchPackagesQuery, ok: { status: 200, description: "{ results, total }; text/csv with format=csv" } },
  { method: "GET", path: "/api/v1/advisories", tag: "evidence", summary: "Search the stored OSV advisories", query: s.advisoriesQuery, ok: { status: 200, description: "{ advisories, total, page }" } },
  { method: "POST", path: "/api/v1/advisories", tag: "evidence", summary: "Import OSV records (one, an array, or an osv.dev ecosystem ZIP)", roles: ["admin", "reviewer"], rawBody: { mediaTypes: ["application/json", "application/zip", "application/x-zip-compressed", "application/octet-stream"], description: "OSV JSON or a ZIP of OSV JSON files, up to ADVISORY_MAX_BYTES" }, ok: { status: 201, description: "counts: created, updated, unchanged, skipped, findings, images" } },

  // ---- promotion requests, approvals, waivers, revocations
  { method: "GET", path: "/api/v1/requests", tag: "promotions", summary: "Promotion requests: my inbox, mine, or all", query: s.listRequestsQuery, ok: { status: 200, description: "{ requests }" } },
  { method: "POST", path: "/api/v1/requests", tag: "promotions", summary: "Request promotion of a digest to a stage", roles: ["developer", "reviewer", "admin"], body: s.requestPromotionBody, ok: { status: 201, description: "the opened request" }, alsoOk: { status: 200, description: "the request already open for this digest and stage" } },
  { method: "GET", path: "/api/v1/requests/[id]", tag: "promotions", summary: "A promotion request with its reviews and gate results", ok: { status: 200, description: "the request" } },
  { method: "POST", path: "/api/v1/requests/[id]/reviews", tag: "promotions", summary: "Approve or reject a request (the server signs the digest on the last approval)", roles: ["reviewer", "admin"], body: s.reviewBody, ok: { status: 201, description: "the outcome and the request" }, alsoOk: { status: 200, description: "the same decision again (duplicate: true)" } },
  { method: "POST", path: "/api/v1/requests/[id]/withdraw", tag: "promotions", summary: "Withdraw an open request (its requester or an admin)", body: s.withdrawRequestBody, ok: { status: 200, description: "the withdrawn request" } },
  { method: "POST", path: "/api/v1/approvals", tag: "promotions", summary: "Approve a stage for a digest directly (signed when the stage's approvals are complete)", roles: ["reviewer", "admin"], body: s.approvalBody, ok: { status: 201, description: "the approval" } },
  { method: "POST", path: "/api/v1/approvals/[id]/revoke", tag: "promotions", summary: "Revoke an approval (its signature is removed from the registry)", body: s.revokeApprovalBody, ok: { status: 200, description: "the revocation; state pending while the registry still has the layer" } },
  { method: "GET", path: "/api/v1/waivers", tag: "promotions", summary: "Waivers, optionally of one stage", query: s.listWaiversQuery, ok: { status: 200, description: "{ waivers }" } },
  { method: "POST", path: "/api/v1/waivers", tag: "promotions", summary: "Waive a gate (or CVE ids) for a digest or repository until expiresAt", body: s.grantWaiverBody, ok: { status: 201, description: "the waiver" } },
  { method: "DELETE", path: "/api/v1/waivers/[id]", tag: "promotions", summary: "Revoke a waiver before it expires", body: s.revokeWaiverBody, ok: { status: 200, description: "the revoked waiver" } },
  { method: "POST", path: "/api/v1/revocations", tag: "promotions", summary: "Bulk revocation from a fleet search (dry run by default)", roles: ["admin", "reviewer"], body: s.bulkRevocationBody, ok: { status: 201, description: "the recorded revocation" }, alsoOk: { status: 200, description: "dry run: every image, stage and approval that would change" } },
  { method: "GET", path: "/api/v1/revocations/[id]", tag: "promotions", summary: "A bulk revocation's status and progress", ok: { status: 200, description: "the revocation" } },
  { method: "POST", path: "/api/v1/revocations/[id]/confirm", tag: "promotions", summary: "A second person confirms a bulk revocation", roles: ["admin", "reviewer"], ok: { status: 200, description: "the confirmed revocation" } },

  // ---- admission
  { method: "GET", path: "/api/v1/verify", tag: "admission", summary: "May this image enter this stage? (for pipelines)", auth: "user-or-cert", query: s.verifyQuery, ok: { status: 200, description: "{ allowed, digest, resolvedFromTag, reasons, asOf, image, stage }" } },
  { method: "POST", path: "/api/v1/imagereview", tag: "admission", summary: "Kubernetes ImagePolicyWebhook backend (imagepolicy.k8s.io/v1alpha1 ImageReview)", auth: "user-or-cert", body: imageReviewSchema, ok: { status: 200, description: "the ImageReview with status.allowed and reason" } },
  { method: "GET", path: "/api/v1/admission/namespaces", tag: "admission", summary: "Which stage each namespace requires", ok: { status: 200, description: "{ namespaces }" } },
  { method: "PUT", path: "/api/v1/admission/namespaces", tag: "admission", summary: "Set a namespace's required stage or exemption", roles: ADMIN, body: s.namespacePolicyBody, ok: { status: 200, description: "the namespace policy" } },

  // ---- stages and keys
  { method: "GET", path: "/api/v1/stages", tag: "stages", summary: "The ordered stages with reviewer groups, approvals, waiver group, gates and key", ok: { status: 200, description: "{ stages }" } },
  { method: "GET", path: "/api/v1/stages/[name]", tag: "stages", summary: "One stage", ok: { status: 200, description: "the stage" } },
  { method: "PUT", path: "/api/v1/stages/[name]", tag: "stages", summary: "Create a stage (appended, with a new key) or update its settings", roles: ADMIN, body: s.stageBody, ok: { status: 200, description: "the stage" } },
  { method: "GET", path: "/api/v1/stages/[name]/policies", tag: "stages", summary: "The stage's admission policy for Kyverno, policy-controller or cosign (a download)", query: s.stagePolicyQuery, ok: { status: 200, description: "YAML, or a shell script for cosign", mediaType: "application/yaml" } },
  { method: "GET", path: "/api/v1/keys", tag: "keys", summary: "Signing keys, trusted keys and trust identities (public parts only)", ok: { status: 200, description: "{ keys, trustedKeys, trustIdentities }" } },
  { method: "GET", path: "/api/v1/keys/[name]", tag: "keys", summary: "A public key as cosign.pub", ok: { status: 200, description: "PEM", mediaType: "application/x-pem-file" } },
  { method: "GET", path: "/api/v1/keys/stages/[stage]", tag: "keys", summary: "A stage's key history (JSON, or ?format=pem)", query: s.keyHistoryQuery, ok: { status: 200, description: "JSON, or application/x-pem-file with format=pem" } },
  { method: "GET", path: "/api/v1/keys/stages/[stage]/preview", tag: "keys", summary: "What rotating or importing this stage's key would change: the images whose stage signature the retired key made (read-only)", roles: ADMIN, ok: { status: 200, description: "{ stage, retiring (the key a rotation retires, or null), images (what it signed), pending }" } },
  { method: "POST", path: "/api/v1/keys/stages/[stage]/rotate", tag: "keys", summary: "Rotate a stage's signing key", roles: ADMIN, body: s.rotateKeyBody, bodyOptional: true, ok: { status: 201, description: "{ key, retired }" } },
  { method: "POST", path: "/api/v1/keys/stages/[stage]/import", tag: "keys", summary: "Import an encrypted cosign private key as the stage's key", roles: ADMIN, body: s.importKeyBody, ok: { status: 201, description: "{ key, retired }" } },
  { method: "POST", path: "/api/v1/keys/stages/[stage]/revoke", tag: "keys", summary: "The stage key is compromised from effectiveAt: revoke (or dry-run) what it signed since", roles: ADMIN, body: s.revokeKeyBody, ok: { status: 200, description: "what changed (or would change)" } },
  { method: "GET", path: "/api/v1/trust", tag: "trust", summary: "Trust identities (publishers, teams, keyless signers)", ok: { status: 200, description: "{ identities }" } },
  { method: "POST", path: "/api/v1/trust", tag: "trust", summary: "Add a trust identity", roles: ADMIN, body: createTrustIdentityInput, ok: { status: 201, description: "the identity" }, alsoOk: { status: 200, description: "the same identity was already there" } },
  { method: "GET", path: "/api/v1/trust/[name]", tag: "trust", summary: "One trust identity", ok: { status: 200, description: "the identity" } },
  { method: "PATCH", path: "/api/v1/trust/[name]", tag: "trust", summary: "Update a trust identity", roles: ADMIN, body: updateTrustIdentityInput, ok: { status: 200, description: "the identity" } },
  { method: "GET", path: "/api/v1/trust/[name]/preview", tag: "trust", summary: "Which verified signatures rest on this identity, i.e. stop verifying if it is deleted (read-only)", roles: ADMIN, ok: { status: 200, description: "the identity, its signatures that rest on it, and the number of images" } },
  { method: "DELETE", path: "/api/v1/trust/[name]", tag: "trust", summary: "Delete a trust identity", roles: ADMIN, ok: { status: 200, description: "what was deleted" } },

  // ---- registries and sync
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

  // ---- people, tokens, webhooks, audit
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
