// Scan-age replay: a scan's age counts from the earliest time Imprimatur received its payload for the same subject.
// A signed scan that states no time, uploaded again in a new DSSE wrapper (or its bare statement uploaded), keeps the
// age of its first upload; it cannot be made to pass a "scan younger than N hours" gate forever.
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { evaluateGates, parseGateConfig } from "../../policy/gates";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { addTrustedKey } from "../keys/add-trusted-key";
import { gatherGateFacts } from "../promotions/gather-gate-facts";
import { ingestEvidence } from "./ingest-evidence";

const system: Actor = { kind: "system", label: "scan-age-replay" };
const INTOTO = "application/vnd.in-toto+json";
const DAY = 86_400_000;
let scanner: KeyObject;
let n = 0;

async function newImage(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "t.txt": `${repo} ${++n} ${Date.now()} ${Math.random()}` }] });
  await pushImage(new RegistryClient({ url: process.env.REGISTRY_URL! }), repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, repositories: [repo] });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { digest: img.digest, imageId: row.id, repo };
}

/** A cosign vuln attestation (a Trivy report, clean) that states no scan time anywhere. */
const scanStatement = (repo: string, digest: string, runId: string) =>
  Buffer.from(
    JSON.stringify({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: repo, digest: { sha256: digest.slice("sha256:".length) } }],
      predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
      predicate: {
        invocation: { uri: `https://ci.example.com/run/${runId}` },
        scanner: {
          uri: "pkg:github/aquasecurity/trivy@0.50.0",
          version: "0.50.0",
          result: { SchemaVersion: 2, ArtifactName: `${repo}@${digest}`, ArtifactType: "container_image", Results: [] },
        },
        metadata: {},
      },
    }),
  );

const pae = (payload: Buffer) => Buffer.concat([Buffer.from(`DSSEv1 ${INTOTO.length} ${INTOTO} ${payload.length} `), payload]);

/** A DSSE envelope signed by the scanner key; `keyid` and `spaces` make a different wrapper around the same payload. */
function envelope(payload: Buffer, { keyid = "", spaces = 0 }: { keyid?: string; spaces?: number } = {}): Buffer {
  const sig = sign("sha256", pae(payload), { key: scanner, dsaEncoding: "der" }).toString("base64");
  return Buffer.from(JSON.stringify({ payloadType: INTOTO, payload: payload.toString("base64"), signatures: [{ keyid, sig }] }, null, spaces));
}

/** Backdates a document's receipt, as if it had been uploaded `days` ago (and, where recorded, first seen then). */
async function backdate(documentId: string, days: number) {
  const cols = await db.$queryRaw<{ column_name: string }[]>`
    SELECT column_name FROM information_schema.columns WHERE table_name = 'evidence_documents' AND column_name = 'first_seen_at'`;
  const at = new Date(Date.now() - days * DAY);
  await db.$executeRaw`UPDATE evidence_documents SET uploaded_at = ${at} WHERE id = ${documentId}::uuid`;
  if (cols.length) await db.$executeRawUnsafe(`UPDATE evidence_documents SET first_seen_at = $1 WHERE id = $2::uuid`, at, documentId);
}

async function scanAge(imageId: string) {
  const stageId = (await db.stage.findFirstOrThrow({ where: { name: "test" }, select: { id: true } })).id;
  const facts = await gatherGateFacts(db, { imageId, stageId });
  return { newestScanAt: facts.newestScanAt, gate: evaluateGates(parseGateConfig({ maxScanAgeHours: 24 }), facts)[0]! };
}

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test"]);
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  scanner = privateKey;
  await addTrustedKey({
    actor: system,
    name: "replay-scanner",
    pem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    role: "scanner",
    scope: ["replay/**"],
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("a scan's age counts from when its payload was first received", () => {
  it("the same signed payload in a new wrapper, or bare, does not make a 10-day-old scan fresh; a new scan does", async () => {
    const img = await newImage(`replay/app-${n}`);
    const dev = await userActor("dev@example.com");
    const payload = scanStatement(img.repo, img.digest, "1");
    const first = await ingestEvidence({ actor: dev, imageId: img.imageId, bytes: envelope(payload), source: "upload" });
    expect([first.document.kind, first.document.signatureStatus, first.document.scannedAt]).toEqual(["scan", "signed", null]);
    await backdate(first.document.id, 10);
    expect((await scanAge(img.imageId)).gate.passed).toBe(false);

    // A new wrapper: another keyid, the envelope's JSON reformatted. Different bytes, the same signed payload.
    const rewrapped = await ingestEvidence({ actor: dev, imageId: img.imageId, bytes: envelope(payload, { keyid: "again", spaces: 2 }), source: "upload" });
    expect(rewrapped.created).toBe(true);
    expect(rewrapped.document.signatureStatus).toBe("signed");
    let age = await scanAge(img.imageId);
    expect(age.gate.passed, `a re-wrapped 10-day-old scan passed the 24 h scan-age gate: ${age.gate.detail}`).toBe(false);
    expect(Date.now() - age.newestScanAt!.getTime()).toBeGreaterThan(9 * DAY);

    // The bare statement: the very payload the envelope signed.
    const bare = await ingestEvidence({ actor: dev, imageId: img.imageId, bytes: payload, source: "upload" });
    expect(bare.created).toBe(true);
    age = await scanAge(img.imageId);
    expect(age.gate.passed, `the bare statement of a 10-day-old scan passed the 24 h scan-age gate: ${age.gate.detail}`).toBe(false);

    // The migration's backfill computes the same payload digests and first-seen times for rows stored before it.
    const rows = () =>
      db.$queryRawUnsafe<{ id: string; payload_digest: string; first_seen_at: Date }[]>(
        `SELECT id, payload_digest, first_seen_at FROM evidence_documents WHERE image_id = $1::uuid ORDER BY id`,
        img.imageId,
      );
    const stored = await rows();
    expect(new Set(stored.map((r) => r.payload_digest)).size).toBe(1);
    await db.$executeRawUnsafe(`UPDATE evidence_documents SET payload_digest = NULL, first_seen_at = NULL WHERE image_id = $1::uuid`, img.imageId);
    const sql = readFileSync("prisma/migrations/20261209201000_evidence_first_seen/migration.sql", "utf8");
    await db.$executeRawUnsafe(sql.slice(sql.indexOf("DO $$"), sql.indexOf("-- The earliest upload")));
    await db.$executeRawUnsafe(sql.slice(sql.indexOf("UPDATE evidence_documents d SET first_seen_at")));
    expect(await rows()).toEqual(stored);

    // A new scan (a new run, so a new payload) is fresh.
    await ingestEvidence({ actor: dev, imageId: img.imageId, bytes: envelope(scanStatement(img.repo, img.digest, "2")), source: "upload" });
    expect((await scanAge(img.imageId)).gate.passed).toBe(true);
  });

  it("the same payload for another subject is judged on its own", async () => {
    const a = await newImage(`replay/a-${n}`);
    const b = await newImage(`replay/b-${n}`);
    const dev = await userActor("dev@example.com");
    // A statement naming no digest is about the image it is filed on.
    const unnamed = Buffer.from(JSON.stringify({ SchemaVersion: 2, ArtifactName: "scratch", ArtifactType: "filesystem", Results: [] }));
    const onA = await ingestEvidence({ actor: dev, imageId: a.imageId, bytes: unnamed, source: "upload" });
    await backdate(onA.document.id, 10);
    await ingestEvidence({ actor: dev, imageId: b.imageId, bytes: unnamed, source: "upload" });
    expect((await scanAge(a.imageId)).gate.passed).toBe(false);
    expect((await scanAge(b.imageId)).gate.passed).toBe(true);
  });
});
