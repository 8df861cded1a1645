import { generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest } from "../../oci/digest";
import { cosignTag } from "../../oci/reference";
import type { Actor } from "../actor";
import { addTrustedKey } from "../keys/add-trusted-key";
import { readBodyCapped } from "../http/read-body";
import { syncRegistry } from "../images/sync-registry";
import { getImageEvidence, parseEvidenceQuery } from "./get-image-evidence";
import { ingestEvidence } from "./ingest-evidence";
import { csvCell, searchPackages, searchResultsCsv } from "./search-packages";

const td = (f: string) => readFileSync(join(__dirname, "../../evidence/testdata", f));
const system: Actor = { kind: "system", label: "evidence-test" };
let ci: Actor;
let manager: Actor;
let imageId: string;
let digest: string;
let configDigest: string;
const client = () => new RegistryClient({ url: process.env.REGISTRY_URL! });

function repoint(doc: Buffer, mutate: (j: Record<string, any>) => void): Buffer {
  const j = JSON.parse(doc.toString("utf8"));
  mutate(j);
  return Buffer.from(JSON.stringify(j));
}

function pae(type: string, payload: Buffer) {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]);
}

beforeAll(async () => {
  await seedUsers();
  const u = await db.user.findUniqueOrThrow({ where: { email: "dev@example.com" } });
  ci = { kind: "user", id: u.id, email: u.email, name: u.name, role: u.role, via: "token" };
  const m = await db.user.findUniqueOrThrow({ where: { email: "manager@example.com" } });
  manager = { kind: "user", id: m.id, email: m.email, name: m.name, role: m.role, via: "session" };
  const img = buildImage({ architecture: "amd64", layers: [{ "etc/alpine-release": "3.16.2" }] });
  await pushImage(client(), "evidence/app", img, ["1.0"]);
  await syncRegistry({ actor: system });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest } });
  imageId = row.id;
  digest = row.digest;
  configDigest = row.configDigest!;
});

afterAll(async () => {
  await disconnectDb();
});

describe("uploading evidence", () => {
  it("stores a Trivy report re-pointed at this image, with its stated scan time, once", async () => {
    const raw = td("trivy-alpine-3.10-schema2.json");
    const doc = repoint(raw, (j) => {
      j.Metadata.ImageID = configDigest;
    });
    const first = await ingestEvidence({ actor: ci, imageId, bytes: doc, source: "upload" });
    expect(first.created).toBe(true);
    const expected = JSON.parse(raw.toString()).Results.flatMap((r: { Vulnerabilities?: unknown[] }) => r.Vulnerabilities ?? []).length;
    expect(first.document.findingCount).toBe(expected);
    expect(first.document.scannedAt?.toISOString()).toBe("2021-08-25T12:20:30.000Z");
    expect(first.document.uploadedBy).toBe("dev@example.com (token)");
    expect(first.document.subjectDigest).toBe(configDigest);
    const again = await ingestEvidence({ actor: ci, imageId, bytes: doc, source: "upload" });
    expect(again.created).toBe(false);
    expect(await db.evidenceDocument.count({ where: { imageId } })).toBe(1);
    const stored = await db.evidenceDocument.findUniqueOrThrow({ where: { id: first.document.id } });
    expect(Buffer.from(stored.raw).equals(doc)).toBe(true);
  });

  it("rejects a document about another image, naming the digest it names, and stores nothing", async () => {
    const before = await db.evidenceDocument.count();
    await expect(ingestEvidence({ actor: ci, imageId, bytes: td("trivy-alpine-3.10-schema2.json"), source: "upload" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringContaining("sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4"),
    });
    await expect(ingestEvidence({ actor: ci, imageId, bytes: Buffer.from("{nope"), source: "upload" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(ingestEvidence({ actor: ci, imageId, bytes: Buffer.from('{"hello":"world"}'), source: "upload" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
    });
    await expect(ingestEvidence({ actor: manager, imageId, bytes: Buffer.from("{}"), source: "upload" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await db.evidenceDocument.count()).toBe(before);
  });

  it("stores an SBOM's components, which the fleet search finds with each ecosystem's version rules", async () => {
    const raw = td("syft-alpine-3.16-cyclonedx-1.4.json");
    const doc = repoint(raw, (j) => {
      j.metadata.component.version = configDigest;
    });
    const r = await ingestEvidence({ actor: ci, imageId, bytes: doc, source: "upload" });
    expect(r.document.componentCount).toBe(JSON.parse(raw.toString()).components.length);
    const hit = await searchPackages({ actor: ci, q: "busybox < 1.35.0-r18" });
    expect(hit.results.map((x) => `${x.repository}@${x.digest}`)).toEqual([`evidence/app@${digest}`]);
    expect(hit.results[0]!.versions).toEqual(["1.35.0-r17"]);
    expect(hit.results[0]!.tags).toEqual(["1.0"]);
    const counted = await searchPackages({ actor: ci, q: "busybox", limit: 0 });
    expect(counted.total).toBe(1);
    expect(counted.results).toEqual([]);
    // Alpine ordering: -r17 is newer than the _rc and older than -r18.
    expect((await searchPackages({ actor: ci, q: "busybox < 1.35.0-r17" })).results).toHaveLength(0);
    expect((await searchPackages({ actor: ci, q: "busybox > 1.35.0_rc1" })).results).toHaveLength(1);
    expect((await searchPackages({ actor: ci, q: "pkg:alpine/busybox" })).results).toHaveLength(1);
    await expect(searchPackages({ actor: ci, q: "busybox <" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    const ev = await getImageEvidence({ actor: ci, imageId, query: parseEvidenceQuery({ cq: "musl" }) });
    expect(ev.components.map((c) => c.name).sort()).toEqual(["musl", "musl-utils"]);
    expect(ev.licenses.length).toBeGreaterThan(0);
  });

  it("shows a finding reported by two scanners once, with both sources", async () => {
    const trivy = JSON.parse(td("trivy-alpine-3.10-schema2.json").toString());
    const v = trivy.Results.flatMap((r: { Vulnerabilities?: Record<string, any>[] }) => r.Vulnerabilities ?? [])[0];
    const grype = {
      matches: [
        {
          vulnerability: { id: v.VulnerabilityID, severity: "High", fix: { versions: [v.FixedVersion], state: "fixed" }, dataSource: "x" },
          relatedVulnerabilities: [],
          matchDetails: [],
          artifact: {
            name: v.PkgName,
            version: v.InstalledVersion,
            type: "apk",
            purl: `pkg:apk/alpine/${v.PkgName}@${v.InstalledVersion}`,
            locations: [],
            licenses: [],
            cpes: [],
          },
        },
      ],
      source: { type: "image", target: { imageID: configDigest } },
      distro: { name: "alpine", version: "3.10.2" },
      descriptor: { name: "grype", version: "0.74.0", timestamp: "2026-11-25T10:00:00Z" },
    };
    await ingestEvidence({ actor: ci, imageId, bytes: Buffer.from(JSON.stringify(grype)), source: "upload" });
    const ev = await getImageEvidence({ actor: ci, imageId, query: parseEvidenceQuery({}) });
    const merged = ev.vulnerabilities.filter((f) => f.id === v.VulnerabilityID && f.package === v.PkgName);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.sources.sort()).toEqual(["grype", "trivy"]);
  });

  it("verifies a DSSE provenance envelope against trusted keys: signed by a named key, invalid, or unsigned", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    await addTrustedKey({
      actor: system,
      name: "ci-builder",
      role: "builder",
      builderIds: ["https://ci.example.com/*"],
      pem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    });
    const statement = {
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: "evidence/app", digest: { sha256: digest.slice(7) } }],
      predicateType: "https://slsa.dev/provenance/v1",
      predicate: {
        buildDefinition: {
          buildType: "https://actions.github.io/buildtypes/workflow/v1",
          externalParameters: { workflow: { repository: "https://git.example.com/team/app", ref: "refs/heads/main", path: ".github/workflows/build.yml" } },
          resolvedDependencies: [
            { uri: "git+https://git.example.com/team/app@refs/heads/main", digest: { gitCommit: "0123456789abcdef0123456789abcdef01234567" } },
          ],
        },
        runDetails: {
          builder: { id: "https://ci.example.com/builder@v1" },
          metadata: { startedOn: "2026-11-25T09:00:00Z", finishedOn: "2026-11-25T09:05:00Z" },
        },
      },
    };
    const payload = Buffer.from(JSON.stringify(statement));
    const type = "application/vnd.in-toto+json";
    const envelope = (sig: string) => Buffer.from(JSON.stringify({ payloadType: type, payload: payload.toString("base64"), signatures: [{ keyid: "", sig }] }));
    const good = sign("sha256", pae(type, payload), { key: privateKey, dsaEncoding: "der" }).toString("base64");
    const signed = await ingestEvidence({ actor: ci, imageId, bytes: envelope(good), source: "upload" });
    expect(signed.document.signatureStatus).toBe("signed");
    expect(signed.document.signedBy).toBe("ci-builder");
    const foreign = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const bad = await ingestEvidence({
      actor: ci,
      imageId,
      bytes: envelope(sign("sha256", pae(type, payload), { key: foreign, dsaEncoding: "der" }).toString("base64")),
      source: "upload",
    });
    expect(bad.document.signatureStatus).toBe("invalid");
    const none = await ingestEvidence({ actor: ci, imageId, bytes: envelope(""), source: "upload" });
    expect(none.document.signatureStatus).toBe("unsigned");
    const ev = await getImageEvidence({ actor: ci, imageId, query: parseEvidenceQuery({}) });
    const p = ev.provenance.find((x) => x.signature.status === "signed")!;
    expect(p.builderId).toBe("https://ci.example.com/builder@v1");
    expect(p.sourceRepo).toContain("git.example.com/team/app");
    expect(p.sourceCommit).toBe("0123456789abcdef0123456789abcdef01234567");
  });

  it("finds attestations in the registry (cosign .att) and stores them as evidence from the registry", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "att.txt": "x" }] });
    const c = client();
    await pushImage(c, "evidence/attested", img, ["1"]);
    const statement = Buffer.from(
      JSON.stringify({
        _type: "https://in-toto.io/Statement/v0.1",
        subject: [{ name: "evidence/attested", digest: { sha256: img.digest.slice(7) } }],
        predicateType: "https://slsa.dev/provenance/v0.2",
        predicate: { builder: { id: "https://tekton.dev/chains/v2" }, buildType: "tekton.dev/v1beta1/TaskRun", materials: [] },
      }),
    );
    const env = Buffer.from(
      JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: statement.toString("base64"), signatures: [{ keyid: "", sig: "" }] }),
    );
    const cfg = Buffer.from(JSON.stringify({ architecture: "", os: "", config: {}, rootfs: { type: "layers", diff_ids: [sha256Digest(env)] } }));
    await c.putBlob("evidence/attested", env);
    await c.putBlob("evidence/attested", cfg);
    const att = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256Digest(cfg), size: cfg.length },
      layers: [
        {
          mediaType: "application/vnd.dsse.envelope.v1+json",
          digest: sha256Digest(env),
          size: env.length,
          annotations: { predicateType: "https://slsa.dev/provenance/v0.2", "dev.cosignproject.cosign/signature": "" },
        },
      ],
    };
    await c.putManifest("evidence/attested", cosignTag(img.digest, "att"), Buffer.from(JSON.stringify(att)), att.mediaType);
    await syncRegistry({ actor: system });
    const docs = await db.evidenceDocument.findMany({ where: { image: { digest: img.digest } } });
    expect(docs.map((d) => [d.source, d.kind, d.uploadedBy])).toEqual([["registry", "provenance", "system:sync"]]);
  });

  it("accepts a CycloneDX SBOM of 100,000 components", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "big.txt": "x" }] });
    await pushImage(client(), "evidence/big", img, ["1"]);
    await syncRegistry({ actor: system, repositories: ["evidence/big"] });
    const big = await db.image.findFirstOrThrow({ where: { digest: img.digest } });
    const components = Array.from({ length: 100_000 }, (_, i) => ({
      type: "library",
      name: `pkg-${i}`,
      version: `1.${i % 100}.0`,
      purl: `pkg:npm/pkg-${i}@1.${i % 100}.0`,
      licenses: [{ license: { id: "MIT" } }],
    }));
    const doc = Buffer.from(JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components }));
    const r = await ingestEvidence({ actor: ci, imageId: big.id, bytes: doc, source: "upload" });
    expect(r.document.componentCount).toBe(100_000);
    expect(await db.component.count({ where: { imageId: big.id } })).toBe(100_000);
    expect((await searchPackages({ actor: ci, q: "pkg-99999 >= 1.99.0" })).results).toHaveLength(1);
  }, 180_000);
});

describe("edges", () => {
  it("refuses a body over the cap while streaming, without reading the rest", async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        if (pulled > 1000) return c.close();
        c.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const req = new Request("http://x/", { method: "POST", body: stream, duplex: "half" } as RequestInit);
    await expect(readBodyCapped(req, 256 * 1024)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(pulled).toBeLessThan(10);
  });

  it("escapes spreadsheet formulas in CSV exports", () => {
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvCell("+1")).toBe(`"'+1"`);
    expect(csvCell("-2")).toBe(`"'-2"`);
    expect(csvCell("@SUM(A1)")).toBe(`"'@SUM(A1)"`);
    expect(csvCell("openssl")).toBe(`"openssl"`);
    expect(
      searchResultsCsv([
        {
          registry: "r",
          repository: "a",
          digest: "sha256:x",
          tags: ["=cmd"],
          versions: ["1"],
          purls: [],
          highestStage: null,
          deleted: false,
          notCounted: false,
        },
      ]),
    ).toContain(`"'=cmd"`);
  });
});
