// The tick retries signatures left pending (registry down when they were made), a limited number per tick. Pushes that
// can never succeed (their registry is gone for good) must not take every slot from the others.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndApproved, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { requestPromotion } from "../promotions/request-promotion";
import { approveStage } from "./approve-stage";
import { completePendingSignatures } from "./complete-pending-signatures";

const system: Actor = { kind: "system", label: "pending-retries" };
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build"]);
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("pending signature retries", () => {
  it("a pending signature on a healthy registry is pushed even when older ones can never be", async () => {
    const reg: RegistryHandle = await startRegistry({});
    const name = `gone-${Date.now()}`;
    const alice = await userActor("alice@example.com");
    const stuck: string[] = [];
    try {
      await db.registry.create({ data: { name, url: reg.url } });
      const c2 = new RegistryClient({ url: reg.url });
      const digests: Digest[] = [];
      for (const label of ["a", "b"]) {
        const img = buildImage({ architecture: "amd64", layers: [{ "gone.txt": `${label} ${Math.random()}` }] });
        await pushImage(c2, "gone/app", img, [label]);
        digests.push(img.digest as Digest);
      }
      await syncRegistry({ actor: system, registry: name });
      // The registry goes away for good; approvals made now stay pending, and every retry fails.
      await reg.stop();
      for (const digest of digests) {
        await requestPromotion({ actor: await userActor("dev@example.com"), registry: name, repository: "gone/app", digest, stage: "build", note: "n" });
        const a = await approveStage({ actor: alice, registry: name, repository: "gone/app", digest, stage: "build", comment: "ok" });
        expect(a.status).not.toBe("signed");
        stuck.push(a.id!);
      }
      // A newer approval on the healthy registry whose signature is pending too (its push is yet to happen).
      const { approval } = await pushedAndApproved({ client, registry: "default", repository: "pending-retries/app", stage: "build", label: "1" });
      await db.approval.update({ where: { id: approval.id }, data: { status: "signing", createdAt: new Date() } });

      // Ticks retrying two approvals each (the tick's limit is 20).
      for (let tick = 0; tick < 3; tick++) await completePendingSignatures({ actor: system, limit: 2 });
      expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).status, "starved behind pushes that cannot succeed").toBe("signed");
      for (const id of stuck) expect((await db.approval.findUniqueOrThrow({ where: { id } })).attempts).toBeGreaterThan(0);
    } finally {
      await db.approval.updateMany({ where: { id: { in: stuck } }, data: { revokedAt: new Date(), revokedBy: "test", revocationState: "removed" } });
    }
  });
});
