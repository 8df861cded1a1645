import { createHash, randomUUID } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { AppError } from "../../errors";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { ingestEvidence } from "./ingest-evidence";
import { ingestEvidenceUpload } from "./ingest-evidence-upload";
import { evidenceRawStream, readEvidenceRaw } from "./read-evidence-raw";
import { searchPackages } from "./search-packages";
import { spoolDirectory } from "./spool-body";

// Issue 17: large CycloneDX / SPDX SBOMs are streamed (batched component INSERTs, raw bytes in chunk rows) inside
// one transaction. Real Postgres, real registry; the stream threshold is lowered so test documents stream.

const system: Actor = { kind: "system", label: "evidence-stream-test" };
let n = 0;
const THRESHOLD = 64 * 1024;

async function newImage(repo: string) {
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { imageId: row.id, digest: img.digest };
}

/** A Syft-like CycloneDX SBOM about `digest`: nested assemblies, licenses, layers, bom-refs, a tool and a time. */
function cdx(digest: string | null, count: number, tag = "") {
  const components = Array.from({ length: count }, (_, i) => ({
    type: "library",
    "bom-ref": `pkg:npm/streamtest-${tag}${i}@1.${i}.0?package-id=${i}`,
    name: `streamtest-${tag}${i}`,
    version: `1.${i}.0`,
    purl: i % 7 === 0 ? `pkg:NPM/StreamTest-${tag}${i}@1.${i}.0` : `pkg:npm/streamtest-${tag}${i}@1.${i}.0`,
    licenses: [{ license: { id: i % 2 ? "MIT" : "Apache-2.0" } }],
    properties: [{ name: "syft:location:0:layerID", value: `sha256:${String(i % 5).repeat(64)}` }],
    ...(i % 100 === 0 ? { components: [{ type: "library", name: `nested-${tag}${i}`, version: "0.1", purl: `pkg:npm/nested-${tag}${i}@0.1` }] } : {}),
  }));
  return Buffer.from(
    JSON.stringify(
      {
        bomFormat: "CycloneDX",
        specVersion: "1.5",
        serialNumber: `urn:uuid:${randomUUID()}`,
        version: 1,
        metadata: {
          timestamp: "2026-01-02T03:04:05Z",
          tools: { components: [{ name: "syft", version: "1.0.0" }] },
          component: digest ? { type: "container", name: "streamtest", version: digest } : undefined,
        },
        components,
        dependencies: components.map((c) => ({ ref: c["bom-ref"], dependsOn: [] })),
      },
      null,
      1,
    ),
  );
}

function spdx(count: number) {
  return Buffer.from(
    JSON.stringify({
      spdxVersion: "SPDX-2.3",
      SPDXID: "SPDXRef-DOCUMENT",
      name: "streamtest",
      creationInfo: { created: "2026-01-02T03:04:05Z", creators: ["Tool: syft-1.2.3"] },
      packages: Array.from({ length: count }, (_, i) => ({
        SPDXID: `SPDXRef-Package-${i}`,
        name: `spdxstream-${i}`,
        versionInfo: `2.${i}`,
        licenseDeclared: "MIT",
        externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: `pkg:pypi/spdxstream-${i}@2.${i}` }],
      })),
      relationships: Array.from({ length: count }, (_, i) => ({
        spdxElementId: "SPDXRef-DOCUMENT",
        relationshipType: "CONTAINS",
        relatedSpdxElement: `SPDXRef-Package-${i}`,
      })),
    }),
  );
}

async function* pieces(bytes: Buffer, size = 16 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const streamed = (imageId: string, bytes: Buffer, maxBytes = 1 << 30) =>
  ingestEvidenceUpload({ actor: system, imageId, body: pieces(bytes), maxBytes, streamThreshold: THRESHOLD });

async function componentRows(documentId: string) {
  const rows = await db.component.findMany({
    where: { documentId },
    select: { name: true, nameKey: true, version: true, purl: true, purlKey: true, type: true, ecosystem: true, licenses: true, layer: true },
  });
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

async function stored(imageId: string) {
  const docs = await db.evidenceDocument.findMany({ where: { imageId }, select: { id: true } });
  const ids = docs.map((d) => d.id);
  return {
    documents: docs.length,
    components: await db.component.count({ where: { imageId } }),
    chunks: await db.evidenceDocumentChunk.count({ where: { documentId: { in: ids } } }),
    orphanChunks: Number(
      (
        await db.$queryRaw<
          { n: bigint }[]
        >`SELECT count(*) AS n FROM evidence_document_chunks c WHERE NOT EXISTS (SELECT 1 FROM evidence_documents d WHERE d.id = c.document_id)`
      )[0]!.n,
    ),
    packageImages: Number((await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM package_images WHERE image_id = ${imageId}::uuid`)[0]!.n),
  };
}

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
}

beforeAll(async () => {
  await seedUsers();
});

afterAll(async () => {
  await disconnectDb();
});

describe("streamed SBOM ingest", () => {
  it("a large CycloneDX SBOM streamed gives the same rows, document fields and search answers as the buffered path", async () => {
    const a = await newImage("streamtest/buffered");
    const b = await newImage("streamtest/streamed");
    const docA = cdx(a.digest, 3000);
    const docB = cdx(b.digest, 3000);
    expect(docB.length).toBeGreaterThan(THRESHOLD * 8);
    const viaBuffer = (await ingestEvidence({ actor: system, imageId: a.imageId, bytes: docA, source: "upload" })).document;
    const r = await streamed(b.imageId, docB);
    expect(r.created).toBe(true);
    const viaStream = r.document;
    const pick = (d: typeof viaStream) => ({
      format: d.format,
      kind: d.kind,
      componentCount: d.componentCount,
      findingCount: d.findingCount,
      toolName: d.toolName,
      toolVersion: d.toolVersion,
      scannedAt: d.scannedAt,
      signatureStatus: d.signatureStatus,
      signatureDetail: d.signatureDetail,
    });
    expect(pick(viaStream)).toEqual(pick(viaBuffer));
    expect(viaStream.componentCount).toBe(3030);
    expect(viaBuffer.subjectDigest).toBe(a.digest);
    expect(viaStream.subjectDigest).toBe(b.digest);
    expect(viaStream.contentDigest).toBe(`sha256:${createHash("sha256").update(docB).digest("hex")}`);
    expect(viaStream.size).toBe(docB.length);
    expect(await componentRows(viaStream.id)).toEqual(await componentRows(viaBuffer.id));

    // Search answers: the package index holds the streamed image like the buffered one.
    for (const q of ["pkg:npm/streamtest-2999", "pkg:npm/streamtest-7", "nested-2900", "streamtest-1234"]) {
      const found = (await searchPackages({ actor: system, q })).results.map((x) => x.digest);
      expect(found, q).toContain(a.digest);
      expect(found, q).toContain(b.digest);
    }

    // The bytes are stored in chunks and read back byte for byte, whole and as a download stream.
    const row = await db.evidenceDocument.findUniqueOrThrow({ where: { id: viaStream.id }, select: { id: true, rawChunks: true, raw: true } });
    expect(row.raw.byteLength).toBe(0);
    expect(row.rawChunks).toBe(await db.evidenceDocumentChunk.count({ where: { documentId: viaStream.id } }));
    expect((await readEvidenceRaw(db, row)).equals(docB)).toBe(true);
    const downloaded = Buffer.from(await new Response(evidenceRawStream(row)).arrayBuffer());
    expect(downloaded.equals(docB)).toBe(true);
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "evidence.upload", targetDigest: b.digest } });
    expect(audit.detail).toMatchObject({ documentId: viaStream.id, components: 3030, contentDigest: viaStream.contentDigest });

    // The same bytes again: a no-op that returns the stored document.
    const again = await streamed(b.imageId, docB);
    expect(again.created).toBe(false);
    expect(again.document.id).toBe(viaStream.id);
    expect((await stored(b.imageId)).documents).toBe(1);
  });

  it("a large SPDX SBOM streamed gives the same rows as the buffered path", async () => {
    const a = await newImage("streamtest/spdx-buffered");
    const b = await newImage("streamtest/spdx-streamed");
    const doc = spdx(2500);
    expect(doc.length).toBeGreaterThan(THRESHOLD * 4);
    const viaBuffer = (await ingestEvidence({ actor: system, imageId: a.imageId, bytes: doc, source: "upload" })).document;
    const viaStream = (await streamed(b.imageId, doc)).document;
    expect(viaStream.rawChunks).toBe(0 + (await db.evidenceDocumentChunk.count({ where: { documentId: viaStream.id } })));
    expect(viaStream.rawChunks).toBeGreaterThan(0);
    expect({ ...viaStream, id: 0, imageId: 0, uploadedAt: 0, firstSeenAt: 0, rawChunks: 0 }).toEqual({
      ...viaBuffer,
      id: 0,
      imageId: 0,
      uploadedAt: 0,
      firstSeenAt: 0,
      rawChunks: 0,
    });
    expect(await componentRows(viaStream.id)).toEqual(await componentRows(viaBuffer.id));
    expect((await readEvidenceRaw(db, viaStream)).equals(doc)).toBe(true);
  });

  it("a document that turns malformed halfway leaves nothing stored", async () => {
    const img = await newImage("streamtest/malformed");
    const auditBefore = await db.auditEvent.count();
    const good = cdx(img.digest, 3000);
    const bad = Buffer.concat([good.subarray(0, Math.floor(good.length * 0.8)), Buffer.from(',,"oops"]}')]);
    const e = await refusal(streamed(img.imageId, bad));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.field).toBe("body");
    expect(await stored(img.imageId)).toEqual({ documents: 0, components: 0, chunks: 0, orphanChunks: 0, packageImages: 0 });
    expect(await db.auditEvent.count()).toBe(auditBefore);
  });

  it("a component failing the schema late in the stream leaves nothing stored", async () => {
    const img = await newImage("streamtest/invalid");
    const text = cdx(img.digest, 3000).toString("utf8").replace('"name": "streamtest-2990"', '"name": 2990');
    const e = await refusal(streamed(img.imageId, Buffer.from(text)));
    expect(e.code).toBe("INVALID_INPUT");
    expect(e.message).toContain("components[2990].name");
    expect(await stored(img.imageId)).toEqual({ documents: 0, components: 0, chunks: 0, orphanChunks: 0, packageImages: 0 });
  });

  it("an SBOM about another image is refused at the end and leaves nothing stored", async () => {
    const img = await newImage("streamtest/other-subject");
    const e = await refusal(streamed(img.imageId, cdx(`sha256:${"e".repeat(64)}`, 3000)));
    expect(e.code).toBe("INVALID_INPUT");
    expect(e.field).toBe("subject");
    expect(await stored(img.imageId)).toEqual({ documents: 0, components: 0, chunks: 0, orphanChunks: 0, packageImages: 0 });
  });

  it("a streamed document past the size cap is refused with 413 and leaves nothing stored", async () => {
    const img = await newImage("streamtest/too-large");
    const doc = cdx(img.digest, 3000);
    const e = await refusal(streamed(img.imageId, doc, doc.length - 100));
    expect(e.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await stored(img.imageId)).toEqual({ documents: 0, components: 0, chunks: 0, orphanChunks: 0, packageImages: 0 });
  });

  it("a NUL escape or a __proto__ key deep in a streamed document is refused with nothing stored", async () => {
    const img = await newImage("streamtest/hostile");
    for (const [from, to] of [
      ['"name": "streamtest-2500"', '"name": "streamtest\\u0000"'],
      ['"name": "streamtest-2500"', '"__proto__": {}, "name": "x"'],
    ] as const) {
      const e = await refusal(streamed(img.imageId, Buffer.from(cdx(img.digest, 3000).toString("utf8").replace(from, to))));
      expect(e.code).toBe("INVALID_INPUT");
      expect(await stored(img.imageId)).toEqual({ documents: 0, components: 0, chunks: 0, orphanChunks: 0, packageImages: 0 });
    }
  });

  it("small documents and large documents of other formats keep the buffered path (raw in the row)", async () => {
    const img = await newImage("streamtest/small");
    const small = cdx(img.digest, 10);
    expect(small.length).toBeLessThan(THRESHOLD);
    const r = await streamed(img.imageId, small);
    const row = await db.evidenceDocument.findUniqueOrThrow({ where: { id: r.document.id }, select: { id: true, raw: true, rawChunks: true } });
    expect(row.rawChunks).toBe(0);
    expect(Buffer.from(row.raw).equals(small)).toBe(true);
    // A large upload whose start does not declare CycloneDX/SPDX (bomFormat last) is read whole, as before.
    const parsed = JSON.parse(cdx(img.digest, 1000).toString("utf8")) as Record<string, unknown>;
    const { bomFormat, ...restOf } = parsed;
    const late = Buffer.from(JSON.stringify({ ...restOf, bomFormat }));
    expect(late.length).toBeGreaterThan(THRESHOLD);
    const r2 = await streamed(img.imageId, late);
    expect(r2.document.rawChunks).toBe(0);
    expect(r2.document.componentCount).toBe(1010);
  });

  it("a document parsed whole is bounded by EVIDENCE_BUFFERED_MAX_BYTES (413), and at most two large ones parse at once (429)", async () => {
    // Found by review: a 128 MiB Trivy report of tiny entries took 2.6 GB of heap and ended in a 500; four at once
    // would take the process down. Formats other than CycloneDX/SPDX JSON are parsed whole.
    const img = await newImage("streamtest/buffered-cap");
    const parsed = JSON.parse(cdx(img.digest, 1000).toString("utf8")) as Record<string, unknown>;
    const { bomFormat, ...restOf } = parsed;
    const late = Buffer.from(JSON.stringify({ ...restOf, bomFormat }));
    process.env.EVIDENCE_BUFFERED_MAX_BYTES = String(late.length - 1);
    resetEnvCache();
    try {
      const e = await refusal(streamed(img.imageId, late));
      expect(e.code).toBe("PAYLOAD_TOO_LARGE");
      expect(e.message).toContain("EVIDENCE_BUFFERED_MAX_BYTES");
      expect(await stored(img.imageId)).toEqual({ documents: 0, components: 0, chunks: 0, orphanChunks: 0, packageImages: 0 });
    } finally {
      delete process.env.EVIDENCE_BUFFERED_MAX_BYTES;
      resetEnvCache();
    }
    // Three at once: two parse, the third is told to retry; nothing of it is stored.
    const docs = [0, 1, 2].map((i) =>
      Buffer.from(JSON.stringify({ ...restOf, serialNumber: `urn:uuid:${randomUUID()}`, metadata: { ...(restOf.metadata as object), i }, bomFormat })),
    );
    const results = await Promise.allSettled(docs.map((d) => streamed(img.imageId, d)));
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "fulfilled", "rejected"]);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: "RATE_LIMITED" });
    expect((await stored(img.imageId)).documents).toBe(2);
  });

  it("an empty body is a 400 naming the body", async () => {
    const img = await newImage("streamtest/empty");
    const e = await refusal(ingestEvidenceUpload({ actor: system, imageId: img.imageId, body: pieces(Buffer.alloc(0)), maxBytes: 1000 }));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.field).toBe("body");
  });

  it("a slow uploader holds no database transaction or connection while its body arrives, and its spool file is private and removed", async () => {
    const img = await newImage("streamtest/slow");
    const doc = cdx(img.digest, 3000);
    const half = Math.floor(doc.length / 2);
    let atGate!: () => void;
    const reached = new Promise<void>((r) => (atGate = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The client sends half the document, then stalls (as a slow link would) until the test lets it go on.
    async function* slow(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < half; i += 16 * 1024) yield doc.subarray(i, Math.min(i + 16 * 1024, half));
      atGate();
      await gate;
      for (let i = half; i < doc.length; i += 16 * 1024) yield doc.subarray(i, i + 16 * 1024);
    }
    const upload = ingestEvidenceUpload({ actor: system, imageId: img.imageId, body: slow(), maxBytes: 1 << 30, streamThreshold: THRESHOLD });
    await reached;
    // Every other client session of this database: none may be inside a transaction while the body is on its way.
    const inTransaction = await db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM pg_stat_activity
      WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`;
    expect(Number(inTransaction[0]!.n)).toBe(0);
    const dir = await spoolDirectory();
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    const info = await stat(join(dir, files[0]!));
    expect(info.mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(info.size).toBeGreaterThanOrEqual(half);
    release();
    const r = await upload;
    expect(r.created).toBe(true);
    expect(r.document.rawChunks).toBeGreaterThan(0);
    expect((await readEvidenceRaw(db, r.document)).equals(doc)).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });

  it("a refused upload leaves no spool file behind", async () => {
    const img = await newImage("streamtest/spool-refused");
    const doc = cdx(img.digest, 3000);
    expect((await refusal(streamed(img.imageId, doc, doc.length - 1))).code).toBe("PAYLOAD_TOO_LARGE");
    expect((await refusal(streamed(img.imageId, Buffer.concat([doc.subarray(0, doc.length - 10), Buffer.from("@@@@@@@@@@")])))).code).toBe("BAD_REQUEST");
    expect(await readdir(await spoolDirectory())).toEqual([]);
    expect(await stored(img.imageId)).toEqual({ documents: 0, components: 0, chunks: 0, orphanChunks: 0, packageImages: 0 });
  });

  it("a repeated components key or a components object gets the same refusal on the buffered and the streamed path, with nothing stored", async () => {
    const img = await newImage("streamtest/top-level");
    const good = cdx(img.digest, 3000).toString("utf8");
    const small = cdx(img.digest, 3).toString("utf8");
    const variants = [
      { mark: "components is given more than once", edit: (t: string) => t.replace(/\n}$/, ',\n "components": []\n}') },
      {
        mark: "components should be an array, not an object",
        edit: (t: string) => t.replace(/\n "components": \[([\s\S]*?)\n \],\n "dependencies"/, '\n "components": {"list": [$1\n ]},\n "dependencies"'),
      },
    ];
    for (const { mark, edit } of variants) {
      const large = Buffer.from(edit(good));
      const little = Buffer.from(edit(small));
      expect(large.length).toBeGreaterThan(THRESHOLD);
      expect(little.length).toBeLessThan(THRESHOLD);
      const viaStream = await refusal(streamed(img.imageId, large));
      const viaBuffer = await refusal(streamed(img.imageId, little));
      for (const e of [viaStream, viaBuffer]) {
        expect(e.code).toBe("INVALID_INPUT");
        expect(e.field).toBe("body");
        expect(e.message).toContain(mark);
      }
      expect(viaStream.message).toBe(viaBuffer.message);
      expect(await stored(img.imageId)).toEqual({ documents: 0, components: 0, chunks: 0, orphanChunks: 0, packageImages: 0 });
    }
  });
});

describe("identical uploads at the same instant", () => {
  // Both pass the "already stored?" check before either commits; the loser's transaction meets the unique index. Its
  // document is stored (by the other request), so it is answered as a repeat (created: false, the same row), not 409.
  it("on the buffered path, every one succeeds and one document is stored", async () => {
    const img = await newImage("streamtest/race-buffered");
    const doc = cdx(img.digest, 400, "race");
    const out = await Promise.all(Array.from({ length: 6 }, () => ingestEvidence({ actor: system, imageId: img.imageId, bytes: doc, source: "upload" })));
    expect(out.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(out.map((r) => r.document.id)).size).toBe(1);
    expect(await db.evidenceDocument.count({ where: { imageId: img.imageId } })).toBe(1);
  });

  it("on the streamed path, every one succeeds and one document is stored", async () => {
    const img = await newImage("streamtest/race-streamed");
    const doc = cdx(img.digest, 3000, "race");
    const out = await Promise.all(Array.from({ length: 3 }, () => streamed(img.imageId, doc)));
    expect(out.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(out.map((r) => r.document.id)).size).toBe(1);
    expect(await db.evidenceDocument.count({ where: { imageId: img.imageId } })).toBe(1);
  });
});
