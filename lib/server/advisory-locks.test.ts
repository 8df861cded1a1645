import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ADVISORY_LOCKS, PRISMA_MIGRATE_LOCK } from "./advisory-locks";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === "generated" || f === "node_modules") return [];
    return statSync(p).isDirectory() ? files(p) : /\.(ts|tsx)$/.test(f) && !/\.test\.ts$/.test(f) ? [p] : [];
  });
}

describe("advisory lock ids", () => {
  it("are distinct, fit a Postgres int, and stay clear of Prisma's migration lock", () => {
    const ids = Object.values(ADVISORY_LOCKS);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(Number.isInteger(id) && id > 0 && id < 2 ** 31).toBe(true);
    expect(ids).not.toContain(PRISMA_MIGRATE_LOCK);
  });

  it("are spelled only in lib/server/advisory-locks.ts: no advisory lock call takes a literal number", () => {
    const offenders: string[] = [];
    for (const f of [...files("lib"), ...files("app"), ...files("scripts")]) {
      const text = readFileSync(f, "utf8");
      for (const m of text.matchAll(/pg_(?:try_)?advisory_(?:xact_)?lock\(([^)]*)\)/g)) {
        if (/\$\{\s*(0x[0-9a-f]+|\d+)\s*\}|\(\s*(0x[0-9a-f]+|\d+)\s*[,)]|hashtext\('/i.test(m[0])) offenders.push(`${f}: ${m[0]}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("the stage-decision lock spelled in SQL is the one listed here", () => {
    const sql = readFileSync("prisma/migrations/20261207090000_stage_decision_serialised/migration.sql", "utf8");
    expect(sql).toContain(`pg_advisory_xact_lock(${ADVISORY_LOCKS.stageDecision}, `);
  });
});
