import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AUDIT_KINDS } from "./audit-catalogue";
import { AUDIT_EVENTS, auditDetailProblem, auditDetailSchema, CLI_PREFIX, type AuditKindName } from "./audit-events";
import type { AuditEventInput } from "./server/audit/append-audit-event";

const ROOT = join(__dirname, "..");
const SKIP = new Set(["lib/audit-events.ts", "lib/audit-catalogue.ts"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((d) => {
    const rel = `${dir}/${d.name}`;
    if (d.isDirectory()) return d.name === "generated" || d.name === "node_modules" ? [] : sourceFiles(rel);
    return /\.(ts|tsx|mjs)$/.test(d.name) && !/\.test\.ts$/.test(d.name) && !SKIP.has(rel) ? [rel] : [];
  });
}

/**
 * Every kind the code names in an `action:` property (a literal, either arm of a ternary, a union type of kinds), and
 * every template that builds one (`cli.${…}`), with the files naming it.
 */
function writtenKinds(): { kinds: Map<string, string[]>; templates: Map<string, string[]> } {
  const kinds = new Map<string, string[]>();
  const templates = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, k: string, f: string) => m.set(k, [...(m.get(k) ?? []), f]);
  for (const file of ["lib", "app", "scripts"].flatMap(sourceFiles)) {
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const m of text.matchAll(/\baction\s*:\s*((?:\$\{[^}]*\}|[^,;{}])*)/g)) {
      const expr = m[1]!;
      for (const lit of expr.matchAll(/"([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+)"/g)) add(kinds, lit[1]!, file);
      for (const tpl of expr.matchAll(/`([a-z][a-z0-9-]*\.)\$\{/g)) add(templates, tpl[1]!, file);
    }
  }
  return { kinds, templates };
}

describe("audit event kinds", () => {
  const { kinds, templates } = writtenKinds();

  it("finds the kinds the code writes (the scan itself works)", () => {
    expect(kinds.get("approval.create")).toEqual(["lib/server/promotions/review-request.ts"]);
    expect(kinds.has("evidence.discover") && kinds.has("stage.create") && kinds.has("key.import")).toBe(true);
    expect([...templates.keys()]).toEqual([CLI_PREFIX]);
  });

  it("has a detail schema and a catalogue sentence for every kind written in the code", () => {
    const noSchema = [...kinds.keys()].filter((k) => !auditDetailSchema(k));
    const noSentence = [...kinds.keys()].filter((k) => !Object.prototype.hasOwnProperty.call(AUDIT_KINDS, k) && !k.startsWith(CLI_PREFIX));
    expect({ noSchema, noSentence }).toEqual({ noSchema: [], noSentence: [] });
    // The only built kinds are the CLI's, which share one schema and one sentence.
    for (const prefix of templates.keys()) expect(prefix).toBe(CLI_PREFIX);
  });

  it("lists no schema and no catalogue entry for a kind nobody writes", () => {
    const unwritten = [...new Set([...Object.keys(AUDIT_EVENTS), ...Object.keys(AUDIT_KINDS)])].filter((k) => !kinds.has(k));
    expect(unwritten).toEqual([]);
    expect(Object.keys(AUDIT_KINDS).sort()).toEqual(Object.keys(AUDIT_EVENTS).sort());
  });

  it("inserts audit rows only through the writers that validate the detail", () => {
    const inserts = ["lib", "app", "scripts"]
      .flatMap(sourceFiles)
      .filter((f) =>
        /\.(auditEvent|auditOutbox)\.(create|createMany|upsert)\(|INSERT\s+INTO\s+"?audit_(events|outbox)\b/i.test(readFileSync(join(ROOT, f), "utf8")),
      );
    // Each calls auditEventValues. The fold moves outbox rows, validated when staged, with the SQL function
    // audit_fold_outbox (migration 20261212000000_audit_outbox_fold), which copies them as they are.
    expect(inserts.sort()).toEqual([
      "lib/server/audit/append-audit-event.ts",
      "lib/server/audit/stage-audit-event-grouped.ts",
      "lib/server/audit/stage-audit-event.ts",
      "lib/server/reevaluation/reevaluate-approvals.ts",
    ]);
    expect(readFileSync(join(ROOT, "lib/server/audit/stage-audit-event-grouped.ts"), "utf8")).toMatch(/const values = auditEventValues\(e\)/);
    expect(readFileSync(join(ROOT, "lib/server/reevaluation/reevaluate-approvals.ts"), "utf8")).toMatch(
      /auditOutbox\.create\(\{ data: auditEventValues\(e\) \}\)/,
    );
  });

  it("judges a detail as stored: exact fields, optional ones absent, unknown kinds refused", () => {
    const push = { approvalId: "a1", stage: "prod", layerDigest: "sha256:ab", tag: "sha256-ab.sig" };
    expect(auditDetailProblem("signature.push", push)).toBeNull();
    expect(auditDetailProblem("signature.push", { approvalId: "a1", error: "registry down" })).toBeNull();
    expect(auditDetailProblem("signature.push", { ...push, extra: 1 })).toMatch(/extra/);
    expect(auditDetailProblem("signature.push", { ...push, stage: 5 })).toMatch(/^stage: /);
    expect(auditDetailProblem("user.enable", {})).toBeNull();
    expect(auditDetailProblem("user.enable", { x: 1 })).not.toBeNull();
    expect(
      auditDetailProblem("waiver.grant", {
        waiverId: "w",
        stage: "prod",
        gate: "vulnerabilities",
        vulnIds: [],
        scope: "digest",
        reason: "r",
        expiresAt: "tomorrow",
      }),
    ).toMatch(/^expiresAt: /);
    expect(auditDetailProblem("cli.audit.verify", { args: { password: "***", "dry-run": true }, positionals: [] })).toBeNull();
    expect(auditDetailProblem("cli.", { args: {}, positionals: [] })).toMatch(/unknown audit event kind/);
    expect(auditDetailProblem("test.event", {})).toMatch(/unknown audit event kind "test.event"/);
    expect(auditDetailProblem("toString", {})).toMatch(/unknown audit event kind/);
  });

  it("types the writers' input by kind, so tsc refuses an unknown kind or a wrong detail (checked by tsc --noEmit)", () => {
    const write = <K extends AuditKindName>(e: AuditEventInput<K>) => e.action;
    const actor = { kind: "system" as const, label: "test" };
    expect(write({ actor, action: "user.disable", detail: { revokedTokens: 1 } })).toBe("user.disable");
    expect(write({ actor, action: "user.enable" })).toBe("user.enable");
    expect(write({ actor, action: "cli.audit.verify", detail: { args: { force: true }, positionals: [] } })).toBe("cli.audit.verify");
    // @ts-expect-error -- a kind nobody declared
    write({ actor, action: "test.event", detail: {} });
    // @ts-expect-error -- a field the kind does not have
    write({ actor, action: "user.disable", detail: { revokedTokens: 1, extra: true } });
    // @ts-expect-error -- a field of the wrong type
    write({ actor, action: "user.disable", detail: { revokedTokens: "1" } });
    // @ts-expect-error -- a kind whose detail has required fields needs its detail
    write({ actor, action: "user.role" });
    // @ts-expect-error -- an action computed as a plain string is not a kind
    write({ actor, action: String("user.enable") });
  });
});
