import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildImage, pushImage, pushIndex } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { db, disconnectDb, pgPool } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { requestAndApprove } from "../../../scripts/test-harness/promote";
import { syncRegistry } from "../images/sync-registry";
import { evaluateImage, evaluateReview, REVIEW_LOOKUP, VERIFY_LOOKUP } from "./evaluate-image";
import { reviewImages, setNamespacePolicy } from "./review-images";
import { foldStagedAuditEvents } from "../audit/fold-staged-audit-events";
import { verifyAuditChain } from "../audit/verify-audit-chain";
import { stageAuditEventGrouped } from "../audit/stage-audit-event-grouped";
import { auditEventValues } from "../audit/append-audit-event";

const system: Actor = { kind: "system", label: "admission-test" };
let host: string;
let approved: string;
let unapproved: string;
let indexDigest: string;
let childDigest: string;

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  const a = buildImage({ architecture: "amd64", layers: [{ "a.txt": "approved" }] });
  const b = buildImage({ architecture: "amd64", layers: [{ "b.txt": "not approved" }] });
  await pushImage(client, "adm/app", a, ["1.0"]);
  await pushImage(client, "adm/app", b, ["2.0"]);
  const plat = [buildImage({ architecture: "amd64", layers: [{ "p.txt": "amd" }] }), buildImage({ architecture: "arm64", layers: [{ "p.txt": "arm" }] })];
  indexDigest = await pushIndex(client, "adm/multi", plat, ["1.0"]);
  childDigest = plat[1]!.digest;
  await syncRegistry({ actor: system });
  const u = await db.user.findUniqueOrThrow({ where: { email: "alice@example.com" } });
  const alice: Actor = { kind: "user", id: u.id, email: u.email, name: u.name, role: u.role, via: "token" };
  await requestAndApprove({ actor: alice, repository: "adm/app", digest: a.digest, stage: "prod", comment: "ok" });
  await requestAndApprove({ actor: alice, repository: "adm/multi", digest: indexDigest as `sha256:${string}`, stage: "prod", comment: "ok" });
  approved = a.digest;
  unapproved = b.digest;
});

afterAll(async () => {
  await disconnectDb();
});

describe("may this digest enter production?", () => {
  it("allows a digest whose stage signature verifies, and says as of when", async () => {
    const v = await evaluateImage({ image: `${host}/adm/app@${approved}`, stage: "prod", refuseTags: false });
    expect(v.allowed).toBe(true);
    expect(v.digest).toBe(approved);
    expect(v.reasons.join(" ")).toMatch(/stage prod passed/);
    expect(Date.parse(v.asOf!)).toBeGreaterThan(0);
  });

  it("denies with the reason: unapproved digest, other stage, unknown registry, bad reference", async () => {
    expect((await evaluateImage({ image: `${host}/adm/app@${unapproved}`, stage: "prod", refuseTags: false })).reasons.join()).toMatch(/no approval/);
    expect((await evaluateImage({ image: `${host}/adm/app@${approved}`, stage: "test", refuseTags: false })).allowed).toBe(false);
    expect((await evaluateImage({ image: `ghcr.io/adm/app@${approved}`, stage: "prod", refuseTags: false })).reasons.join()).toMatch(
      /not one Imprimatur watches/,
    );
    expect((await evaluateImage({ image: "not a ref", stage: "prod", refuseTags: false })).allowed).toBe(false);
    expect((await evaluateImage({ image: `${host}/adm/app@${approved}`, stage: "staging", refuseTags: false })).reasons).toEqual(["unknown stage staging"]);
  });

  it("resolves a tag from stored state and says so, or refuses tags when configured", async () => {
    const v = await evaluateImage({ image: `${host}/adm/app:1.0`, stage: "prod", refuseTags: false });
    expect(v.allowed).toBe(true);
    expect(v.resolvedFromTag).toBe("1.0");
    expect(v.reasons[0]).toMatch(/tag 1.0 resolved to sha256:.* the tag may have moved/);
    const r = await evaluateImage({ image: `${host}/adm/app:1.0`, stage: "prod", refuseTags: true });
    expect(r.allowed).toBe(false);
    expect(r.reasons[0]).toMatch(/only digests are accepted/);
  });

  it("answers concurrent requests from shared statements, each with its own verdict, exactly as one at a time", async () => {
    const asks = Array.from({ length: 60 }, (_, i) => ({
      image: [`${host}/adm/app@${approved}`, `${host}/adm/app@${unapproved}`, `${host}/adm/app:1.0`, `${host}/adm/multi@${childDigest}`, `${host}/adm/none:x`][
        i % 5
      ]!,
      stage: ["prod", "test", "staging"][i % 3]!,
      refuseTags: i % 2 === 0,
    }));
    const alone = [];
    for (const a of asks) alone.push(await evaluateImage(a));
    // The real pool, only counted: the statements that carried the 60 concurrent lookups.
    const spy = vi.spyOn(pgPool(), "query");
    let together, sent;
    try {
      together = await Promise.all(asks.map((a) => evaluateImage(a)));
      sent = spy.mock.calls.filter(([q]) => (q as { name?: string }).name === VERIFY_LOOKUP.name).length;
    } finally {
      spy.mockRestore();
    }
    expect(together).toEqual(alone);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(asks.length / 10);
  });

  it("a lookup Postgres refuses fails only its own request, not the others grouped with it", async () => {
    const good = { image: `${host}/adm/app@${approved}`, stage: "prod", refuseTags: false };
    // NUL cannot be sent in Postgres text (the API refuses it at the edge; here it stands for any refused input).
    const results = await Promise.allSettled([evaluateImage(good), evaluateImage({ ...good, stage: "pr\u0000od" }), evaluateImage(good)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    for (const r of [results[0], results[2]]) expect(r?.status === "fulfilled" && r.value.allowed).toBe(true);
  });

  it("gives, without a stored decision, exactly the row stage_decision() computes, for every image and stage", async () => {
    // Every image (approved, unapproved, index, platforms) × every stage, and an unknown stage: the short path for
    // "no approval" and the computed path must agree column for column (or both give no row).
    const { rows } = await pgPool().query<{ now: string | null; computed: string | null; approvals: number }>(
      `SELECT (SELECT row(n.*)::text FROM stage_decision_now(i.id, s.id) n) AS now,
              (SELECT row(d.*)::text FROM stage_decision(i.id, s.id) d) AS computed,
              (SELECT count(*)::int FROM approvals a WHERE a.image_id = i.id AND a.stage_id = s.id) AS approvals
         FROM images i CROSS JOIN (SELECT id FROM stages UNION ALL SELECT gen_random_uuid()) s
        WHERE NOT EXISTS (SELECT 1 FROM stage_decisions d WHERE d.image_id = i.id AND d.stage_id = s.id)`,
    );
    expect(rows.filter((r) => r.approvals === 0 && r.computed !== null).length).toBeGreaterThan(5);
    for (const r of rows) expect(r.now).toBe(r.computed);
  });

  it("covers a platform manifest by its index's signature", async () => {
    const v = await evaluateImage({ image: `${host}/adm/multi@${childDigest}`, stage: "prod", refuseTags: false });
    expect(v.allowed).toBe(true);
    expect(v.reasons.join()).toMatch(/platform manifest of index/);
  });
});

describe("Kubernetes ImageReview", () => {
  const review = (namespace: string, images: string[]) => ({
    apiVersion: "imagepolicy.k8s.io/v1alpha1" as const,
    kind: "ImageReview" as const,
    spec: { containers: images.map((image) => ({ image })), namespace },
  });

  it("allows when every image is by digest with the namespace's stage, denies tags and the rest with a reason", async () => {
    await setNamespacePolicy({ actor: system, namespace: "payments", stage: "prod" });
    await setNamespacePolicy({ actor: system, namespace: "kube-system", exempt: true });
    const ok = await reviewImages({ actor: system, review: review("payments", [`${host}/adm/app@${approved}`, `${host}/adm/multi@${indexDigest}`]) });
    expect(ok).toEqual({
      apiVersion: "imagepolicy.k8s.io/v1alpha1",
      kind: "ImageReview",
      status: { allowed: true, auditAnnotations: { "imprimatur.dev/stage": "prod" } },
    });
    const bad = await reviewImages({ actor: system, review: review("payments", [`${host}/adm/app@${approved}`, `${host}/adm/app@${unapproved}`]) });
    expect(bad.status.allowed).toBe(false);
    expect(bad.status.reason).toContain(unapproved);
    expect(bad.status.reason).not.toContain(`${approved}:`);
    const tagged = await reviewImages({ actor: system, review: review("payments", [`${host}/adm/app:1.0`]) });
    expect(tagged.status.allowed).toBe(false);
    expect(tagged.status.reason).toMatch(/only digests are accepted/);
    expect((await reviewImages({ actor: system, review: review("kube-system", ["nginx:latest"]) })).status.allowed).toBe(true);
    const unknown = await reviewImages({ actor: system, review: review("elsewhere", [`${host}/adm/app@${approved}`]) });
    expect(unknown.status).toEqual({ allowed: false, reason: expect.stringMatching(/no image policy/) });
    await setNamespacePolicy({ actor: system, namespace: "*", stage: "prod" });
    expect((await reviewImages({ actor: system, review: review("elsewhere", [`${host}/adm/app@${approved}`]) })).status.allowed).toBe(true);
    // Staged with one INSERT each, then folded into the hash chain in a batch.
    expect(await db.auditOutbox.count({ where: { action: "admission.review" } })).toBe(6);
    expect(await foldStagedAuditEvents()).toBeGreaterThanOrEqual(6);
    expect(await db.auditEvent.count({ where: { action: "admission.review" } })).toBe(6);
    expect(await db.auditOutbox.count()).toBe(0);
    expect((await verifyAuditChain()).ok).toBe(true);
  });

  it("audits every distinct image of a review (not the first 50) with the denied ones, and admits nothing for an empty review", async () => {
    // Found by the session-13 security review: an allowed review of up to 500 containers named only its first 50.
    await setNamespacePolicy({ actor: system, namespace: "wide", stage: "prod" });
    const ok = `${host}/adm/app@${approved}`;
    const last = `${host}/adm/multi@${indexDigest}`;
    const r = await reviewImages({ actor: system, review: review("wide", [...Array.from({ length: 60 }, () => ok), last]) });
    expect(r.status.allowed).toBe(true);
    const denied = await reviewImages({ actor: system, review: review("wide", [ok, `${host}/adm/app@${unapproved}`]) });
    expect(denied.status.allowed).toBe(false);
    await foldStagedAuditEvents();
    const rows = await db.auditEvent.findMany({ where: { action: "admission.review", target: "namespace wide" }, orderBy: { seq: "asc" } });
    expect(rows.map((x) => x.detail)).toEqual([
      expect.objectContaining({ images: [ok, last], containers: 61, denied: [], allowed: true }),
      expect.objectContaining({ images: [ok, `${host}/adm/app@${unapproved}`], containers: 2, denied: [`${host}/adm/app@${unapproved}`], allowed: false }),
    ]);
    // Kubernetes never sends a pod without images: an empty review vouches for nothing.
    const empty = await reviewImages({ actor: system, review: review("wide", []) });
    expect(empty.status).toEqual({ allowed: false, reason: expect.stringMatching(/no containers/) });
    expect((await verifyAuditChain()).ok).toBe(true);
  });
});

describe("ImageReview at cluster rates", () => {
  it("judges every container in one statement with the very reasons verify gives, in order", async () => {
    await setNamespacePolicy({ actor: system, namespace: "many", stage: "prod" });
    const images = [
      `${host}/adm/app@${approved}`,
      `${host}/adm/app@${unapproved}`,
      `${host}/adm/multi@${childDigest}`,
      `${host}/adm/app:1.0`,
      `ghcr.io/adm/app@${approved}`,
      `${host}/adm/nothing@${approved}`,
      "not a ref",
      `${host}/adm/app@${approved}`,
    ];
    const spy = vi.spyOn(pgPool(), "query");
    let r, sentRefs;
    try {
      r = await reviewImages({
        actor: system,
        review: { apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: images.map((image) => ({ image })), namespace: "many" } },
      });
      sentRefs = spy.mock.calls
        .filter(([q]) => (q as { name?: string }).name === REVIEW_LOOKUP.name)
        .map(([q]) => ((q as unknown as { values: unknown[][] }).values[2] as string[]).length);
    } finally {
      spy.mockRestore();
    }
    // Seven references parse; the repeated one and the same repository and digest on another host are looked up once
    // (each container is still judged by its own host: ghcr.io is not watched).
    expect(sentRefs).toEqual([5]);
    const one = await Promise.all(images.map((image) => evaluateImage({ image, stage: "prod", refuseTags: true })));
    const expected = one.filter((v) => !v.allowed).map((v) => `${v.image}: ${v.reasons.join("; ")}`);
    expect(expected).toHaveLength(5);
    expect(r.status).toEqual({ allowed: false, reason: expected.join(" | ").slice(0, 2000) });
  });

  it("judges concurrent reviews of different namespaces from shared statements exactly as one at a time", async () => {
    await setNamespacePolicy({ actor: system, namespace: "grp-prod", stage: "prod" });
    await setNamespacePolicy({ actor: system, namespace: "grp-test", stage: "test" });
    await setNamespacePolicy({ actor: system, namespace: "grp-free", exempt: true });
    const images = [`${host}/adm/app@${approved}`, `${host}/adm/app@${unapproved}`, `${host}/adm/multi@${childDigest}`, `${host}/adm/app:1.0`, "not a ref"];
    const reviews = Array.from({ length: 40 }, (_, i) => ({
      namespace: ["grp-prod", "grp-test", "grp-free", "grp-none"][i % 4]!,
      // 0 to 3 containers, in varying order, so that reviews' containers interleave in the shared statement.
      images: Array.from({ length: i % 4 }, (_, k) => images[(i + k) % images.length]!),
    }));
    const alone = [];
    for (const r of reviews) alone.push(await evaluateReview(r));
    const spy = vi.spyOn(pgPool(), "query");
    let together, sent;
    try {
      together = await Promise.all(reviews.map((r) => evaluateReview(r)));
      sent = spy.mock.calls.filter(([q]) => (q as { name?: string }).name === REVIEW_LOOKUP.name).length;
    } finally {
      spy.mockRestore();
    }
    expect(together).toEqual(alone);
    expect(alone.filter((a) => a.requirement && !a.requirement.exempt && a.verdicts.some((v) => v.allowed)).length).toBeGreaterThan(0);
    expect(sent).toBeLessThan(reviews.length / 5);
  });

  it("stages concurrent reviews' audit rows in shared INSERTs, and each caller returns only once its row is stored", async () => {
    const n = 50;
    const marks = Array.from({ length: n }, (_, i) => `group-commit-${i}`);
    // Called without awaiting in between, as concurrent requests do: the first INSERT starts at once with one
    // row, the other 49 wait for it and go in the next one.
    await Promise.all(
      marks.map((m) =>
        stageAuditEventGrouped({
          actor: system,
          action: "admission.review",
          outcome: "denied",
          target: m,
          detail: { images: [m], allowed: false, reason: "test" },
        }),
      ),
    );
    const rows = await db.auditOutbox.findMany({ where: { target: { startsWith: "group-commit-" } }, orderBy: { id: "asc" } });
    expect(rows.map((r) => r.target)).toEqual(marks);
    expect(rows.map((r) => (r.detail as { images: string[] }).images[0])).toEqual(marks);
    // Two INSERTs, so at most two statement times.
    expect(new Set(rows.map((r) => r.at.getTime())).size).toBeLessThanOrEqual(2);
  });

  it("a row the database refuses fails only its own caller, not the others that shared its INSERT", async () => {
    const ok = (m: string) =>
      stageAuditEventGrouped({
        actor: system,
        action: "admission.review",
        outcome: "denied",
        target: m,
        detail: { images: [m], allowed: false, reason: "test" },
      });
    // A row Postgres refuses: a constraint added for this test only (a U+0000, which jsonb refuses, is now stored as
    // U+FFFD before it gets there, as every text is).
    await db.$executeRawUnsafe(`ALTER TABLE audit_outbox ADD CONSTRAINT test_refuses_shared_bad CHECK (target IS DISTINCT FROM 'shared-bad') NOT VALID`);
    try {
      const bad = stageAuditEventGrouped({
        actor: system,
        action: "admission.review",
        outcome: "denied",
        target: "shared-bad",
        detail: { images: ["bad"], allowed: false, reason: "test" },
      });
      const results = await Promise.allSettled([ok("shared-first"), ok("shared-a"), bad, ok("shared-b")]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
      const stored = await db.auditOutbox.findMany({ where: { target: { startsWith: "shared-" } }, select: { target: true } });
      expect(stored.map((r) => r.target).sort()).toEqual(["shared-a", "shared-b", "shared-first"]);
    } finally {
      await db.$executeRawUnsafe(`ALTER TABLE audit_outbox DROP CONSTRAINT test_refuses_shared_bad`);
    }
  });

  it("stores each row exactly as the validator gave it (quotes, backslashes, braces, non-ASCII, nulls), and the folded chain verifies", async () => {
    const u = await db.user.findUniqueOrThrow({ where: { email: "alice@example.com" } });
    const alice: Actor = { kind: "user", id: u.id, email: u.email, name: u.name, role: u.role, via: "token" };
    const hostile = ['a "quoted" {brace} ,comma', 'back\\slash \\" NULL', "NULL", "", "ünïcødé ☃ \ud83d\ude00", "lone \ud800 surrogate"];
    const events = hostile.map((h, i) => ({
      actor: i % 2 ? system : alice,
      action: "admission.review" as const,
      outcome: i % 2 ? ("denied" as const) : ("success" as const),
      target: i === 3 ? null : `exact-${i} ${h}`,
      detail: { images: [h, `${h}@sha256:${"0".repeat(64)}`], allowed: i % 2 === 0, reason: i === 2 ? null : h },
    }));
    await Promise.all(events.map((e) => stageAuditEventGrouped(e)));
    const all = await db.auditOutbox.findMany({ orderBy: { id: "asc" } });
    const stored = all.filter((r) => events.some((e) => isDeepStrictEqual(r.detail, auditEventValues(e).detail)));
    expect(
      stored.map(({ actorType, actorId, actorLabel, action, outcome, targetDigest, target, detail }) => ({
        actorType,
        actorId,
        actorLabel,
        action,
        outcome,
        targetDigest,
        target,
        detail,
      })),
    ).toEqual(events.map((e) => auditEventValues(e)));
    expect(await foldStagedAuditEvents()).toBeGreaterThanOrEqual(events.length);
    expect((await verifyAuditChain()).ok).toBe(true);
  });

  it("verify and ImageReview run from a cached generic plan on a connection, not planned again per request", async () => {
    const c = await pgPool().connect();
    try {
      const repo = "adm/app";
      for (let i = 0; i < 8; i++) {
        const digest = i % 2 ? approved : unapproved;
        // One lookup, or a group of them (concurrent requests share the statement): the same generic plan.
        const n = 1 + (i % 3);
        const fill = <T>(v: T) => Array.from({ length: n }, () => v);
        await c.query({ ...VERIFY_LOOKUP, values: [fill("prod"), fill(repo), fill(i % 3 ? digest : null), fill(i % 3 ? null : "1.0")] });
        await c.query({
          ...REVIEW_LOOKUP,
          values: [
            fill("many"),
            Array.from({ length: 3 * n }, (_, k) => 1 + Math.floor(k / 3)),
            fill([repo, repo, repo]).flat(),
            fill([approved, unapproved, null]).flat(),
            fill([null, null, "1.0"]).flat(),
          ],
        });
      }
      const { rows } = await c.query<{ name: string; generic_plans: string }>(
        "SELECT name, generic_plans FROM pg_prepared_statements WHERE name IN ($1, $2) ORDER BY name",
        [REVIEW_LOOKUP.name, VERIFY_LOOKUP.name],
      );
      // Five custom plans first, then the generic one for the last three executions at least.
      expect(rows.map((r) => [r.name, Number(r.generic_plans) >= 3])).toEqual([
        [REVIEW_LOOKUP.name, true],
        [VERIFY_LOOKUP.name, true],
      ]);
    } finally {
      c.release();
    }
  });
});
