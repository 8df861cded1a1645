// Test fixture for the tests of what follows an approval's answer: seeded users, stages build/test/prod with "build"
// emitting Sigstore bundles (so both the bundle and the verification summary are deferred), and a registry client.
import { afterAll, beforeAll } from "vitest";
import { db, disconnectDb } from "../../lib/db";
import { RegistryClient } from "../../lib/oci/client";
import { stopBoss } from "../../lib/server/jobs/boss";
import { seedStages, seedUsers } from "../seed";

/** Registers the file's beforeAll / afterAll; returns the registry client (set once beforeAll has run). */
export function useBundleStages(): { client: RegistryClient } {
  const fixture = {} as { client: RegistryClient };
  beforeAll(async () => {
    fixture.client = new RegistryClient({ url: process.env.REGISTRY_URL! });
    await seedUsers();
    await seedStages(["build", "test", "prod"]);
    await db.stage.update({ where: { name: "build" }, data: { emitBundle: true } });
  });
  afterAll(async () => {
    await stopBoss();
    await disconnectDb();
  });
  return fixture;
}
