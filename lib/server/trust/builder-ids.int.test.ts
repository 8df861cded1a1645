// A builder identity's builder ids through the API: validation at the edge (every bad value a 422 INVALID_INPUT naming builderIds,
// nothing stored), the role rules on create and update, the audit rows, the "any builder" warning, and the upgrade of
// builder identities that existed before the column (migration 20261210100000, backfilled with **).
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { callRoute } from "../../../scripts/test-harness/routes";
import * as one from "../../../app/api/v1/trust/[name]/route";
import * as all from "../../../app/api/v1/trust/route";
import { db, disconnectDb, pgPool } from "../../db";
import type { Actor } from "../actor";
import { createToken } from "../tokens/create-token";
import { createTrustIdentity } from "./create-trust-identity";

const system: Actor = { kind: "system", label: "builder-ids-test" };
let token: string;
let n = 0;

const pem = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "pem", type: "spki" }).toString();

async function post(body: Record<string, unknown>) {
  const res = await callRoute(all.POST as never, { method: "POST", template: "/api/v1/trust", body, token });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

async function patch(name: string, body: Record<string, unknown>) {
  const res = await callRoute(one.PATCH as never, { method: "PATCH", template: "/api/v1/trust/[name]", params: { name }, body, token });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

const builder = (over: Record<string, unknown> = {}) => ({
  name: `builder-${++n}`,
  kind: "key",
  role: "builder",
  scope: ["apps/**"],
  builderIds: ["https://ci.team.example/*"],
  publicKeyPem: pem(),
  ...over,
});

beforeAll(async () => {
  await seedUsers();
  token = (await createToken({ actor: system, email: "admin@example.com", name: "builder-ids" })).token;
});

afterAll(async () => {
  await disconnectDb();
});

describe("builder ids on trust identities", () => {
  it("refuses bad builderIds with a 422 naming the field, and stores nothing", async () => {
    const before = await db.trustIdentity.count();
    const bad = [
      "https://ci.example/*",
      [""],
      ["x".repeat(301)],
      Array.from({ length: 51 }, (_, i) => `https://ci.example/${i}`),
      ["https://ci.example/\u0007*"],
      ["https://ci.example/\u0085*"],
      [42],
    ];
    for (const builderIds of bad) {
      const r = await post(builder({ builderIds }));
      expect([builderIds, r.status, r.body.error?.code]).toEqual([builderIds, 422, "INVALID_INPUT"]);
      expect(r.body.error!.message).toContain("builderIds");
    }
    // The domain action judges the same (the CLI calls it without the HTTP edge).
    await expect(createTrustIdentity({ actor: system, input: builder({ builderIds: ["https://ci.example/\u001b[31m*"] }) })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "builderIds",
      message: expect.stringContaining("control characters"),
    });
    expect(await db.trustIdentity.count()).toBe(before);
  });

  it("a new builder needs a non-empty list; other roles may not carry one", async () => {
    for (const over of [{ builderIds: undefined }, { builderIds: [] }]) {
      const r = await post(builder(over));
      expect(r.status).toBe(422);
      expect(r.body.error!.message).toMatch(/^a builder identity needs builderIds/);
    }
    const team = await post(builder({ role: "team" }));
    expect(team.status).toBe(422);
    expect(team.body.error!.message).toContain("builderIds apply to builder identities only (this one is team)");
    expect(await db.trustIdentity.count({ where: { name: { startsWith: "builder-" } } })).toBe(0);
  });

  it("stores, audits and shows the list; ** is allowed and warned about", async () => {
    const ok = await post(builder({ name: "team-ci" }));
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ role: "builder", builderIds: ["https://ci.team.example/*"], builderIdsWarning: null });
    const add = await db.auditEvent.findFirstOrThrow({ where: { action: "trust.add", target: "team-ci" } });
    expect(add.detail).toMatchObject({ builderIds: ["https://ci.team.example/*"] });

    const any = await post(builder({ name: "any-ci", builderIds: ["**"] }));
    expect(any.status).toBe(201);
    expect(any.body.builderIdsWarning).toMatch(/^vouches for any builder id/);
    const listed = await callRoute(all.GET as never, { method: "GET", template: "/api/v1/trust", token });
    const ids = ((await listed.json()) as { identities: { name: string; builderIdsWarning: string | null }[] }).identities;
    expect(ids.find((i) => i.name === "any-ci")!.builderIdsWarning).toMatch(/any builder id/);
    expect(ids.find((i) => i.name === "team-ci")!.builderIdsWarning).toBeNull();
  });

  it("an update keeps the rules: a builder keeps a list, another role none, and bad values are refused before anything changes", async () => {
    await post(builder({ name: "upd-ci" }));
    expect((await patch("upd-ci", { builderIds: [] })).body.error).toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining("builderIds") });
    expect((await patch("upd-ci", { builderIds: ["\u0000"] })).status).toBe(422);
    expect((await patch("upd-ci", { builderIds: "https://x/*" })).body.error!.message).toContain("builderIds");
    // Turning a builder into a team key needs its list cleared in the same change.
    expect((await patch("upd-ci", { role: "team" })).body.error!.message).toContain("builderIds apply to builder identities only (this one is team)");
    expect((await db.trustIdentity.findUniqueOrThrow({ where: { name: "upd-ci" } })).role).toBe("builder");
    const narrowed = await patch("upd-ci", { builderIds: ["https://ci.team.example/release/*"] });
    expect(narrowed).toMatchObject({ status: 200, body: { builderIds: ["https://ci.team.example/release/*"] } });
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "trust.update", target: "upd-ci" }, orderBy: { seq: "desc" } });
    expect(audit.detail).toMatchObject({ changes: { builderIds: ["https://ci.team.example/release/*"] } });
    expect((await patch("upd-ci", { role: "team", builderIds: [] })).body).toMatchObject({ role: "team", builderIds: [] });
    // And back: a key becoming a builder must say which builders it vouches for.
    expect((await patch("upd-ci", { role: "builder" })).body.error!.message).toMatch(/^a builder identity needs builderIds/);
    expect((await patch("upd-ci", { role: "builder", builderIds: ["https://ci.team.example/*"] })).status).toBe(200);
  });
});

describe("upgrading to builder_ids (migration 20261210100000)", () => {
  it("backfills existing builder identities with ** and leaves other roles empty", async () => {
    const sql = readFileSync(join(__dirname, "../../../prisma/migrations/20261210100000_identity_builder_ids/migration.sql"), "utf8");
    const conn = await pgPool().connect();
    try {
      // The schema as it was before the migration, with a builder and a team key in it; rolled back afterwards.
      await conn.query("BEGIN");
      await conn.query(`ALTER TABLE trust_identities DROP COLUMN builder_ids`);
      await conn.query(
        `INSERT INTO trust_identities (id, name, kind, role, scope) VALUES (gen_random_uuid(), 'old-builder', 'key', 'builder', '{**}'), (gen_random_uuid(), 'old-team', 'key', 'team', '{**}')`,
      );
      await conn.query(sql);
      const { rows } = await conn.query<{ name: string; builder_ids: string[] }>(
        `SELECT name, builder_ids FROM trust_identities WHERE name IN ('old-builder', 'old-team') ORDER BY name`,
      );
      expect(rows).toEqual([
        { name: "old-builder", builder_ids: ["**"] },
        { name: "old-team", builder_ids: [] },
      ]);
    } finally {
      await conn.query("ROLLBACK");
      conn.release();
    }
  });
});
