import { describe, expect, it } from "vitest";
import { AUDIT_KINDS, auditSentence, renderAuditEvent, type AuditEventView } from "./audit-catalogue";

const D = `sha256:063f${"0".repeat(60)}`;
const ev = (action: string, over: Partial<AuditEventView> = {}): AuditEventView => ({ seq: "1", at: "2026-12-01T10:00:00.000Z", actorType: "user", actor: "alice@example.com", action, outcome: "success", targetDigest: null, target: null, detail: {}, ...over });

describe("audit catalogue", () => {
  it("files every kind under the family its action starts with", () => {
    for (const [action, k] of Object.entries(AUDIT_KINDS)) expect({ action, family: k.family }).toEqual({ action, family: action.split(".")[0] });
  });

  it("reads an approval as a sentence with links to the image, stage and request", () => {
    const e = ev("review.approve", { targetDigest: D, target: "reg/apps/payments-api", detail: { stage: "prod", approvals: 2, required: 2, requestId: "7d0a0c1e-4d39-4a3c-9a34-6e1f3b2c1d00" } });
    expect(auditSentence(e)).toBe("alice@example.com approved apps/payments-api@sha256:063f00000000… for prod (2 of 2) (request 7d0a0c1e)");
    const links = renderAuditEvent(e).flatMap((s) => (typeof s === "object" && s.href ? [s.href] : []));
    expect(links).toEqual([`/audit?actor=alice%40example.com`, `/images/apps/payments-api@${D}?registry=reg`, "/stages#stage-prod", "/requests/7d0a0c1e-4d39-4a3c-9a34-6e1f3b2c1d00"]);
  });

  it("reads signatures, waivers and break-glass in words", () => {
    expect(auditSentence(ev("signature.push", { actor: "system:scheduler", targetDigest: D, target: "reg/apps/api", detail: { stage: "prod" } }))).toBe("system:scheduler pushed the signature of apps/api@sha256:063f00000000… for prod — signed");
    expect(auditSentence(ev("signature.push", { outcome: "failure", targetDigest: D, target: "reg/apps/api", detail: { error: "registry down" } }))).toBe("alice@example.com could not push the signature of apps/api@sha256:063f00000000… — registry down; will retry");
    expect(auditSentence(ev("waiver.grant", { actor: "carol@example.com", target: "reg/apps/**", detail: { scope: "repository", stage: "prod", gate: "vulnerabilities", vulnIds: ["CVE-2019-1549"], expiresAt: "2027-01-01T00:00:00Z", reason: "not reachable" } }))).toBe("carol@example.com waived CVE-2019-1549 for apps/** in prod until 2027-01-01: “not reachable”");
    expect(auditSentence(ev("review.break-glass", { actor: "admin@example.com", targetDigest: D, target: "reg/apps/api", detail: { stage: "prod", overridden: ["scan is 40 days old"] } }))).toBe("admin@example.com approved apps/api@sha256:063f00000000… for prod by break-glass, overriding: scan is 40 days old");
    expect(auditSentence(ev("cli.audit.verify", { actor: "cli:root" }))).toBe("cli:root ran imprimatur audit verify");
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
});
