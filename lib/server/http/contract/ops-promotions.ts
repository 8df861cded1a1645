// The contract's operations: promotion requests, approvals, waivers, revocations. Listed in operations.ts, which the OpenAPI document is built from.
import type { Operation } from "./operation";
import * as s from "./schemas";

export const OPS_PROMOTIONS: readonly Operation[] = [
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
];
