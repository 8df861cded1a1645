// resolveRegistry reads registries with one raw statement (no Prisma query to compile at a sync's start). What it
// returns must stay the row Prisma returns, column for column (a column added to the model and not to the raw
// read fails here), and its choices must stay those of before: by name, the only one, or an error naming them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { createRegistry } from "./create-registry";
import { resolveRegistry } from "./resolve-registry";

const admin: Actor = { kind: "cli", label: "resolve-registry-test" };

beforeAll(async () => {
  await createRegistry({
    actor: admin,
    input: {
      name: "resolve-raw",
      url: "http://127.0.0.1:5999/prefix",
      pullName: "pull.example.test",
      caBundle: "-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----",
      repositories: ["a/b", "c"],
      syncIntervalMinutes: 15,
      readCredentials: { username: "reader", password: "read-secret" },
      pushCredentials: { username: "pusher", password: "push-secret" },
    },
  });
  await db.registry.update({
    where: { name: "resolve-raw" },
    data: { tokenRealm: "https://auth.example.test/token", lastSyncAt: new Date("2026-12-01T10:00:00.123Z"), lastSyncInfo: { status: "succeeded", tags: 3 } },
  });
});
afterAll(async () => {
  await db.registry.deleteMany({ where: { name: "resolve-raw" } });
  await disconnectDb();
});

describe("resolveRegistry", () => {
  it("returns exactly the row Prisma returns, sealed credentials, dates and JSON included", async () => {
    const viaPrisma = await db.registry.findUniqueOrThrow({ where: { name: "resolve-raw" } });
    const raw = await resolveRegistry("resolve-raw");
    expect(Object.keys(raw).sort()).toEqual(Object.keys(viaPrisma).sort());
    expect(raw).toEqual(viaPrisma);
    expect(raw.readCredentials).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(raw.readCredentials!).equals(Buffer.from(viaPrisma.readCredentials!))).toBe(true);
    expect(raw.lastSyncAt?.toISOString()).toBe("2026-12-01T10:00:00.123Z");
  });

  it("answers NOT_FOUND naming the field for a registry that does not exist, hostile names included", async () => {
    for (const name of ["no-such-registry", "x' OR '1'='1", "default' --"]) {
      const err = await resolveRegistry(name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("NOT_FOUND");
      expect((err as AppError).field).toBe("registry");
    }
  });

  it("without a name, refuses to choose among several and names them in order", async () => {
    const names = (await db.registry.findMany({ orderBy: { name: "asc" }, take: 10, select: { name: true } })).map((r) => r.name);
    expect(names.length).toBeGreaterThan(1);
    const err = await resolveRegistry().catch((e: unknown) => e);
    expect((err as AppError).code).toBe("INVALID_INPUT");
    expect((err as AppError).message).toContain(`(${names.join(", ")})`);
  });

  it("keeps the default registry following REGISTRY_URL", async () => {
    const url = process.env.REGISTRY_URL!.replace(/\/+$/, "");
    await db.registry.updateMany({ where: { name: "default" }, data: { url: "http://127.0.0.1:1/stale" } });
    const d = await resolveRegistry("default");
    expect(d.url).toBe(url);
    expect((await db.registry.findUniqueOrThrow({ where: { name: "default" } })).url).toBe(url);
  });
});
