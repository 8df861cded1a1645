// The app side of bench/evidence.ts, in its own process so it runs the app's own code and Prisma client:
//   node --conditions=react-server --import tsx bench/evidence-child.ts  < input.json
// with DATABASE_URL, IMPRIMATUR_MASTER_KEY and IMPRIMATUR_WORKERS=0 set (lib/server modules import
// "server-only", which needs the react-server condition). Reads an EvidenceChildInput as JSON on stdin and
// prints one line:
//   BENCH_EVIDENCE_RESULT {EvidenceChildOutput}
//
// 1. fleet search: for every query, searchPackages() (the app) and the raw SQL baseline (plain pg, the same
//    statement the app sends, so the same rows) alternate, after a warm-up round; every sample is returned.
// 2. ingest: ingestEvidence() of a 10,000-component CycloneDX 1.5 SBOM on fresh image rows.
// 3. parse: parseEvidence() alone on the same document.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const EVIDENCE_RESULT_MARKER = "BENCH_EVIDENCE_RESULT ";

export type QueryClass = "popular" | "mid" | "rare" | "absent";
export type QueryForm = "name" | "range" | "purl-vers" | "coordinates";

export interface BenchQuery {
  text: string;
  klass: QueryClass;
  form: QueryForm;
}

export interface EvidenceChildInput {
  queries: BenchQuery[];
  /** Measured rounds over all queries (each round in a different order). */
  rounds: number;
  warmupRounds: number;
  /** Queries whose app call is run once more with every SQL statement timed. */
  profile: string[];
  ingest: { runs: number; components: number; repositoryId: string; parseRuns: number };
}

export interface SearchSample {
  q: number;
  appMs: number;
  /** The app's own statement (same SQL, same parameters) through plain pg: the same rows, nothing else. */
  rawMs: number;
  /** rawMs plus the version filter (lib/versions/range matches) and one SQL for the hits' registry, repository, tags and highest stage. */
  rawFullMs: number;
}

export interface QueryCheck {
  q: number;
  text: string;
  /** Rows the key selects (the raw statement's rows). */
  rows: number;
  /** Images the app returned. */
  appHits: number;
  /** Images left after filtering the raw rows with the same range matcher. */
  rawHits: number;
}

export interface StatementTiming {
  sql: string;
  /** Sent this long after the call started. */
  startMs: number;
  ms: number;
  rows: number;
}

export interface ProfiledCall {
  text: string;
  totalMs: number;
  statements: StatementTiming[];
  /** Time with at least one statement in flight (statements sent together overlap). */
  sqlWallMs: number;
  /** totalMs minus sqlWallMs: time with no statement in flight, i.e. JS work (query parsing, Prisma building
   *  queries and turning rows into objects, the version filter, mapping). */
  outsideSqlMs: number;
}

export interface IngestRun {
  ms: number;
  components: number;
  /** Summed statement times in the run by leading keyword. */
  sqlByKind: Record<string, { count: number; ms: number }>;
}

export interface EvidenceChildOutput {
  search: { samples: SearchSample[]; checks: QueryCheck[]; profiles: ProfiledCall[] };
  ingest: { bytes: number; components: number; runs: IngestRun[] };
  parse: { bytes: number; components: number; runsMs: number[]; jsonParseMs: number[] };
  /** A sample of the loaded images checked against the product: see checkLoadedSample(). */
  loadCheck: LoadCheck;
  peakRssBytes: number;
}

export interface LoadCheck {
  images: number;
  components: number;
  problems: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Statement timing: wraps pg.Client#query (the pool's clients, hence Prisma's adapter, go through it).

let capture: StatementTiming[] | null = null;
let captureStart = 0;

function installStatementTimer(): void {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const sink = capture;
    if (!sink) return original.apply(this, args);
    const first = args[0];
    const text = typeof first === "string" ? first : (((first as { text?: unknown } | null)?.text as string | undefined) ?? "");
    const t0 = performance.now();
    const done = (res: unknown) => {
      const r = res as { rowCount?: number | null; rows?: unknown[] } | undefined;
      sink.push({
        sql: String(text).replace(/\s+/g, " ").trim().slice(0, 160),
        startMs: t0 - captureStart,
        ms: performance.now() - t0,
        rows: r?.rows?.length ?? r?.rowCount ?? 0,
      });
    };
    const last = args[args.length - 1];
    if (typeof last === "function") {
      const cb = last as (...a: unknown[]) => unknown;
      args[args.length - 1] = function (this: unknown, err: unknown, res: unknown, ...rest: unknown[]) {
        done(err ? undefined : res);
        return cb.call(this, err, res, ...rest);
      };
      return original.apply(this, args);
    }
    const r = original.apply(this, args);
    if (r && typeof (r as Promise<unknown>).then === "function") (r as Promise<unknown>).then(done, () => done(undefined));
    return r;
  };
}

async function captured<T>(f: () => Promise<T>): Promise<{ value: T; ms: number; statements: StatementTiming[] }> {
  const statements: StatementTiming[] = [];
  capture = statements;
  const t0 = performance.now();
  captureStart = t0;
  try {
    const value = await f();
    return { value, ms: performance.now() - t0, statements };
  } finally {
    capture = null;
  }
}

/** Length of the union of the statements' [start, end] intervals. */
function coveredMs(statements: StatementTiming[]): number {
  const iv = statements.map((s) => [s.startMs, s.startMs + s.ms] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of iv) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------------
// A realistic Syft-style CycloneDX 1.5 SBOM: a Debian-based image with Java, Node and Python applications.

const DEB = [
  "openssl",
  "libssl3",
  "zlib1g",
  "libc6",
  "libc-bin",
  "libgcc-s1",
  "libstdc++6",
  "ca-certificates",
  "tzdata",
  "base-files",
  "bash",
  "coreutils",
  "dpkg",
  "apt",
  "libsystemd0",
  "libudev1",
  "libcurl4",
  "curl",
  "libgnutls30",
  "libzstd1",
  "liblzma5",
  "libbz2-1.0",
  "libpcre2-8-0",
  "libselinux1",
  "libsqlite3-0",
  "libxml2",
  "libexpat1",
  "libffi8",
  "perl-base",
  "gpgv",
  "login",
  "passwd",
  "mount",
  "util-linux",
  "tar",
  "sed",
  "grep",
  "gzip",
  "findutils",
];
const NPM = [
  "lodash",
  "debug",
  "ms",
  "semver",
  "tslib",
  "@babel/core",
  "@babel/runtime",
  "express",
  "axios",
  "minimist",
  "chalk",
  "commander",
  "react",
  "react-dom",
  "uuid",
  "qs",
  "body-parser",
  "follow-redirects",
  "moment",
  "async",
  "glob",
  "minimatch",
  "yargs",
  "inherits",
  "safe-buffer",
  "@types/node",
  "@aws-sdk/client-s3",
];
const MAVEN: [string, string][] = [
  ["org.apache.logging.log4j", "log4j-core"],
  ["org.apache.logging.log4j", "log4j-api"],
  ["com.fasterxml.jackson.core", "jackson-databind"],
  ["com.fasterxml.jackson.core", "jackson-core"],
  ["org.springframework", "spring-core"],
  ["org.springframework", "spring-web"],
  ["com.google.guava", "guava"],
  ["org.apache.commons", "commons-lang3"],
  ["org.yaml", "snakeyaml"],
  ["io.netty", "netty-handler"],
  ["ch.qos.logback", "logback-classic"],
  ["org.slf4j", "slf4j-api"],
];
const PYPI = [
  "pip",
  "setuptools",
  "requests",
  "urllib3",
  "certifi",
  "idna",
  "charset-normalizer",
  "six",
  "python-dateutil",
  "pyyaml",
  "numpy",
  "django",
  "flask",
  "jinja2",
  "markupsafe",
  "cryptography",
  "packaging",
  "pydantic",
  "boto3",
  "botocore",
];
const LICENSES = ["MIT", "Apache-2.0", "BSD-3-Clause", "ISC", "GPL-2.0-or-later", "LGPL-2.1-or-later", "MPL-2.0", "BSD-2-Clause"];
const LAYERS = Array.from({ length: 6 }, (_, i) => `sha256:${createHash("sha256").update(`bench-layer-${i}`).digest("hex")}`);

function pick<T>(xs: readonly T[], i: number): T {
  return xs[i % xs.length]!;
}

export function buildSbom(opts: { components: number; subjectDigest: string; serial: string }): Buffer {
  const n = opts.components;
  const components: Record<string, unknown>[] = [];
  const dependencies: { ref: string; dependsOn: string[] }[] = [];
  // Real package names first, then numbered variants of them (Syft SBOMs of large images list thousands).
  const used = new Set<string>();
  const unique = (base: string, i: number) => {
    const name = used.has(base) ? `${base}-${i}` : base;
    used.add(name);
    return name;
  };
  for (let i = 0; i < n; i++) {
    const share = i / n;
    let name: string;
    let version: string;
    let purl: string;
    let foundBy: string;
    let pkgType: string;
    let path: string;
    let layer: string;
    let license: Record<string, unknown>;
    if (share < 0.15) {
      name = unique(pick(DEB, i), i);
      version = `${(i % 3) + 1}.${i % 17}.${i % 11}-${(i % 4) + 1}${i % 5 === 0 ? `+deb12u${i % 3}` : ""}`;
      if (i % 13 === 0) version = `1:${version}`;
      purl = `pkg:deb/debian/${name}@${encodeURIComponent(version)}?arch=amd64&distro=debian-12`;
      foundBy = "dpkg-db-cataloger";
      pkgType = "deb";
      path = `/var/lib/dpkg/status.d/${name}`;
      layer = LAYERS[0]!;
      license = { license: { id: pick(LICENSES, i + 4) } };
    } else if (share < 0.55) {
      name = unique(pick(NPM, i), i);
      version = `${i % 9}.${i % 23}.${i % 7}`;
      const [ns, bare] = name.startsWith("@") ? [name.split("/")[0]!, name.split("/")[1]!] : [null, name];
      purl = `pkg:npm/${ns ? `${encodeURIComponent(ns)}/` : ""}${bare}@${version}`;
      foundBy = "javascript-package-cataloger";
      pkgType = "npm";
      path = `/app/node_modules/${name}/package.json`;
      layer = pick(LAYERS.slice(2), i);
      license = i % 7 === 0 ? { expression: "MIT OR Apache-2.0" } : { license: { id: pick(LICENSES, i) } };
    } else if (share < 0.85) {
      const [group, artifact] = pick(MAVEN, i);
      name = unique(artifact, i);
      version = `${(i % 5) + 1}.${i % 20}.${i % 9}${i % 11 === 0 ? ".Final" : ""}`;
      purl = `pkg:maven/${group}/${name}@${version}`;
      foundBy = "java-archive-cataloger";
      pkgType = "java-archive";
      path = `/app/lib/${name}-${version}.jar`;
      layer = LAYERS[1]!;
      license = { license: { id: "Apache-2.0" } };
    } else {
      name = unique(pick(PYPI, i), i);
      version = `${i % 4}.${i % 31}.${i % 6}`;
      purl = `pkg:pypi/${name}@${version}`;
      foundBy = "python-installed-package-cataloger";
      pkgType = "python";
      path = `/usr/lib/python3/dist-packages/${name.replace(/-/g, "_")}-${version}.dist-info/METADATA`;
      layer = pick(LAYERS.slice(3), i);
      license = { license: { name: pick(LICENSES, i + 2) } };
    }
    const ref = `${purl}&package-id=${createHash("sha1").update(`${i}`).digest("hex").slice(0, 16)}`;
    components.push({
      "bom-ref": ref,
      type: "library",
      name,
      version,
      licenses: [license],
      cpe: `cpe:2.3:a:${name.replace(/[@/]/g, "")}:${name.replace(/[@/]/g, "")}:${version.replace(/:/g, "\\:")}:*:*:*:*:*:*:*`,
      purl,
      properties: [
        { name: "syft:package:foundBy", value: foundBy },
        { name: "syft:package:type", value: pkgType },
        { name: "syft:location:0:layerID", value: layer },
        { name: "syft:location:0:path", value: path },
      ],
    });
    if (i > 0 && i % 3 === 0) dependencies.push({ ref, dependsOn: [components[i - 1]!["bom-ref"] as string] });
  }
  const doc = {
    $schema: "http://cyclonedx.org/schema/bom-1.5.schema.json",
    bomFormat: "CycloneDX",
    specVersion: "1.5",
    serialNumber: `urn:uuid:${opts.serial}`,
    version: 1,
    metadata: {
      timestamp: "2026-11-20T10:41:07Z",
      tools: { components: [{ type: "application", author: "anchore", name: "syft", version: "1.18.1" }] },
      component: { "bom-ref": "4a1f9e2b7c3d5e60", type: "container", name: "registry.local/fleet/ingest", version: opts.subjectDigest },
    },
    components,
    dependencies,
  };
  return Buffer.from(JSON.stringify(doc));
}

// ---------------------------------------------------------------------------------------------------------

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m?.[1]) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

type Ingest = (typeof import("../lib/server/evidence/ingest-evidence"))["ingestEvidence"];

/**
 * The bench loads its rows with SQL, not through the app: this checks a sample of them against the product.
 * For each sampled image, its components go into a CycloneDX SBOM that ingestEvidence() stores on a fresh image;
 * the component rows it writes (name_key, version, purl, purl_key, ecosystem, type) and the package summary rows
 * it links the fresh image to must be the loaded image's own (the same package_versions ids: the ingest found the
 * loaded rows under their key, none new). The loaded image's summary must also be what the product's join of its
 * components to package_versions gives.
 */
async function checkLoadedSample(raw: pg.Pool, ingest: Ingest, repositoryId: string, count: number): Promise<LoadCheck> {
  const problems: string[] = [];
  const sample = await raw.query<{ id: string }>(
    `SELECT id FROM images WHERE id IN (SELECT image_id FROM evidence_documents) ORDER BY md5(id::text) LIMIT $1`,
    [count],
  );
  const rowsOf = async (imageId: string) =>
    (
      await raw.query<{ r: string }>(
        `SELECT concat_ws(' | ', name_key, version, purl, purl_key, ecosystem, type) AS r FROM components WHERE image_id = $1 ORDER BY 1`,
        [imageId],
      )
    ).rows.map((x) => x.r);
  const summaryOf = async (imageId: string) =>
    (await raw.query<{ id: string }>(`SELECT package_version_id::text AS id FROM package_images WHERE image_id = $1 ORDER BY 1`, [imageId])).rows.map(
      (x) => x.id,
    );
  let components = 0;
  for (const { id } of sample.rows) {
    const comps = await raw.query<{ name: string; version: string | null; purl: string | null; type: string | null; licenses: string[] }>(
      `SELECT name, version, purl, type, licenses FROM components WHERE image_id = $1`,
      [id],
    );
    components += comps.rows.length;
    const joined = await raw.query<{ id: string }>(
      `SELECT DISTINCT pv.id::text AS id FROM components c JOIN package_versions pv ON pv.name_key = c.name_key AND pv.purl_key = coalesce(c.purl_key, '')
         AND pv.ecosystem = coalesce(c.ecosystem, '') AND pv.version = coalesce(c.version, '') AND pv.purl = coalesce(c.purl, '')
       WHERE c.image_id = $1 ORDER BY 1`,
      [id],
    );
    const loadedSummary = await summaryOf(id);
    if (joined.rows.map((x) => x.id).join() !== loadedSummary.join())
      problems.push(`image ${id}: the loaded package summary is not the product's join of its components`);
    const digest = `sha256:${createHash("sha256")
      .update(`bench-sample-${id}-${randomBytes(8).toString("hex")}`)
      .digest("hex")}`;
    const img = await raw.query<{ id: string }>(
      `INSERT INTO images (id, repository_id, digest, media_type, size, manifest, config_digest, os, architecture)
       VALUES (gen_random_uuid(), $1, $2, 'application/vnd.oci.image.manifest.v1+json', 1024, convert_to('{"schemaVersion":2}', 'UTF8'), $3, 'linux', 'amd64') RETURNING id`,
      [repositoryId, digest, `sha256:${createHash("sha256").update(`cfg-${digest}`).digest("hex")}`],
    );
    const fresh = img.rows[0]!.id;
    const doc = {
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      serialNumber: `urn:uuid:${randomBytes(16)
        .toString("hex")
        .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5")}`,
      version: 1,
      metadata: { component: { type: "container", name: "registry.local/fleet/sample", version: digest } },
      components: comps.rows.map((c) => ({
        type: c.type ?? "library",
        name: c.name,
        version: c.version ?? undefined,
        purl: c.purl ?? undefined,
        licenses: c.licenses.map((l) => ({ license: { id: l } })),
      })),
    };
    await ingest({ actor: { kind: "system", label: "bench" }, imageId: fresh, bytes: Buffer.from(JSON.stringify(doc)), source: "upload" });
    const [a, b] = [await rowsOf(id), await rowsOf(fresh)];
    if (a.join("\n") !== b.join("\n"))
      problems.push(
        `image ${id}: the ingest stores its ${a.length} components differently from the load (first: ${a.find((x, i) => x !== b[i]) ?? "?"} vs ${b.find((x, i) => x !== a[i]) ?? "?"})`,
      );
    if ((await summaryOf(fresh)).join() !== loadedSummary.join()) problems.push(`image ${id}: the ingest links other package_versions rows than the load`);
    // The fresh image leaves the fleet again (its rows cascade), so the ingest runs after see the loaded fleet only.
    await raw.query(`DELETE FROM images WHERE id = $1`, [fresh]);
  }
  return { images: sample.rows.length, components, problems };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) throw new Error("evidence-child needs DATABASE_URL");
  const input = JSON.parse(await readStdin()) as EvidenceChildInput;
  installStatementTimer();
  const { searchPackages } = await import("../lib/server/evidence/search-packages");
  const { ingestEvidence } = await import("../lib/server/evidence/ingest-evidence");
  const { parseEvidence } = await import("../lib/evidence/detect");
  const { parseQuery, matches } = await import("../lib/versions/range");
  const { db, disconnectDb } = await import("../lib/db");
  const raw = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  const actor = { kind: "system", label: "bench" } as const;

  try {
    await db.$queryRaw`SELECT 1`;
    await raw.query("SELECT 1");

    // -- the baseline: the app's statement, verbatim, with plain pg
    const ROWS_SQL = (col: "name_key" | "purl_key") => `
      SELECT DISTINCT c.image_id, c.version, c.ecosystem, c.purl
      FROM components c JOIN images i ON i.id = c.image_id
      WHERE c.${col} = $1 AND i.deleted_at IS NULL
      LIMIT 200000`;
    // What a search result shows of each hit: registry, repository, digest, tags on the digest, and the highest
    // stage whose signed approval's layer verified in the registry.
    const DETAILS_SQL = `
      SELECT i.id, g.name AS registry, r.name AS repository, i.digest, i.deleted_at IS NOT NULL AS deleted,
             ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = i.repository_id AND t.digest = i.digest ORDER BY t.name) AS tags,
             (SELECT st.name FROM approvals a
                JOIN stages st ON st.id = a.stage_id
                JOIN signatures s ON s.image_id = a.image_id AND s.layer_digest = a.layer_digest AND s.verdict = 'verified'
               WHERE a.image_id = i.id AND a.status = 'signed'
               ORDER BY st.position DESC LIMIT 1) AS highest_stage
      FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
      WHERE i.id = ANY($1::uuid[])`;
    const parsed = input.queries.map((q) => parseQuery(q.text));
    type Row = { image_id: string; version: string | null; ecosystem: string | null; purl: string | null };
    const rawRows = async (qi: number): Promise<Row[]> => {
      const pq = parsed[qi]!;
      const r = await raw.query<Row>(pq.purl ? ROWS_SQL("purl_key") : ROWS_SQL("name_key"), [pq.purl ? pq.purl.toLowerCase() : pq.name.toLowerCase()]);
      return r.rows;
    };
    const rawFilter = (qi: number, rows: Row[]): Set<string> => {
      const pq = parsed[qi]!;
      const ids = new Set<string>();
      for (const r of rows) {
        const eco = r.ecosystem ?? pq.ecosystem ?? "generic";
        if (pq.constraints && (!r.version || !matches(eco, r.version, pq.constraints))) continue;
        ids.add(r.image_id);
      }
      return ids;
    };
    const rawFull = async (qi: number) => {
      const ids = rawFilter(qi, await rawRows(qi));
      const d = await raw.query(DETAILS_SQL, [[...ids]]);
      return d.rows.length;
    };
    const app = (qi: number) => searchPackages({ actor, q: input.queries[qi]!.text });

    // -- correctness: the app and the baseline agree on every query
    const checks: QueryCheck[] = [];
    for (let qi = 0; qi < input.queries.length; qi++) {
      const rows = await rawRows(qi);
      const res = await app(qi);
      checks.push({ q: qi, text: input.queries[qi]!.text, rows: rows.length, appHits: res.total, rawHits: rawFilter(qi, rows).size });
    }
    process.stdout.write(`checked ${checks.length} queries\n`);

    // -- warm-up, then measured rounds; app and raw alternate who goes first
    const order = input.queries.map((_, i) => i);
    for (let w = 0; w < input.warmupRounds; w++) {
      for (const qi of order) {
        await app(qi);
        await rawRows(qi);
        await rawFull(qi);
      }
    }
    const samples: SearchSample[] = [];
    let flip = false;
    for (let round = 0; round < input.rounds; round++) {
      for (const qi of shuffled(order, 1000 + round)) {
        const timeApp = async () => {
          const t = performance.now();
          await app(qi);
          return performance.now() - t;
        };
        const timeRaw = async () => {
          const t = performance.now();
          await rawRows(qi);
          return performance.now() - t;
        };
        const timeRawFull = async () => {
          const t = performance.now();
          await rawFull(qi);
          return performance.now() - t;
        };
        let appMs: number, rawMs: number, rawFullMs: number;
        if (flip) {
          rawMs = await timeRaw();
          rawFullMs = await timeRawFull();
          appMs = await timeApp();
        } else {
          appMs = await timeApp();
          rawMs = await timeRaw();
          rawFullMs = await timeRawFull();
        }
        flip = !flip;
        samples.push({ q: qi, appMs, rawMs, rawFullMs });
      }
      process.stdout.write(`search round ${round + 1}/${input.rounds} done\n`);
    }

    // -- where an app call spends its time
    const profiles: ProfiledCall[] = [];
    for (const text of input.profile) {
      const c = await captured(() => searchPackages({ actor, q: text }));
      const sqlWallMs = coveredMs(c.statements);
      c.statements.sort((a, b) => a.startMs - b.startMs);
      profiles.push({ text, totalMs: c.ms, statements: c.statements, sqlWallMs, outsideSqlMs: c.ms - sqlWallMs });
    }

    // -- the loaded rows against the product's ingest (after the measurements: it adds and removes images)
    const loadCheck = await checkLoadedSample(raw, ingestEvidence, input.ingest.repositoryId, 5);
    process.stdout.write(`load check: ${loadCheck.images} images, ${loadCheck.components} components, ${loadCheck.problems.length} problems\n`);

    // -- ingest: fresh image rows, the subject names each one's manifest digest
    const ingestRuns: IngestRun[] = [];
    let sbomBytes = 0;
    let sbomComponents = 0;
    let lastDoc: Buffer | null = null;
    for (let run = 0; run < input.ingest.runs; run++) {
      const digest = `sha256:${createHash("sha256")
        .update(`bench-ingest-${run}-${randomBytes(8).toString("hex")}`)
        .digest("hex")}`;
      const img = await raw.query<{ id: string }>(
        `INSERT INTO images (id, repository_id, digest, media_type, size, manifest, config_digest, os, architecture)
         VALUES (gen_random_uuid(), $1, $2, 'application/vnd.oci.image.manifest.v1+json', 1024, convert_to('{"schemaVersion":2}', 'UTF8'), $3, 'linux', 'amd64')
         RETURNING id`,
        [input.ingest.repositoryId, digest, `sha256:${createHash("sha256").update(`cfg-${digest}`).digest("hex")}`],
      );
      const imageId = img.rows[0]!.id;
      const bytes = buildSbom({
        components: input.ingest.components,
        subjectDigest: digest,
        serial: randomBytes(16)
          .toString("hex")
          .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5"),
      });
      sbomBytes = bytes.length;
      lastDoc = bytes;
      const c = await captured(() => ingestEvidence({ actor, imageId, bytes, source: "upload" }));
      if (!c.value.created) throw new Error("ingest: the document was not created");
      const count = await raw.query<{ n: number }>(`SELECT count(*)::int AS n FROM components WHERE document_id = $1`, [c.value.document.id]);
      sbomComponents = count.rows[0]!.n;
      const sqlByKind: Record<string, { count: number; ms: number }> = {};
      for (const s of c.statements) {
        const kind = (/^\s*(\w+)/.exec(s.sql)?.[1] ?? "?").toUpperCase();
        const k = (sqlByKind[kind] ??= { count: 0, ms: 0 });
        k.count++;
        k.ms += s.ms;
      }
      ingestRuns.push({ ms: c.ms, components: sbomComponents, sqlByKind });
      process.stdout.write(`ingest run ${run + 1}/${input.ingest.runs}: ${c.ms.toFixed(0)} ms, ${sbomComponents} components\n`);
    }

    // -- parse alone, same document
    const doc =
      lastDoc ?? buildSbom({ components: input.ingest.components, subjectDigest: `sha256:${"0".repeat(64)}`, serial: "00000000-0000-4000-8000-000000000000" });
    const parseRuns: number[] = [];
    const jsonRuns: number[] = [];
    let parsedComponents = 0;
    for (let i = 0; i < input.ingest.parseRuns; i++) {
      let t = performance.now();
      JSON.parse(doc.toString("utf8"));
      jsonRuns.push(performance.now() - t);
      t = performance.now();
      parsedComponents = parseEvidence(doc).components.length;
      parseRuns.push(performance.now() - t);
    }
    process.stdout.write(`parse: median ${median(parseRuns).toFixed(0)} ms over ${parseRuns.length} runs\n`);

    const out: EvidenceChildOutput = {
      search: { samples, checks, profiles },
      ingest: { bytes: sbomBytes, components: sbomComponents, runs: ingestRuns },
      parse: { bytes: doc.length, components: parsedComponents, runsMs: parseRuns, jsonParseMs: jsonRuns },
      loadCheck,
      peakRssBytes: peakRssBytes(),
    };
    await new Promise<void>((resolve, reject) => process.stdout.write(EVIDENCE_RESULT_MARKER + JSON.stringify(out) + "\n", (e) => (e ? reject(e) : resolve())));
  } finally {
    await raw.end().catch(() => {});
    await disconnectDb().catch(() => {});
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error("[evidence-child]", e);
      process.exit(1);
    },
  );
}
