import { describe, expect, it } from "vitest";
import { AUDIT_KINDS, auditSentence, renderAuditEvent, type AuditEventView } from "./audit-catalogue";

const D = `sha256:063f${"0".repeat(60)}`;
const ev = (action: string, over: Partial<AuditEventView> = {}): AuditEventView => ({
  seq: "1",
  at: "2026-12-01T10:00:00.000Z",
  actorType: "user",
  actor: "alice@example.com",
  action,
  outcome: "success",
  targetDigest: null,
  target: null,
  detail: {},
  ...over,
});

describe("audit catalogue", () => {
  it("files every kind under the family its action starts with", () => {
    for (const [action, k] of Object.entries(AUDIT_KINDS)) expect({ action, family: k.family }).toEqual({ action, family: action.split(".")[0] });
  });

  it("reads an approval as a sentence with links to the image, stage and request", () => {
    const e = ev("review.approve", {
      targetDigest: D,
      target: "reg/apps/payments-api",
      detail: { stage: "prod", approvals: 2, required: 2, requestId: "7d0a0c1e-4d39-4a3c-9a34-6e1f3b2c1d00", comment: null, waiverIds: [] },
    });
    expect(auditSentence(e)).toBe("alice@example.com approved apps/payments-api@sha256:063f00000000… for prod (2 of 2) (request 7d0a0c1e)");
    const links = renderAuditEvent(e).flatMap((s) => (typeof s === "object" && s.href ? [s.href] : []));
    expect(links).toEqual([
      `/audit?actor=alice%40example.com`,
      `/images/apps/payments-api@${D}?registry=reg`,
      "/stages#stage-prod",
      "/requests/7d0a0c1e-4d39-4a3c-9a34-6e1f3b2c1d00",
    ]);
  });

  it("names the earlier approvals an approval did not count, and why", () => {
    const e = ev("review.approve", {
      targetDigest: D,
      target: "reg/apps/payments-api",
      detail: {
        stage: "prod",
        approvals: 1,
        required: 2,
        requestId: "7d0a0c1e-4d39-4a3c-9a34-6e1f3b2c1d00",
        comment: null,
        waiverIds: [],
        notCounted: ["carol@example.com: the account is disabled"],
      },
    });
    expect(auditSentence(e)).toBe(
      "alice@example.com approved apps/payments-api@sha256:063f00000000… for prod (1 of 2), not counting carol@example.com: the account is disabled (request 7d0a0c1e)",
    );
  });

  it("reads signatures, waivers and break-glass in words", () => {
    expect(
      auditSentence(
        ev("signature.push", {
          actor: "system:scheduler",
          targetDigest: D,
          target: "reg/apps/api",
          detail: { approvalId: "a1", stage: "prod", layerDigest: "sha256:ab", tag: "sha256-063f.sig" },
        }),
      ),
    ).toBe("system:scheduler pushed the signature of apps/api@sha256:063f00000000… for prod — signed");
    expect(
      auditSentence(
        ev("signature.push", { outcome: "failure", targetDigest: D, target: "reg/apps/api", detail: { approvalId: "a1", error: "registry down" } }),
      ),
    ).toBe("alice@example.com could not push the signature of apps/api@sha256:063f00000000… — registry down; will retry");
    expect(
      auditSentence(
        ev("waiver.grant", {
          actor: "carol@example.com",
          target: "reg/apps/**",
          detail: {
            waiverId: "w1",
            scope: "repository",
            stage: "prod",
            gate: "vulnerabilities",
            vulnIds: ["CVE-2019-1549"],
            expiresAt: "2027-01-01T00:00:00.000Z",
            reason: "not reachable",
          },
        }),
      ),
    ).toBe("carol@example.com waived CVE-2019-1549 for apps/** in prod until 2027-01-01: “not reachable”");
    expect(
      auditSentence(
        ev("review.break-glass", {
          actor: "admin@example.com",
          targetDigest: D,
          target: "reg/apps/api",
          detail: {
            requestId: "7d0a0c1e-4d39-4a3c-9a34-6e1f3b2c1d00",
            stage: "prod",
            comment: "hotfix",
            approvals: 1,
            required: 2,
            waiverIds: [],
            overridden: ["scan is 40 days old"],
          },
        }),
      ),
    ).toBe("admin@example.com approved apps/api@sha256:063f00000000… for prod by break-glass (request 7d0a0c1e), overriding: scan is 40 days old: “hotfix”");
    expect(auditSentence(ev("cli.audit.verify", { actor: "cli:root", detail: { args: {}, positionals: [] } }))).toBe("cli:root ran imprimatur audit verify");
  });

  it("falls back to a generic sentence for an unknown kind, and never throws on odd details", () => {
    expect(auditSentence(ev("future.thing", { target: "x" }))).toBe("alice@example.com did future.thing on x");
    expect(auditSentence(ev("future.thing", { outcome: "denied" }))).toBe("alice@example.com did future.thing — denied");
    for (const action of Object.keys(AUDIT_KINDS)) {
      for (const detail of [null, [], "s", { stage: 5, approvals: "x", vulnIds: "CVE", members: {}, filter: 3 }]) {
        expect(typeof auditSentence(ev(action, { detail }))).toBe("string");
      }
    }
  });

  it("reads the kinds that had no sentence before, from their typed detail", () => {
    const img = { targetDigest: D, target: "reg/apps/api" };
    expect(
      auditSentence(
        ev("approval.revoke", {
          ...img,
          detail: {
            approvalId: "a1",
            requestId: null,
            stage: "prod",
            reason: "key leaked",
            source: "key-compromise",
            layerDigest: "sha256:ab",
            status: "signed",
          },
        }),
      ),
    ).toBe("alice@example.com revoked the approval of apps/api@sha256:063f00000000… for prod (key-compromise): “key leaked”");
    expect(auditSentence(ev("approval.revoke", { outcome: "denied", detail: { approvalId: "0c1e4d39-aaaa", reason: "needs role admin" } }))).toBe(
      "alice@example.com tried to revoke approval 0c1e4d39 — denied: needs role admin",
    );
    expect(
      auditSentence(
        ev("image.at-risk", {
          actor: "system:reevaluation",
          ...img,
          detail: {
            registry: "reg",
            repository: "apps/api",
            digest: D,
            stage: "prod",
            approvalId: "a1",
            since: "2026-12-01T10:00:00.000Z",
            reasons: ["CVE-2026-1 is critical"],
            onRegression: "revoke-after",
            revokeAt: "2026-12-03T10:00:00.000Z",
          },
        }),
      ),
    ).toBe(
      "system:reevaluation found apps/api@sha256:063f00000000… at risk for prod: CVE-2026-1 is critical; its approval is revoked on 2026-12-03 unless fixed",
    );
    expect(auditSentence(ev("user.disable", { target: "bob@example.com", detail: { revokedTokens: 2 } }))).toBe(
      "alice@example.com disabled user bob@example.com and revoked 2 API tokens",
    );
    expect(
      auditSentence(ev("review.reject", { outcome: "denied", detail: { requestId: "7d0a0c1e-4d39-4a3c-9a34-6e1f3b2c1d00", reason: "you requested it" } })),
    ).toBe("alice@example.com tried to reject a request (request 7d0a0c1e) — denied: you requested it");
    expect(auditSentence(ev("revocation.bulk.finish", { detail: { bulkRevocationId: "5e6f7a8b-1111", total: 3, done: 2, failed: 1 } }))).toBe(
      "alice@example.com finished bulk revocation 5e6f7a8b: 2 of 3 revoked, 1 failed",
    );
  });

  it("reads an old row whose detail does not fit its kind's schema with the generic sentence", () => {
    // Rows are hash-chained and never rewritten: one written before a detail's shape changed must still read.
    expect(auditSentence(ev("review.approve", { targetDigest: D, target: "reg/apps/api", detail: { stage: "prod", approvals: 1, required: 2 } }))).toBe(
      "alice@example.com did review.approve on apps/api@sha256:063f00000000…",
    );
    expect(auditSentence(ev("signature.push", { outcome: "failure", detail: { error: "registry down" } }))).toBe(
      "alice@example.com did signature.push — failure",
    );
  });
});
