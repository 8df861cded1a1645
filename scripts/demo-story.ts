// The demo's story (`imprimatur seed --story`, run by `npm run demo`): weeks of history built through the product's own
// actions — promotion requests, reviews, waivers, a rejection, a revocation, evidence uploads, registry syncs — with
// real signatures pushed to the registry. Times come from a controllable clock (scripts/lib/sim-clock.ts) that starts
// weeks ago and only moves forward, so the audit chain is built in order and `audit verify` holds; no row is written
// past the actions and none is edited afterwards.
//
// Cast: dev (developer) asks; alice, bob and carol (security) review; carol leads security and grants waivers; the
// platform team's CI key signs the hardened base images (and its release key publishes them to the app teams), the payments team's CI key signs its application images, and
// a CI builder key signs provenance.
import { randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { db } from "../lib/db";
import { preAuthEncoding, IN_TOTO_PAYLOAD_TYPE } from "../lib/evidence/dsse";
import { type RegistryClient } from "../lib/oci/client";
import { sha256Digest, type Digest } from "../lib/oci/digest";
import type { Descriptor } from "../lib/oci/manifest";
import { MT } from "../lib/oci/media-types";
import { cosignTag } from "../lib/oci/reference";
import { generateP256, signP256 } from "../lib/signing/keys/software";
import { appendSignatureLayers } from "../lib/signing/formats/sig-manifest";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "../lib/signing/formats/simple-signing";
import type { Actor } from "../lib/server/actor";
import { revokeApproval } from "../lib/server/approvals/revoke-approval";
import { ingestEvidence } from "../lib/server/evidence/ingest-evidence";
import { syncRegistry } from "../lib/server/images/sync-registry";
import { requestPromotion } from "../lib/server/promotions/request-promotion";
import { reviewRequest } from "../lib/server/promotions/review-request";
import { registryClient, resolveRegistry } from "../lib/server/registries/resolve-registry";
import { createTrustIdentity } from "../lib/server/trust/create-trust-identity";
import { createUser } from "../lib/server/users/create-user";
import { grantWaiver } from "../lib/server/waivers/grant-waiver";
import { buildImage, pushImage, type BaseLayer } from "./lib/oci-build";
import { advanceSimClock, installSimClock, realNow } from "./lib/sim-clock";
import { seedDemo } from "./seed";

const here = dirname(fileURLToPath(import.meta.url));
const DAY = 86_400_000;
/** How far back the story starts on a fresh database. */
export const STORY_DAYS = 28;

/** The tag whose push ends the story: when it is in the inventory, the story has been told. */
const DONE_MARK = { repository: "apps/payments-api", tag: "2.4.1" };

/** The story's images, as the walkthrough and the tests name them. */
export const STORY = {
  publisher: { repository: "publisher/base", tag: "1.0" },
  hardenedOld: { repository: "platform/base-hardened", tag: "1.0" },
  hardened: { repository: "platform/base-hardened", tag: "1.1" },
  paymentsOld: { repository: "apps/payments-api", tag: "2.3.0" },
  payments: { repository: "apps/payments-api", tag: "2.4.0" },
  paymentsNext: { repository: "apps/payments-api", tag: "2.4.1" },
  web: { repository: "apps/web-frontend", tag: "1.0" },
  /** Current stage of each image at the end of the story. */
  currentStage: { "apps/web-frontend:1.0": "prod", "apps/payments-api:2.3.0": "test", "apps/payments-api:2.4.0": "build" } as Record<string, string>,
  waivedVuln: "CVE-2019-12900",
  rejectionReason: "1.0 is built on Alpine 3.10, which is end of life, and 1.1 supersedes it: request 1.1 instead.",
  revocationReason: "Approved against a stale scan; the CIS benchmark run must pass before this base is promoted again.",
} as const;

export async function storyTold(): Promise<boolean> {
  return (await db.tag.count({ where: { name: DONE_MARK.tag, repository: { name: DONE_MARK.repository } } })) > 0;
}

/**
 * Where the story's clock starts: STORY_DAYS ago on a fresh database, or just after the newest audit event when the
 * database already has history (the chain's times stay in order). Returns null when the story was told already.
 */
export async function storyWindow(): Promise<{ start: number; end: number } | null> {
  if (await storyTold()) return null;
  const end = realNow() - 60 * 60 * 1000;
  const last = await db.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { at: true } });
  const start = Math.max(end - STORY_DAYS * DAY, last ? last.at.getTime() + 1000 : 0);
  return { start: Math.min(start, end), end };
}

/** Installs the story clock at the start of its window (call before anything is audited). Null: nothing to tell. */
export async function startStoryClock(): Promise<{ start: number; end: number } | null> {
  const w = await storyWindow();
  if (w) installSimClock(new Date(w.start));
  return w;
}

async function user(email: string): Promise<Actor & { kind: "user" }> {
  const u = await db.user.findUniqueOrThrow({ where: { email } });
  return { kind: "user", id: u.id, email: u.email, name: u.name, role: u.role, via: "session" };
}

/**
 * The pipeline's own account, created by the admin: CI uploads evidence with its API token (`evidence` scope). Unsigned
 * evidence the requester uploaded does not count for their request (four eyes on evidence), so CI, not dev, uploads.
 * Nobody signs in with it: its password is random and not kept.
 */
async function ciAccount(admin: Actor): Promise<Actor & { kind: "user" }> {
  const { user: u } = await createUser({
    actor: admin,
    email: "ci@example.com",
    name: "CI pipeline",
    role: "developer",
    password: randomBytes(24).toString("base64url"),
  });
  return { kind: "user", id: u.id, email: u.email, name: u.name, role: u.role, via: "token", scopes: ["evidence"] };
}

function testdata(file: string) {
  return JSON.parse(readFileSync(join(here, "..", "lib", "evidence", "testdata", file), "utf8"));
}

/**
 * Pushes cosign-format signatures (simple-signing payload, ECDSA P-256) to `<repo>:sha256-….sig`, one layer per
 * signer; each payload names its signer in `optional` (as `cosign sign -a` would), so each layer is its own blob.
 */
async function pushCosignSignatures(
  client: RegistryClient,
  host: string,
  repository: string,
  digest: Digest,
  signers: { name: string; privateKeyPem: string }[],
) {
  const layers: Descriptor[] = [];
  for (const s of signers) {
    const payload = buildSimpleSigningPayload({ dockerReference: `${host}/${repository}`, digest, optional: { signer: s.name } });
    await client.putBlob(repository, payload);
    layers.push({
      mediaType: MT.cosignSimpleSigning,
      size: payload.byteLength,
      digest: sha256Digest(payload),
      annotations: { [SIGNATURE_ANNOTATION]: signP256(s.privateKeyPem, payload).toString("base64") },
    });
  }
  const { manifest, config } = appendSignatureLayers({ existing: null, existingConfig: null, add: layers });
  await client.putBlob(repository, config);
  await client.putManifest(repository, cosignTag(digest, "sig"), manifest, MT.ociManifest);
}

/** A real Tekton Chains SLSA provenance statement, re-pointed at `digest` and signed in DSSE by the builder key. */
function provenanceFor(repository: string, host: string, digest: Digest, builderKeyPem: string): Buffer {
  const env = testdata("tekton-chains-slsa-0.2-dsse.json");
  const statement = JSON.parse(Buffer.from(env.payload, "base64").toString("utf8"));
  statement.subject = [{ name: `${host}/${repository}`, digest: { sha256: digest.slice("sha256:".length) } }];
  const payload = Buffer.from(JSON.stringify(statement));
  const sig = sign("sha256", preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload), { key: builderKeyPem, dsaEncoding: "der" });
  return Buffer.from(
    JSON.stringify(
      { payloadType: IN_TOTO_PAYLOAD_TYPE, payload: payload.toString("base64"), signatures: [{ keyid: "", sig: sig.toString("base64") }] },
      null,
      2,
    ),
  );
}

/** The layers of an image in the registry (manifest, config's diff_ids, blobs), to build on it as `FROM` would. */
async function registryLayers(client: RegistryClient, repository: string, digest: Digest): Promise<BaseLayer[]> {
  const m = JSON.parse((await client.getManifest(repository, digest)).bytes.toString("utf8")) as {
    config: { digest: Digest };
    layers: { mediaType: string; digest: Digest; size: number }[];
  };
  const cfg = JSON.parse((await client.getBlob(repository, m.config.digest)).toString("utf8")) as { rootfs: { diff_ids: string[] } };
  const out: BaseLayer[] = [];
  for (const [i, l] of m.layers.entries()) out.push({ descriptor: l, bytes: await client.getBlob(repository, l.digest), diffId: cfg.rootfs.diff_ids[i]! });
  return out;
}

export interface StoryResult {
  told: boolean;
  start: Date | null;
  end: Date | null;
}

/**
 * Seeds the demo (users, stages, keys, images: seedDemo) and tells its story. Idempotent: once the story's last step
 * is in the inventory it does nothing more. Expects no TSA to be configured while it runs (a TSA cannot vouch for a
 * time in the past; the stage signatures made later, in the running demo, carry trusted time).
 */
export async function seedStory(log: (s: string) => void = console.log): Promise<StoryResult> {
  const window = await startStoryClock();
  if (!window) {
    // Re-pushing the seed's images would move `latest` back; only follow the registry (its port may have changed).
    await resolveRegistry();
    const r = await syncRegistry({ actor: { kind: "system", label: "seed" } });
    log(`the demo story is already told; synced ${r.repositories} repositories, ${r.tags} tags`);
    return { told: false, start: null, end: null };
  }
  const { start, end } = window;
  const at = (day: number, hour = 10) => advanceSimClock(start + Math.min(((day + hour / 24) / STORY_DAYS) * (end - start), end - start));
  if (await db.promotionRequest.count({ where: { image: { repository: { name: { in: ["apps/payments-api", "apps/web-frontend"] } } } } })) {
    throw new Error(
      "the database holds part of a demo story (requests on apps/*) but not its end: start the demo from a fresh database (remove .imprimatur/pg)",
    );
  }

  at(0, 9);
  await seedDemo(log);
  const reg = await resolveRegistry();
  const client = registryClient(reg);
  const host = new URL(reg.url).host;
  const admin = await user("admin@example.com");
  const alice = await user("alice@example.com");
  const bob = await user("bob@example.com");
  const carol = await user("carol@example.com");
  const dev = await user("dev@example.com");
  const digestOf = async (r: { repository: string; tag: string }) => {
    const t = await db.tag.findFirst({ where: { name: r.tag, repository: { name: r.repository, registryId: reg.id } } });
    if (!t) throw new Error(`${r.repository}:${r.tag} is not in the inventory`);
    return t.digest as Digest;
  };
  const imageOf = async (r: { repository: string; tag: string }) => {
    const digest = await digestOf(r);
    return db.image.findFirstOrThrow({ where: { digest, repository: { name: r.repository, registryId: reg.id } } });
  };

  // Day 0: the platform team's and the payments team's CI keys sign their images; a CI builder signs provenance.
  at(0, 11);
  const platformKey = generateP256();
  // The platform team also releases its hardened bases to the application teams: for them it is the publisher.
  const platformReleaseKey = generateP256();
  const paymentsKey = generateP256();
  const builderKey = generateP256();
  await createTrustIdentity({
    actor: admin,
    input: { name: "platform-team-ci", kind: "key", role: "team", scope: ["platform/*"], publicKeyPem: platformKey.publicKeyPem },
  });
  await createTrustIdentity({
    actor: admin,
    input: { name: "platform-release", kind: "key", role: "publisher", scope: ["platform/*"], publicKeyPem: platformReleaseKey.publicKeyPem },
  });
  await createTrustIdentity({
    actor: admin,
    input: { name: "payments-team-ci", kind: "key", role: "team", scope: ["apps/payments-api"], publicKeyPem: paymentsKey.publicKeyPem },
  });
  await createTrustIdentity({
    actor: admin,
    // The builder its provenance names (Tekton Chains): the key vouches for that builder id only.
    input: {
      name: "ci-builder",
      kind: "key",
      role: "builder",
      scope: ["apps/*"],
      builderIds: ["https://tekton.dev/chains/*"],
      publicKeyPem: builderKey.publicKeyPem,
    },
  });
  for (const r of [STORY.hardenedOld, STORY.hardened])
    await pushCosignSignatures(client, host, r.repository, await digestOf(r), [
      { name: "platform-team-ci", privateKeyPem: platformKey.privateKeyPem },
      { name: "platform-release", privateKeyPem: platformReleaseKey.privateKeyPem },
    ]);
  for (const r of [STORY.paymentsOld, STORY.payments])
    await pushCosignSignatures(client, host, r.repository, await digestOf(r), [{ name: "payments-team-ci", privateKeyPem: paymentsKey.privateKeyPem }]);
  await syncRegistry({ actor: { kind: "system", label: "scheduler" } });
  log("the platform team signed (CI) and released (publisher) platform/base-hardened 1.0 and 1.1; the payments team signed apps/payments-api 2.3.0 and 2.4.0");

  // Day 1: CI uploads scans (real Trivy and Grype reports re-pointed at the images), SBOMs and provenance, with its
  // own account's token.
  at(1, 8);
  const ci = await ciAccount(admin);
  const upload = async (r: { repository: string; tag: string }, doc: unknown | Buffer) => {
    const img = await imageOf(r);
    await ingestEvidence({ actor: ci, imageId: img.id, bytes: Buffer.isBuffer(doc) ? doc : Buffer.from(JSON.stringify(doc, null, 2)), source: "upload" });
  };
  const configOf = async (r: { repository: string; tag: string }) => {
    const img = await imageOf(r);
    if (img.configDigest) return img.configDigest;
    const child = await db.image.findFirstOrThrow({ where: { repositoryId: img.repositoryId, parentDigest: img.digest, configDigest: { not: null } } });
    return child.configDigest!;
  };
  const trivy = (file: string, config: string) => {
    const t = testdata(file);
    t.Metadata = { ...(t.Metadata ?? {}), ImageID: config };
    return t;
  };
  const sbom = (config: string) => {
    const s = testdata("syft-alpine-3.16-cyclonedx-1.4.json");
    s.metadata.component.version = config;
    return s;
  };
  const grype = (r: { repository: string; tag: string }, digest: Digest, config: string) => {
    const g = testdata("grype-npm-lockfiles.json");
    g.source = { type: "image", target: { userInput: `${host}/${r.repository}:${r.tag}`, imageID: config, manifestDigest: digest } };
    return g;
  };
  for (const r of [STORY.paymentsOld, STORY.payments]) {
    const cfg = await configOf(r);
    // 2.3.0 carries the old Alpine 3.9 base's fixable critical and high; 2.4.0 is rebuilt on a patched base.
    await upload(r, r === STORY.paymentsOld ? trivy("trivy-teamdojo-schema2.json", cfg) : trivy("trivy-alpine-3.10-schema2.json", cfg));
    if (r === STORY.paymentsOld) await upload(r, grype(r, await digestOf(r), cfg));
    await upload(r, sbom(cfg));
    await upload(r, provenanceFor(r.repository, host, await digestOf(r), builderKey.privateKeyPem));
  }
  {
    // An index: CI scans each platform (Trivy scans one platform per run, the runner's); the findings gate needs them all.
    const web = await imageOf(STORY.web);
    const platforms = await db.image.findMany({
      where: { repositoryId: web.repositoryId, parentDigest: web.digest, configDigest: { not: null } },
      orderBy: { digest: "asc" },
    });
    for (const p of platforms) await upload(STORY.web, trivy("trivy-alpine-3.10-schema2.json", p.configDigest!));
    // And an SBOM of each platform, as buildx writes them: prod's SBOM gate needs every platform described.
    for (const p of platforms) await upload(STORY.web, sbom(p.configDigest!));
  }
  log("CI uploaded Trivy and Grype scans, CycloneDX SBOMs and signed SLSA provenance");

  const ask = async (r: { repository: string; tag: string }, stage: string, note: string) =>
    (await requestPromotion({ actor: dev, registry: reg.name, repository: r.repository, digest: await digestOf(r), stage, note })).id;
  const review = (actor: Actor, requestId: string, decision: "approve" | "reject", comment: string) => reviewRequest({ actor, requestId, decision, comment });

  // Day 2–3: first promotions to build.
  at(2, 9);
  const pOldBuild = await ask(STORY.paymentsOld, "build", "Release 2.3.0: card tokenisation");
  at(2, 14);
  await review(alice, pOldBuild, "approve", "Provenance from our builder, SBOM present. OK for build.");
  at(3, 10);
  const webBuild = await ask(STORY.web, "build", "web-frontend 1.0 for the integration environment");
  at(3, 15);
  await review(bob, webBuild, "approve", "Static site, medium findings only.");

  // Day 4: the old hardened base is rejected with a reason; day 5: 1.1 is approved for build.
  at(4, 11);
  const hOld = await ask(STORY.hardenedOld, "build", "Hardened base 1.0 for the legacy jobs");
  at(4, 16);
  await review(bob, hOld, "reject", STORY.rejectionReason);
  at(5, 10);
  const hNew = await ask(STORY.hardened, "build", "Hardened base 1.1 (CIS level 2)");
  at(5, 13);
  await review(alice, hNew, "approve", "Signed by the platform team, built on the publisher's base.");

  // Day 7: web-frontend to test.
  at(7, 10);
  const webTest = await ask(STORY.web, "test", "web-frontend 1.0 passed integration");
  at(7, 11);
  await review(alice, webTest, "approve", "Gates pass.");

  // Day 9: payments-api 2.3.0 to test fails the findings gate (a fixable critical); carol waives that one CVE.
  at(9, 9);
  const pOldTest = await ask(STORY.paymentsOld, "test", "2.3.0 for the load tests");
  at(9, 10);
  try {
    await review(bob, pOldTest, "approve", "Looks fine");
    throw new Error("the findings gate of stage test was expected to fail for apps/payments-api 2.3.0");
  } catch (e) {
    if ((e as { code?: string }).code !== "POLICY_VIOLATION") throw e;
  }
  at(9, 15);
  await grantWaiver({
    actor: carol,
    stage: "test",
    gate: "findings",
    vulnIds: [STORY.waivedVuln],
    registry: reg.name,
    repository: STORY.paymentsOld.repository,
    digest: await digestOf(STORY.paymentsOld),
    reason: "libbz2 is not reachable from the service (no bzip2 input); accepted for the test environment until 2.4.0 replaces it",
    expiresAt: new Date(Date.now() + 90 * DAY),
    requestId: pOldTest,
  });
  at(9, 16);
  await review(bob, pOldTest, "approve", "Approved under carol's waiver for CVE-2019-12900.");

  // Day 12: the approval of the hardened base for build is revoked (its signature leaves the registry).
  at(12, 10);
  const hApproval = await db.approval.findFirstOrThrow({ where: { requestId: hNew } });
  await revokeApproval({ approvalId: hApproval.id, actor: carol, reason: STORY.revocationReason });

  // Day 14: web-frontend to prod, two approvals.
  at(14, 9);
  const webProd = await ask(STORY.web, "prod", "web-frontend 1.0 go-live");
  at(14, 11);
  await review(alice, webProd, "approve", "Test signature present, SBOM present, no critical or high.");
  at(14, 16);
  await review(carol, webProd, "approve", "Second approval for prod.");

  // Day 17: payments-api 2.4.0 to build.
  at(17, 10);
  const pBuild = await ask(STORY.payments, "build", "Release 2.4.0: patched base, new refunds endpoint");
  at(17, 12);
  await review(bob, pBuild, "approve", "Clean scan on the patched base.");

  // Day 21: CI pushes 2.4.1 and moves `latest` to it; the scheduled sync records the move.
  at(21, 8);
  const h11 = await imageOf(STORY.hardened);
  const api = buildImage({
    architecture: "amd64",
    // FROM platform/base-hardened:1.1, pulled from the registry: its layers come first, so the diff_ids prove the base.
    base: await registryLayers(client, STORY.hardened.repository, h11.digest as Digest),
    layers: [
      {
        "srv/payments/app.js": 'console.log("payments-api 2.4.1");\n',
        "srv/payments/package.json": JSON.stringify({ name: "payments-api", version: "2.4.1" }),
      },
    ],
    cmd: ["node", "/srv/payments/app.js"],
    labels: { "org.opencontainers.image.version": "2.4.1" },
    annotations: {
      "org.opencontainers.image.base.name": `${host}/platform/base-hardened:1.1`,
      "org.opencontainers.image.base.digest": h11.digest,
      "org.opencontainers.image.version": "2.4.1",
    },
  });
  await pushImage(client, STORY.paymentsNext.repository, api, [STORY.paymentsNext.tag, "latest"]);
  await syncRegistry({ actor: { kind: "system", label: "scheduler" } });
  log("CI pushed apps/payments-api 2.4.1 and moved latest to it");

  // Day 25: 2.4.0 to test waits in alice's inbox.
  at(25, 10);
  await ask(STORY.payments, "test", "2.4.0 for the load tests; the waiver on 2.3.0 can lapse once this is in");

  log(`told the demo story: ${new Date(start).toISOString().slice(0, 10)} to ${new Date(end).toISOString().slice(0, 10)}`);
  return { told: true, start: new Date(start), end: new Date(end) };
}
