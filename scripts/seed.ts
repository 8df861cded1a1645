// Idempotent demo seed: users, stages with their keys, real OCI images in the registry, the
// upstream-signed publisher image with its .sig, and the publisher's key as a trust identity (role publisher).
// Running it twice creates nothing new.
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { db } from "../lib/db";
import type { Actor, Role } from "../lib/server/actor";
import { createUser } from "../lib/server/users/create-user";
import { createSigningKey } from "../lib/server/keys/create-signing-key";
import { upsertGroup } from "../lib/server/groups/upsert-group";
import { upsertStage, type StageSettings } from "../lib/server/stages/upsert-stage";
import { addTrustedKey } from "../lib/server/keys/add-trusted-key";
import { registryClient, resolveRegistry } from "../lib/server/registries/resolve-registry";
import { syncRegistry } from "../lib/server/images/sync-registry";
import { buildImage, layoutLayers, pushImage, pushIndex, pushOciLayout } from "./lib/oci-build";

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURE = join(here, "fixtures", "upstream-cosign");

/** Demo logins; the passwords are printed by `npm run demo`. Never use them outside a demo. */
export const DEMO_USERS = JSON.parse(readFileSync(join(here, "demo-users.json"), "utf8")) as { email: string; name: string; role: Role; password: string }[];

export const DEMO_STAGES = ["build", "test", "prod"] as const;

const seedActor: Actor = { kind: "system", label: "seed" };

export async function seedUsers(log: (s: string) => void = () => {}) {
  for (const u of DEMO_USERS) {
    if (await db.user.findUnique({ where: { email: u.email } })) continue;
    await createUser({ actor: seedActor, email: u.email, name: u.name, role: u.role, password: u.password });
    log(`created user ${u.email} (${u.role})`);
  }
}

export async function seedStages(names: readonly string[] = DEMO_STAGES, log: (s: string) => void = () => {}) {
  for (const [i, name] of names.entries()) {
    const stage = await db.stage.upsert({ where: { name }, create: { name, position: i + 1 }, update: {} });
    const key = await db.signingKey.findFirst({ where: { stageId: stage.id, revokedAt: null } });
    if (!key) {
      await createSigningKey({ actor: seedActor, name: `stage-${name}-key`, stageId: stage.id });
      log(`generated ECDSA P-256 signing key for stage ${name}`);
    }
  }
}

/** Pushes the demo images; returns the digests by name. */
export async function pushDemoImages(log: (s: string) => void = () => {}) {
  const reg = await resolveRegistry();
  const client = registryClient(reg);
  const pushedFixture = await pushOciLayout(client, "publisher/base", join(FIXTURE, "oci-layout"));
  const publisherDigest = pushedFixture.find((p) => p.tag === "1.0")!.digest;
  const baseAnn = (name: string, digest: string) => ({ "org.opencontainers.image.base.name": name, "org.opencontainers.image.base.digest": digest });
  const host = new URL(reg.url).host;
  // Built on their bases for real (the base's layers first), so the base-image gate's layer proof holds.
  const publisherLayers = layoutLayers(join(FIXTURE, "oci-layout"), publisherDigest);

  const hardened = (v: string) =>
    buildImage({
      architecture: "amd64",
      base: publisherLayers,
      layers: [
        { "etc/os-release": `NAME="Imprimatur Demo Linux"\nVERSION_ID="${v}"\n`, "bin/sh": "#!/bin/true\n" },
        { "etc/ssl/certs/ca-bundle.crt": `# demo CA bundle ${v}\n`, "etc/hardening.conf": `profile=cis-level-2\nversion=${v}\n` },
      ],
      labels: { "org.opencontainers.image.version": v, "org.opencontainers.image.vendor": "Platform Team" },
      annotations: {
        ...baseAnn(`${host}/publisher/base:1.0`, publisherDigest),
        "org.opencontainers.image.title": "hardened base",
        "org.opencontainers.image.version": v,
      },
    });
  const h10 = hardened("1.0");
  const h11 = hardened("1.1");
  await pushImage(client, "platform/base-hardened", h10, ["1.0"]);
  await pushImage(client, "platform/base-hardened", h11, ["1.1", "latest"]);

  const api = (v: string) =>
    buildImage({
      architecture: "amd64",
      base: h11.layers,
      layers: [
        {
          "srv/payments/app.js": `console.log("payments-api ${v}");\n`,
          "srv/payments/package.json": JSON.stringify({ name: "payments-api", version: v, dependencies: { express: "4.19.2", lodash: "4.17.21" } }),
        },
      ],
      cmd: ["node", "/srv/payments/app.js"],
      labels: { "org.opencontainers.image.version": v, "org.opencontainers.image.source": "https://git.example.com/apps/payments-api" },
      annotations: { ...baseAnn(`${host}/platform/base-hardened:1.1`, h11.digest), "org.opencontainers.image.version": v },
    });
  await pushImage(client, "apps/payments-api", api("2.3.0"), ["2.3.0"]);
  await pushImage(client, "apps/payments-api", api("2.4.0"), ["2.4.0", "latest"]);

  const web = (arch: string, variant?: string) =>
    buildImage({
      architecture: arch,
      ...(variant ? { variant } : {}),
      layers: [
        { "usr/share/nginx/html/index.html": `<h1>web-frontend 1.0 (${arch})</h1>\n`, "etc/nginx/nginx.conf": "events {}\nhttp { server { listen 8080; } }\n" },
      ],
      cmd: ["nginx", "-g", "daemon off;"],
      labels: { "org.opencontainers.image.version": "1.0" },
    });
  const webIndex = await pushIndex(client, "apps/web-frontend", [web("amd64"), web("arm64", "v8")], ["1.0", "latest"], {
    "org.opencontainers.image.version": "1.0",
  });
  log(`pushed demo images to ${reg.url}: publisher/base, platform/base-hardened, apps/payments-api, apps/web-frontend (multi-platform)`);
  return { publisherDigest, webIndex, hardened11: h11.digest };
}

/**
 * Demo evidence: the real Trivy report and Syft SBOM from lib/evidence/testdata, re-pointed at platform/base-hardened:1.0's
 * config digest (a document that names a subject must name the image). Idempotent by content.
 */
export async function seedEvidence(log: (s: string) => void = () => {}) {
  const { ingestEvidence } = await import("../lib/server/evidence/ingest-evidence");
  const tag = await db.tag.findFirst({ where: { name: "1.0", repository: { name: "platform/base-hardened" } } });
  const img = tag ? await db.image.findFirst({ where: { repositoryId: tag.repositoryId, digest: tag.digest } }) : null;
  if (!img?.configDigest) return;
  const td = (f: string) => JSON.parse(readFileSync(join(here, "..", "lib", "evidence", "testdata", f), "utf8"));
  const trivy = td("trivy-alpine-3.10-schema2.json");
  trivy.Metadata.ImageID = img.configDigest;
  const sbom = td("syft-alpine-3.16-cyclonedx-1.4.json");
  sbom.metadata.component.version = img.configDigest;
  let created = 0;
  for (const doc of [trivy, sbom]) {
    const r = await ingestEvidence({ actor: seedActor, imageId: img.id, bytes: Buffer.from(JSON.stringify(doc, null, 2)), source: "upload" });
    if (r.created) created++;
  }
  if (created) log(`stored demo evidence (a Trivy report and a CycloneDX SBOM) for platform/base-hardened@${img.digest.slice(0, 19)}`);
}

/**
 * Demo reviewer groups and stage settings: build and test need 1 approval from security, prod needs 2, with
 * gates; carol leads security and grants waivers. Applied once: settings an admin changed are left alone.
 */
export async function seedWorkflow(log: (s: string) => void = () => {}) {
  const groups: [string, string, string[]][] = [
    ["security", "Security reviewers", ["alice@example.com", "bob@example.com", "carol@example.com"]],
    ["security-leads", "May grant waivers", ["carol@example.com"]],
    ["platform", "Platform team", ["admin@example.com"]],
    ["app-team", "Application developers", ["dev@example.com"]],
  ];
  for (const [name, description, members] of groups) {
    if (await db.group.findUnique({ where: { name } })) continue;
    await upsertGroup({ actor: seedActor, name, description, members: members.filter((m) => DEMO_USERS.some((u) => u.email === m)) });
    log(`created group ${name}`);
  }
  const settings: Record<string, StageSettings> = {
    build: { requiredApprovals: 1, reviewerGroups: ["security"], waiverGroup: "security-leads", gates: {} },
    test: {
      requiredApprovals: 1,
      reviewerGroups: ["security"],
      waiverGroup: "security-leads",
      gates: { findings: { max: { critical: 0 }, count: "fixable" } },
    },
    prod: {
      requiredApprovals: 2,
      reviewerGroups: ["security"],
      waiverGroup: "security-leads",
      gates: { findings: { max: { critical: 0, high: 3 }, count: "fixable" }, sbom: true, previousStage: true },
    },
  };
  for (const [name, s] of Object.entries(settings)) {
    const stage = await db.stage.findUnique({ where: { name }, include: { reviewerGroups: true } });
    if (!stage || stage.reviewerGroups.length > 0 || stage.waiverGroupId) continue;
    await upsertStage({ actor: seedActor, name, settings: s });
    log(`configured stage ${name}: ${s.requiredApprovals} approval(s) from security`);
  }
}

export async function seedDemo(log: (s: string) => void = console.log) {
  await seedUsers(log);
  await seedStages(DEMO_STAGES, log);
  await seedWorkflow(log);
  // The publisher's key is a trust identity: kind key, role publisher, every repository (scope **).
  const { created } = await addTrustedKey({
    actor: seedActor,
    name: "publisher",
    pem: readFileSync(join(FIXTURE, "publisher.pub"), "utf8"),
    role: "publisher",
    scope: ["**"],
  });
  if (created) log("trusted the publisher's public key as identity 'publisher' (role publisher, scope **)");
  await pushDemoImages(log);
  const r = await syncRegistry({ actor: seedActor });
  log(`synced ${r.repositories} repositories, ${r.tags} tags (${r.newManifests} new manifests, ${r.signaturesChecked} signature layers checked)`);
  await seedEvidence(log);
}
