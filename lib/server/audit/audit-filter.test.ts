import { describe, expect, it } from "vitest";
import { revokeKeyBody, grantWaiverBody } from "../http/contract/schemas";
import { trustIdentityFields } from "../trust/trust-identity-input";
import { parseAuditQuery } from "./audit-filter";

// Year 0 is valid ISO-8601 and parses in JavaScript, but Postgres has no year 0: the query failed in the database and
// surfaced as a 500 (found by review). Every time a client gives is refused as a 4xx naming its field instead.
describe("times outside what Postgres stores", () => {
  it("the audit filter refuses year 0 in from and to, naming the field", () => {
    for (const field of ["from", "to"])
      for (const v of ["0000-01-01", "0000-06-01T00:00:00Z"])
        expect(() => parseAuditQuery(new URLSearchParams({ [field]: v }))).toThrow(expect.objectContaining({ code: "INVALID_INPUT", field }));
    expect(parseAuditQuery(new URLSearchParams({ from: "0001-01-01" })).filter.from?.toISOString()).toBe("0001-01-01T00:00:00.000Z");
  });

  it("key revocation and waiver bodies refuse a time in year 0", () => {
    const r = revokeKeyBody.safeParse({ effectiveAt: "0000-01-01T00:00:00Z", reason: "leaked" });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(["effectiveAt"]);
    expect(revokeKeyBody.safeParse({ effectiveAt: "2026-12-01T00:00:00Z", reason: "leaked" }).success).toBe(true);
    const w = { stage: "prod", gate: "sbom", repository: "team/app", reason: "accepted risk", expiresAt: "0000-06-01T00:00:00+02:00" };
    expect(grantWaiverBody.safeParse(w).error?.issues.map((i) => i.path.join("."))).toContain("expiresAt");
  });

  it("a trust identity's validity dates refuse year 0 too", () => {
    expect(trustIdentityFields.validFrom.safeParse("0000-01-01T00:00:00Z").success).toBe(false);
    expect(trustIdentityFields.validFrom.safeParse("2026-01-01T00:00:00Z").success).toBe(true);
    expect(trustIdentityFields.validFrom.safeParse(null).success).toBe(true);
  });
});
