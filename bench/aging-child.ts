// The app side of bench/aging.ts, in its own process (lib/server needs the react-server condition and reads
// DATABASE_URL, REGISTRY_URL, IMPRIMATUR_MASTER_KEY at load). Prints one line: BENCH_AGING_RESULT {AgingChildOutput}
//
// 1. re-evaluation: N approved images (rows written with SQL: approval, scan, SBOM with lodash 4.17.20 among 20
//    components, stage "test" with findings gate high ≤ 0); import the real GHSA-35jh-r3h4-6jhm advisory (matches
//    every image), then drain the re-evaluation it requested (every image judged, every one at risk, each with
//    its audit event and webhook outbox row). Baseline: one fleet search over the same rows
//    (`lodash < 4.17.21`, every result).
// 2. bulk revocation: K images approved through the real workflow (request + review, signature pushed to the
//    registry); one bulk revocation of all K approvals timed end to end (plan, start, job); registry requests
//    counted on the diagnostics channel. Baseline: the mean bare registry round-trip (GET manifest by digest).
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { RequestCounter, totalRequests } from "./lib/request-counter";

export const AGING_RESULT_MARKER = "BENCH_AGING_RESULT ";

export interface AgingChildInput {
  images: number;
  approvals: number;
}

export interface AgingChildOutput {
  images: number;
  loadMs: number;
  importMs: number;
  importFindings: number;
  reevaluateMs: number;
  evaluated: number;
  atRisk: number;
  searchMs: number;
  searchHits: number;
  approvals: number;
  setupMs: number;
  bulkMs: number;
  bulkDone: number;
  registryRequests: number;
  requestKinds: Record<string, number>;
  bareRoundTripMs: number;
}

const log = (m: string) => process.stderr.write(`[bench aging child ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

async function main() {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const input = JSON.parse(Buffer.concat(chunks).toString("utf8")) as AgingChildInput;
  const { db } = await import("../lib/db");
  const { seedStages, seedUsers } = await import("../scripts/seed");
  const { upsertStage } = await import("../lib/server/stages/upsert-stage");
  const { upsertGroup } = await import("../lib/server/groups/upsert-group");
  const { resolveRegistry } = await import("../lib/server/registries/resolve-registry");
  const { importAdvisories } = await import("../lib/server/advisories/import-advisories");
  const { reevaluateApprovals } = await import("../lib/server/reevaluation/reevaluate-approvals");
  const { searchPackages } = await import("../lib/server/evidence/search-packages");
  const { startBulkRevocation } = await import("../lib/server/revocations/start-bulk-revocation");
  const { runBulkRevocation } = await import("../lib/server/revocations/run-bulk-revocation");
  const { requestAndApprove, userActor } = await import("../scripts/test-harness/promote");
  const { buildImage, pushImage } = await import("../scripts/lib/oci-build");
  const { syncRegistry } = await import("../lib/server/images/sync-registry");
  const { RegistryClient } = await import("../lib/oci/client");
  const system = { kind: "system" as const, label: "bench" };

  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertStage({ actor: system, name: "build", settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: {} } });
  await upsertStage({
    actor: system,
    name: "test",
    settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } } },
  });
  const reg = await resolveRegistry();
  const stage = await db.stage.findUniqueOrThrow({ where: { name: "test" } });
  const key = await db.signingKey.findFirstOrThrow({ where: { stageId: stage.id, revokedAt: null } });
  const alice = await db.user.findUniqueOrThrow({ where: { email: "alice@example.com" } });

  // 1. N approved images, loaded with SQL.
  let t = performance.now();
  const N = input.images;
  await db.$executeRaw`INSERT INTO repositories (id, registry_id, name) SELECT gen_random_uuid(), ${reg.id}::uuid, 'fleet/app-' || g FROM generate_series(1, 100) g`;
  await db.$executeRaw`
    INSERT INTO images (id, repository_id, digest, media_type, size, manifest)
    SELECT gen_random_uuid(), (SELECT id FROM repositories WHERE name = 'fleet/app-' || (1 + g % 100)), 'sha256:' || encode(sha256(('img' || g || ${randomUUID()})::bytea), 'hex'),
           'application/vnd.oci.image.manifest.v1+json', 100, ('{"n":' || g || '}')::bytea
    FROM generate_series(1, ${N}::int) g`;
  await db.$executeRaw`
    INSERT INTO evidence_documents (id, image_id, content_digest, format, kind, source, uploaded_by, signature_status, size, raw, component_count, scanned_at)
    SELECT gen_random_uuid(), i.id, 'sha256:' || encode(sha256(('scan' || i.id)::bytea), 'hex'), 'trivy', 'scan', 'upload', 'bench', 'unsigned', 2, '{}'::bytea, 0, now()
    FROM images i JOIN repositories r ON r.id = i.repository_id WHERE r.name LIKE 'fleet/%'`;
  await db.$executeRaw`
    INSERT INTO evidence_documents (id, image_id, content_digest, format, kind, source, uploaded_by, signature_status, size, raw, component_count)
    SELECT gen_random_uuid(), i.id, 'sha256:' || encode(sha256(('sbom' || i.id)::bytea), 'hex'), 'cyclonedx', 'sbom', 'upload', 'bench', 'unsigned', 2, '{}'::bytea, 20
    FROM images i JOIN repositories r ON r.id = i.repository_id WHERE r.name LIKE 'fleet/%'`;
  await db.$executeRaw`
    INSERT INTO components (id, document_id, image_id, name, name_key, version, purl, purl_key, type, ecosystem)
    SELECT gen_random_uuid(), d.id, d.image_id, c.name, lower(c.name), c.version, 'pkg:npm/' || c.name || '@' || c.version, 'pkg:npm/' || lower(c.name), 'library', 'npm'
    FROM evidence_documents d
    CROSS JOIN (SELECT 'lodash' AS name, '4.17.20' AS version UNION ALL SELECT 'pkg-' || g, '1.' || g || '.0' FROM generate_series(1, 19) g) c
    WHERE d.kind = 'sbom' AND d.uploaded_by = 'bench'`;
  await db.$executeRaw`
    INSERT INTO approvals (id, image_id, stage_id, approver_id, signing_key_id, comment, status, payload, signature, layer_digest, signed_at)
    SELECT gen_random_uuid(), i.id, ${stage.id}::uuid, ${alice.id}::uuid, ${key.id}::uuid, 'bench', 'signed', '{}'::bytea, 'x', 'sha256:' || encode(sha256(('layer' || i.id)::bytea), 'hex'), now()
    FROM images i JOIN repositories r ON r.id = i.repository_id WHERE r.name LIKE 'fleet/%'`;
  await db.$executeRaw`DELETE FROM reevaluation_requests`;
  await db.$executeRaw`ANALYZE`;
  const loadMs = performance.now() - t;
  log(`loaded ${N} approved images in ${Math.round(loadMs)} ms`);

  t = performance.now();
  const imp = await importAdvisories({ actor: system, bytes: readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json"), origin: "bench" });
  const importMs = performance.now() - t;
  log(`import: ${imp.findings} findings in ${Math.round(importMs)} ms; re-evaluating…`);
  t = performance.now();
  const re = await reevaluateApprovals();
  const reevaluateMs = performance.now() - t;
  log(`re-evaluation: ${re.evaluated} judged, ${re.atRisk} at risk in ${Math.round(reevaluateMs)} ms`);
  // Baseline: one fleet search over the same rows (warm once, then timed).
  await searchPackages({ actor: system, q: "lodash < 4.17.21", limit: Infinity });
  t = performance.now();
  const s = await searchPackages({ actor: system, q: "lodash < 4.17.21", limit: Infinity });
  const searchMs = performance.now() - t;

  // 2. K approvals through the real workflow, then one bulk revocation of them all.
  const K = input.approvals;
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  t = performance.now();
  const digests: string[] = [];
  for (let i = 0; i < K; i++) {
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `bulk ${i} ${randomBytes(8).toString("hex")}` }] });
    await pushImage(client, `bulk/svc-${i % 20}`, img, [`v${i}`]);
    digests.push(img.digest);
  }
  await syncRegistry({ actor: system, registry: reg.name });
  const comps = JSON.stringify({
    bomFormat: "CycloneDX",
    specVersion: "1.4",
    version: 1,
    components: [{ type: "library", name: "left-pad", version: "1.0.0", purl: "pkg:npm/left-pad@1.0.0" }],
  });
  const { ingestEvidence } = await import("../lib/server/evidence/ingest-evidence");
  for (let i = 0; i < K; i++) {
    const row = await db.image.findFirstOrThrow({ where: { digest: digests[i]! } });
    await ingestEvidence({ actor: system, imageId: row.id, bytes: Buffer.from(comps), source: "upload" });
    await requestAndApprove({
      actor: await userActor("alice@example.com"),
      registry: reg.name,
      repository: `bulk/svc-${i % 20}`,
      digest: digests[i]! as `sha256:${string}`,
      stage: "build",
      comment: "bench",
    });
  }
  const setupMs = performance.now() - t;
  log(`${K} approvals with signatures in the registry in ${Math.round(setupMs)} ms; bulk revocation…`);

  const counter = new RequestCounter(new URL(process.env.REGISTRY_URL!).origin).start();
  t = performance.now();
  const started = await startBulkRevocation({
    actor: await userActor("alice@example.com"),
    query: "left-pad = 1.0.0",
    stages: ["build"],
    reason: "bench",
    dryRun: false,
  });
  if (started.dryRun) throw new Error("unexpected dry run");
  const run = await runBulkRevocation({ id: started.id });
  const bulkMs = performance.now() - t;
  counter.stop();
  const requestKinds = counter.snapshot();

  // Baseline: bare registry round-trips (GET a manifest by digest), the same client, interleaved-free, warm.
  const probes = Math.min(200, Math.max(50, K));
  for (let i = 0; i < 10; i++) await client.getManifest(`bulk/svc-${i % 20}`, digests[i % K]!);
  t = performance.now();
  for (let i = 0; i < probes; i++) await client.getManifest(`bulk/svc-${i % 20}`, digests[i % K]!);
  const bareRoundTripMs = (performance.now() - t) / probes;

  const out: AgingChildOutput = {
    images: N,
    loadMs,
    importMs,
    importFindings: imp.findings,
    reevaluateMs,
    evaluated: re.evaluated,
    atRisk: re.atRisk,
    searchMs,
    searchHits: s.total,
    approvals: K,
    setupMs,
    bulkMs,
    bulkDone: run.done,
    registryRequests: totalRequests(requestKinds),
    requestKinds,
    bareRoundTripMs,
  };
  process.stdout.write(AGING_RESULT_MARKER + JSON.stringify(out) + "\n");
  const { disconnectDb } = await import("../lib/db");
  await disconnectDb();
}

// Only when run as the child, not when bench/aging.ts imports the marker and types.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
