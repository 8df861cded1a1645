// The CLI as an operator runs it: a separate process with the same database and settings.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../db";
import { resetEnvCache } from "../env";
import { seedStages } from "../../scripts/seed";
import { assertMasterKeyUsable } from "./keys/master-key";

const root = join(__dirname, "../..");
function cli(args: string[], env: Record<string, string> = {}, input?: string) {
  const r = spawnSync(process.execPath, ["--conditions=react-server", "--import", "tsx", join(root, "scripts/cli.ts"), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8",
    input,
  });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

afterAll(async () => {
  await disconnectDb();
});

describe("npx imprimatur", () => {
  it("adds and lists users, with the password from stdin, and refuses bad input with a reason", () => {
    const add = cli(["user", "add", "--email", "ops@example.com", "--role", "reviewer", "--name", "Ops"], {}, "a-long-password\n");
    expect(add.code).toBe(0);
    expect(add.out).toContain("created ops@example.com (reviewer)");
    expect(cli(["user", "list"]).out).toMatch(/ops@example\.com\treviewer\tOps/);
    const bad = cli(["user", "add", "--email", "x@example.com", "--role", "root", "--password", "long-enough"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--role must be one of/);
    const dup = cli(["user", "add", "--email", "ops@example.com", "--role", "reviewer", "--password", "long-enough"]);
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/CONFLICT/);
  });

  it("creates a token (printed as the last line, stored as a hash), lists and revokes it", async () => {
    const t = cli(["token", "create", "--email", "ops@example.com", "--expires", "30d"]);
    expect(t.code).toBe(0);
    const token = t.out.split("\n").pop()!;
    expect(token).toMatch(/^imp_[A-Za-z0-9_-]{43}$/);
    const row = await db.apiToken.findFirstOrThrow({ where: { user: { email: "ops@example.com" } }, omit: { tokenHash: false } });
    expect(row.tokenHash).not.toContain(token);
    expect(row.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(cli(["token", "list"]).out).toContain(`${row.prefix}…`);
    expect(cli(["token", "revoke", row.prefix]).code).toBe(0);
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: row.id } })).revokedAt).not.toBeNull();
    expect(cli(["token", "create", "--email", "ops@example.com", "--expires", "soon"]).err).toMatch(/expires must look like 30d/);
  });

  it("trusts an outside key, verifies the audit chain, and audits every invocation", async () => {
    const trust = cli(["trust", "add", "--name", "cli-publisher", "--pem-file", join(root, "scripts/fixtures/upstream-cosign/publisher.pub")]);
    expect(trust.code).toBe(0);
    expect(trust.out).toMatch(/trusted: cli-publisher sha256:[a-f0-9]{64}/);
    const missing = cli(["trust", "add", "--name", "x", "--pem-file", "/nonexistent.pem"]);
    expect(missing.err).toMatch(/cannot read \/nonexistent.pem/);
    const v = cli(["audit", "verify"]);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/audit chain intact: \d+ events/);
    const actions = (await db.auditEvent.findMany({ where: { actorType: "cli" }, select: { action: true, detail: true } })).map((a) => a.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        "cli.user.add",
        "cli.user.list",
        "cli.token.create",
        "cli.token.revoke",
        "cli.trust.add",
        "cli.audit.verify",
        "user.create",
        "token.create",
        "trust.add",
      ]),
    );
    const masked = await db.auditEvent.findMany({ where: { action: "cli.user.add" } });
    expect(JSON.stringify(masked.map((m) => m.detail))).not.toContain("long-enough");
  });

  it("exports the trail with each row's hashes, filtered, and refuses a range over the cap naming the field", async () => {
    const from = new Date(Date.now() - 86_400_000).toISOString();
    expect(cli(["user", "list"]).code).toBe(0);
    const ex = cli(["audit", "export", "--from", from, "--action", "cli"]);
    expect(ex.code).toBe(0);
    const rows = ex.out.split("\n").map((l) => JSON.parse(l) as { seq: string; action: string; hash: string });
    expect(rows.map((r) => r.action)).toEqual(expect.arrayContaining(["cli.user.list", "cli.audit.export"]));
    expect(rows.every((r) => r.action.startsWith("cli."))).toBe(true);
    for (const r of rows) expect((await db.auditEvent.findUniqueOrThrow({ where: { seq: BigInt(r.seq) } })).hash).toBe(r.hash);
    const wide = cli(["audit", "export", "--from", "2020-01-01", "--to", "2026-01-01"]);
    expect(wide.code).toBe(1);
    expect(wide.err).toMatch(/INVALID_INPUT: the range is longer than 366 days/);
  });

  it("refuses to run when encrypted keys exist and the master key is missing or wrong, and says why", async () => {
    await seedStages(["build", "test", "prod"]);
    const saved = process.env.IMPRIMATUR_MASTER_KEY;
    try {
      process.env.IMPRIMATUR_MASTER_KEY = "";
      resetEnvCache();
      await expect(assertMasterKeyUsable()).rejects.toThrow(/refuses to start: encrypted signing keys exist .* IMPRIMATUR_MASTER_KEY is not set/);
      process.env.IMPRIMATUR_MASTER_KEY = randomBytes(32).toString("base64");
      resetEnvCache();
      await expect(assertMasterKeyUsable()).rejects.toThrow(/does not decrypt signing key/);
    } finally {
      process.env.IMPRIMATUR_MASTER_KEY = saved;
      resetEnvCache();
    }
    const r = cli(["user", "list"], { IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64") });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/does not decrypt signing key/);
  });
});

describe("npx imprimatur policy export", () => {
  it("prints the stage's policy with its key, and refuses an unknown format listing the formats", async () => {
    await seedStages(["build"]);
    const key = await db.signingKey.findFirstOrThrow({ where: { stage: { name: "build" }, retiredAt: null, revokedAt: null } });
    const out = cli(["policy", "export", "--stage", "build", "--format", "kyverno-clusterpolicy", "--images", "registry.example/team/*"]);
    expect(out.code).toBe(0);
    expect(out.out).toContain("kind: ClusterPolicy");
    expect(out.out).toContain(`imprimatur.dev/keys: ${key.fingerprint}`);
    expect(out.out).toContain("registry.example/team/*");
    const bad = cli(["policy", "export", "--stage", "build", "--format", "opa"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/INVALID_INPUT.*kyverno, kyverno-clusterpolicy, policy-controller, cosign/);
    expect(cli(["policy", "export", "--stage", "build"]).code).toBe(2);
  });
});
