// Confirming a registry's changed token realm confirms the realm the admin was shown. Found by review: the request
// carried nothing, so a page showing one realm confirmed whatever a later connection test had put in its place, and
// the registry's credentials then went there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { confirmRegistryRealm } from "./confirm-registry-realm";

beforeAll(async () => {
  await seedUsers();
  await db.registry.create({
    data: {
      name: "realm-test",
      url: "https://registry.realm.example",
      tokenRealm: "https://auth.realm.example/token",
      pendingRealm: "https://auth2.realm.example/token",
    },
  });
});
afterAll(async () => disconnectDb());

describe("confirming a changed token realm", () => {
  it("refuses (409, realm) when the pending realm is not the one shown, and confirms the one shown", async () => {
    const admin = await userActor("admin@example.com");
    await expect(confirmRegistryRealm({ actor: admin, name: "realm-test", realm: "https://attacker.example/token" })).rejects.toMatchObject({
      code: "CONFLICT",
      field: "realm",
      message: expect.stringContaining("is now https://auth2.realm.example/token"),
    });
    expect(await db.registry.findUniqueOrThrow({ where: { name: "realm-test" } })).toMatchObject({ tokenRealm: "https://auth.realm.example/token" });
    await confirmRegistryRealm({ actor: admin, name: "realm-test", realm: "https://auth2.realm.example/token" });
    expect(await db.registry.findUniqueOrThrow({ where: { name: "realm-test" } })).toMatchObject({
      tokenRealm: "https://auth2.realm.example/token",
      pendingRealm: null,
    });
    const ev = await db.auditEvent.findFirstOrThrow({ where: { action: "registry.realm.confirm", target: "realm-test" } });
    expect(ev.detail).toEqual({ from: "https://auth.realm.example/token", to: "https://auth2.realm.example/token" });
    // Nothing left to confirm.
    await expect(confirmRegistryRealm({ actor: admin, name: "realm-test" })).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(confirmRegistryRealm({ actor: await userActor("alice@example.com"), name: "realm-test" })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
