// `npx imprimatur advisories import FILE|URL` as an operator runs it: a separate process, same database.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../db";
import { writeZip } from "../../evidence/zip-writer";

const root = join(__dirname, "../../..");
const FIXTURE = "/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json";

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", join(root, "scripts/cli.ts"), ...args], { cwd: root, env: process.env });
    let out = "";
    let err = "";
    p.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.stderr.on("data", (c: Buffer) => (err += c.toString()));
    p.on("close", (code) => resolve({ code, out: out.trim(), err: err.trim() }));
  });
}

afterAll(async () => {
  await disconnectDb();
});

describe("npx imprimatur advisories import", () => {
  it("imports a file, then an osv.dev-style zip from a URL, and refuses a malformed file with the reason", async () => {
    const f = await cli(["advisories", "import", FIXTURE]);
    expect(f.err).toBe("");
    expect(f.out).toMatch(/^1 record\(s\): 1 new, 0 updated, 0 unchanged, 0 skipped/);
    expect(await db.advisory.findUnique({ where: { id: "GHSA-35jh-r3h4-6jhm" } })).not.toBeNull();

    const rec = { ...JSON.parse(readFileSync(FIXTURE, "utf8")), id: "GHSA-cli0-url0-0001" };
    const zip = writeZip([{ name: "GHSA-cli0-url0-0001.json", data: Buffer.from(JSON.stringify(rec)) }]);
    const server = createServer((_, res) => res.end(zip));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const u = await cli(["advisories", "import", `http://127.0.0.1:${(server.address() as AddressInfo).port}/npm/all.zip`]);
      expect(u.out).toMatch(/^1 record\(s\): 1 new/);
    } finally {
      server.close();
    }
    expect(await db.auditEvent.count({ where: { action: "advisory.import", actorType: "cli" } })).toBe(2);

    const bad = await cli(["advisories", "import", join(root, "package.json")]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/INVALID_INPUT|malformed OSV record/);
    expect(await db.advisory.count()).toBe(2);
  });
});
