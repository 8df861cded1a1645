// Benchmark: fleet package search and evidence ingest at fleet scale.
//
//   npx tsx bench/evidence.ts                 # full scale: 10,000 images × 100 components (1,000,000 rows)
//   BENCH_SCALE=0.05 npx tsx bench/evidence.ts   # quick run (scales the number of images)
//   BENCH_SCALE=10 BENCH_SEARCH_SAMPLES=72 npx tsx bench/evidence.ts
//                                               # 100,000 images: 10,000,000 component rows (how each cost grows);
//                                               # BENCH_SEARCH_SAMPLES (default 200) = measured calls, fewer = shorter
//
//   1. load   a fresh, migrated embedded Postgres straight with SQL (INSERT … SELECT over the bench's own tables,
//             not the app): one registry, one repository per 10 images, BENCH_SCALE × 10,000 images with a tag, an
//             SBOM document and 100 components each, drawn from a pool of 2,000 packages (deb, apk, npm, maven, pypi)
//             with Zipf-like popularity; purls in the ingest's normalised spelling (normalizePurl), purl_key /
//             name_key as the ingest fills them; the package summary (package_versions / package_images) as
//             indexDocumentPackages() leaves it; some images signed and approved; keys, indexes and foreign keys of
//             components and the summary built after the rows are in; VACUUM ANALYZE (as autovacuum leaves them). The child checks a sample of 5
//             loaded images against the product (ingestEvidence() of their components on fresh images must store
//             the same rows and link the same package_versions rows).
//   2. search searchPackages() (the app, in a child process with its own Prisma client) against the raw indexed
//             query on the component rows (plain pg in the same child: the distinct (image, version, ecosystem,
//             purl) rows of the name or purl key, live images only), over a mix of queries: name only, plain
//             ranges, purl + vers ranges, Maven coordinates; popular, mid and rare packages. p50/p95/p99 of each;
//             app hits must equal the images of the raw rows in the range.
//   3. ingest ingestEvidence() of a 10,000-component CycloneDX 1.5 SBOM on fresh images; parseEvidence() alone.
//
// A benchmark, not a test: it reports figures and ratios and never fails on timing. All traffic is loopback.
// The figures go to bench/results/evidence.json.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { normalizePurl, purlSearchKey } from "../lib/evidence/purl";
import { migrate } from "../scripts/lib/migrate.mjs";
import { startPostgres, type PostgresHandle } from "../scripts/lib/services.mjs";
import type { BenchQuery, EvidenceChildInput, EvidenceChildOutput, QueryClass } from "./evidence-child";
import type { RatioResult } from "./lib/report";
import { runBenchChild } from "./lib/util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS = join(ROOT, "bench", "results");
const FULL_IMAGES = 10_000;
const IMAGES_PER_REPOSITORY = 10;
const COMPONENTS_PER_IMAGE = 100;
/** Measured search calls: rounds × queries ≈ 200. */
const TARGET_SEARCH_SAMPLES = 200;
const INGEST_RUNS = 5;
const INGEST_COMPONENTS = 10_000;
const PARSE_RUNS = 5;
const MARKER = "BENCH_EVIDENCE_RESULT ";
const GOALS = { appP95Ms: 50, appOverRaw: 3, ingestMs: 2000 };

const log = (msg: string) => process.stderr.write(`[bench evidence ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------------------------------------------------
// The package pool

export type Pool = "deb" | "apk" | "npm" | "maven" | "pypi";

export interface PoolPackage {
  p: number;
  pool: Pool;
  /** Popularity rank inside its pool: 0 is the most common. */
  rank: number;
  name: string;
  namespace: string | null;
  /** pkg:type/namespace/name, as the purl carries it (encoded). */
  purlBase: string;
  /** What the ingest stores in purl_key (lib/evidence/purl.ts's purlSearchKey of the purl). */
  purlKey: string;
  license: string;
  /** 12 versions, oldest first; an image's version index grows with its position in the repository. */
  versions: string[];
  qualifiers: string;
}

const POOL_SIZES: Record<Pool, number> = { deb: 500, apk: 300, npm: 500, maven: 400, pypi: 300 };
/** Always present in an image of that pool (a Debian image always has libc6, zlib1g, openssl …). */
const CORE: Record<Pool, number> = { deb: 12, apk: 12, npm: 5, maven: 5, pypi: 5 };
const VERSIONS = 12;

const REAL: Record<Pool, string[]> = {
  deb: [
    "openssl",
    "zlib1g",
    "libc6",
    "libssl3",
    "ca-certificates",
    "tzdata",
    "base-files",
    "bash",
    "coreutils",
    "dpkg",
    "libgcc-s1",
    "libstdc++6",
    "libc-bin",
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
    "libgmp10",
    "libidn2-0",
    "libkrb5-3",
    "libgssapi-krb5-2",
    "libldap-2.5-0",
    "libnghttp2-14",
    "libpsl5",
    "librtmp1",
    "libssh2-1",
    "libtasn1-6",
    "libunistring2",
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
    "debianutils",
    "ncurses-base",
    "libncursesw6",
    "libtinfo6",
    "libreadline8",
    "libpam0g",
    "libpam-modules",
    "libaudit1",
    "libcap2",
    "libacl1",
    "libattr1",
    "libblkid1",
    "libmount1",
    "libuuid1",
    "libdb5.3",
    "libseccomp2",
    "libp11-kit0",
    "libhogweed6",
    "libnettle8",
    "libgcrypt20",
    "libgpg-error0",
    "git",
    "openssh-client",
    "python3.11",
    "libpython3.11-minimal",
    "libpq5",
    "netbase",
    "media-types",
    "sensible-utils",
    "libjansson4",
    "libbrotli1",
    "libsasl2-2",
    "libgdbm6",
  ],
  apk: [
    "openssl",
    "musl",
    "busybox",
    "zlib",
    "libcrypto3",
    "libssl3",
    "ca-certificates-bundle",
    "alpine-baselayout",
    "alpine-keys",
    "apk-tools",
    "musl-utils",
    "scanelf",
    "libcurl",
    "curl",
    "libexpat",
    "libffi",
    "ncurses-libs",
    "readline",
    "sqlite-libs",
    "xz-libs",
    "zstd-libs",
    "brotli-libs",
    "nghttp2-libs",
    "pcre2",
    "libgcc",
    "libstdc++",
    "git",
    "openssh-client",
    "python3",
    "tzdata",
    "bash",
    "libidn2",
    "libunistring",
    "libintl",
    "gettext",
    "icu-libs",
    "libuv",
    "c-ares",
    "nodejs",
    "openjdk17-jre-headless",
    "libxml2",
    "libxslt",
    "libpq",
    "krb5-libs",
    "gnutls",
  ],
  npm: [
    "lodash",
    "debug",
    "ms",
    "semver",
    "tslib",
    "@babel/core",
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
    "underscore",
    "async",
    "glob",
    "minimatch",
    "yargs",
    "inherits",
    "safe-buffer",
    "@babel/runtime",
    "@types/node",
    "cookie",
    "send",
    "serve-static",
    "path-to-regexp",
    "jsonwebtoken",
    "ws",
    "node-fetch",
    "cross-spawn",
    "json5",
    "ansi-regex",
    "tough-cookie",
    "word-wrap",
    "@aws-sdk/client-s3",
    "@grpc/grpc-js",
    "protobufjs",
    "next",
    "webpack",
    "postcss",
  ],
  maven: [
    "org.slf4j/slf4j-api",
    "com.fasterxml.jackson.core/jackson-core",
    "com.fasterxml.jackson.core/jackson-annotations",
    "com.fasterxml.jackson.core/jackson-databind",
    "commons-io/commons-io",
    "org.springframework/spring-core",
    "org.springframework/spring-context",
    "org.springframework/spring-beans",
    "org.apache.logging.log4j/log4j-core",
    "org.apache.logging.log4j/log4j-api",
    "com.google.guava/guava",
    "org.apache.commons/commons-lang3",
    "commons-codec/commons-codec",
    "org.yaml/snakeyaml",
    "io.netty/netty-handler",
    "io.netty/netty-codec-http",
    "ch.qos.logback/logback-classic",
    "ch.qos.logback/logback-core",
    "org.apache.tomcat.embed/tomcat-embed-core",
    "com.google.protobuf/protobuf-java",
    "org.bouncycastle/bcprov-jdk18on",
    "org.springframework/spring-web",
    "org.springframework/spring-webmvc",
    "org.apache.httpcomponents/httpclient",
    "com.h2database/h2",
    "org.postgresql/postgresql",
    "com.google.code.gson/gson",
    "org.hibernate.orm/hibernate-core",
    "io.projectreactor/reactor-core",
  ],
  pypi: [
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
    "werkzeug",
    "cryptography",
    "cffi",
    "pycparser",
    "packaging",
    "attrs",
    "pydantic",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "wheel",
    "typing-extensions",
    "click",
    "protobuf",
    "grpcio",
    "sqlalchemy",
    "psycopg2-binary",
    "pillow",
    "lxml",
  ],
};

/** Real version histories for the packages the named queries look for. */
const KNOWN_VERSIONS: Record<string, string[]> = {
  "deb:openssl": [
    "1.1.1n-0+deb11u3",
    "1.1.1n-0+deb11u4",
    "1.1.1n-0+deb11u5",
    "1.1.1w-0+deb11u1",
    "3.0.9-1",
    "3.0.11-1~deb12u1",
    "3.0.11-1~deb12u2",
    "3.0.13-1~deb12u1",
    "3.0.14-1~deb12u2",
    "3.0.15-1~deb12u1",
    "3.0.16-1~deb12u1",
    "3.0.17-1~deb12u2",
  ],
  "apk:openssl": [
    "1.1.1t-r2",
    "1.1.1u-r1",
    "3.0.8-r0",
    "3.0.8-r3",
    "3.1.1-r1",
    "3.1.4-r1",
    "3.1.4-r5",
    "3.1.6-r0",
    "3.3.1-r3",
    "3.3.2-r1",
    "3.3.3-r0",
    "3.5.0-r0",
  ],
  "deb:zlib1g": [
    "1:1.2.11.dfsg-2+deb11u1",
    "1:1.2.11.dfsg-2+deb11u2",
    "1:1.2.11.dfsg-2+deb11u2",
    "1:1.2.13.dfsg-1",
    "1:1.2.13.dfsg-1",
    "1:1.2.13.dfsg-1+b1",
    "1:1.3.dfsg-3",
    "1:1.3.dfsg-3.1",
    "1:1.3.dfsg+really1.3.1-1",
    "1:1.3.dfsg+really1.3.1-1+b1",
    "1:1.3.dfsg+really1.3.1-1+b1",
    "1:1.3.dfsg+really1.3.1-1+b2",
  ],
  "deb:libc6": [
    "2.31-13+deb11u5",
    "2.31-13+deb11u6",
    "2.31-13+deb11u7",
    "2.31-13+deb11u10",
    "2.36-9+deb12u1",
    "2.36-9+deb12u3",
    "2.36-9+deb12u4",
    "2.36-9+deb12u7",
    "2.36-9+deb12u8",
    "2.36-9+deb12u9",
    "2.36-9+deb12u10",
    "2.41-11",
  ],
  "npm:lodash": ["3.10.1", "4.16.6", "4.17.4", "4.17.10", "4.17.11", "4.17.14", "4.17.15", "4.17.19", "4.17.20", "4.17.21", "4.17.21", "4.17.21"],
  "npm:@babel/core": ["7.12.3", "7.16.0", "7.18.6", "7.20.12", "7.21.0", "7.22.5", "7.22.20", "7.23.2", "7.24.0", "7.24.7", "7.25.2", "7.26.0"],
  "maven:log4j-core": ["2.11.1", "2.12.1", "2.13.3", "2.14.0", "2.14.1", "2.15.0", "2.16.0", "2.17.0", "2.17.1", "2.19.0", "2.20.0", "2.23.1"],
  "maven:jackson-databind": ["2.9.10.8", "2.10.5.1", "2.12.6.1", "2.12.7.1", "2.13.4.2", "2.14.2", "2.15.2", "2.15.3", "2.16.1", "2.17.0", "2.17.2", "2.18.2"],
  "maven:spring-core": ["5.2.22.RELEASE", "5.3.18", "5.3.27", "5.3.31", "6.0.9", "6.0.13", "6.1.1", "6.1.5", "6.1.12", "6.1.14", "6.2.0", "6.2.1"],
  "pypi:requests": ["2.22.0", "2.25.1", "2.26.0", "2.27.1", "2.28.1", "2.28.2", "2.31.0", "2.32.0", "2.32.2", "2.32.3", "2.32.4", "2.32.5"],
  "pypi:django": ["3.2.18", "3.2.25", "4.1.7", "4.2.1", "4.2.7", "4.2.11", "4.2.16", "5.0.3", "5.0.9", "5.1.1", "5.1.4", "5.2rc1"],
};

const WORDS = [
  "xml",
  "yaml",
  "png",
  "jpeg",
  "tiff",
  "gif",
  "font",
  "glib",
  "dbus",
  "avahi",
  "cups",
  "sasl",
  "ldap",
  "uv",
  "event",
  "uring",
  "nl",
  "mnl",
  "nftnl",
  "bpf",
  "elf",
  "dw",
  "unwind",
  "archive",
  "magic",
  "pcap",
  "usb",
  "pci",
  "drm",
  "xcb",
  "xau",
  "wayland",
  "pango",
  "cairo",
  "harfbuzz",
  "fribidi",
  "icu",
  "intl",
  "iconv",
  "gdbm",
  "lmdb",
  "snappy",
  "lz4",
  "zip",
  "grpc",
  "re2",
  "absl",
  "yajl",
  "jq",
  "onig",
  "sodium",
  "argon",
  "scrypt",
  "tls",
  "nss",
  "nspr",
  "tss",
  "tpm",
  "fido",
  "cbor",
  "hid",
  "kmod",
  "apparmor",
  "sepol",
  "mpfr",
  "mpc",
  "isl",
  "gomp",
  "atomic",
  "quad",
  "asan",
  "ubsan",
];
const NPM_WORDS = [
  "parse",
  "json",
  "stream",
  "buffer",
  "string",
  "path",
  "file",
  "http",
  "proxy",
  "agent",
  "color",
  "style",
  "config",
  "env",
  "cache",
  "queue",
  "retry",
  "token",
  "schema",
  "format",
  "date",
  "time",
  "event",
  "emitter",
  "util",
  "fast",
  "deep",
  "merge",
  "clone",
  "equal",
  "glob",
  "watch",
  "loader",
  "plugin",
  "core",
  "types",
  "mime",
  "url",
  "query",
  "form",
];
const ORGS = ["acme", "contoso", "initech", "globex", "umbrella", "hooli", "vandelay", "wayne", "stark", "tyrell", "cyberdyne", "soylent"];
const PROJECTS = ["commons", "platform", "billing", "auth", "gateway", "events", "storage", "search", "metrics", "tracing", "config", "batch"];
const MODULES = ["api", "core", "client", "server", "model", "util", "spring-boot-starter", "test-support", "codec", "persistence"];
const LICENSES: Record<Pool, string[]> = {
  deb: ["GPL-2.0-or-later", "LGPL-2.1-or-later", "BSD-3-Clause", "MIT", "GPL-3.0-or-later"],
  apk: ["MIT", "GPL-2.0-only", "BSD-2-Clause", "Apache-2.0", "Zlib"],
  npm: ["MIT", "ISC", "Apache-2.0", "BSD-3-Clause", "BSD-2-Clause"],
  maven: ["Apache-2.0", "MIT", "EPL-2.0", "BSD-3-Clause", "LGPL-2.1-only"],
  pypi: ["MIT", "Apache-2.0", "BSD-3-Clause", "PSF-2.0", "MPL-2.0"],
};

function syntheticName(pool: Pool, k: number): string {
  const w = (i: number, xs: string[]) => xs[i % xs.length]!;
  const n = Math.floor(k / 7);
  switch (pool) {
    case "deb":
      return `lib${w(k, WORDS)}${k % 3 === 0 ? "-" : ""}${(n % 9) + 1}${k % 4 === 1 ? "-dev" : ""}`;
    case "apk":
      return `${w(k * 3, WORDS)}${k % 2 ? "-libs" : ""}${n % 5 ? `${n % 5}` : ""}`;
    case "npm":
      return k % 6 === 0
        ? `@${w(k, ORGS)}/${w(k * 7, NPM_WORDS)}-${w(n, NPM_WORDS)}`
        : `${w(k, NPM_WORDS)}-${w(k * 3 + n, NPM_WORDS)}${n % 3 ? `-${n % 7}` : ""}`;
    case "maven":
      return `com.${w(k, ORGS)}.${w(n, PROJECTS)}/${w(n + k, PROJECTS)}-${w(k * 5, MODULES)}`;
    case "pypi":
      return k % 3 === 0 ? `py${w(k, WORDS)}${n % 4 || ""}` : `${w(k, NPM_WORDS)}-${w(k * 5 + n, NPM_WORDS)}${n % 3 ? n % 5 : ""}`;
  }
}

function syntheticVersions(pool: Pool, p: number): string[] {
  const major = (p % 4) + (pool === "maven" ? 1 : 0);
  const patch = p % 7;
  return Array.from({ length: VERSIONS }, (_, v) => {
    switch (pool) {
      case "deb": {
        const s = `${major}.${v}.${patch}-${(p % 3) + 1}${p % 5 === 0 ? `+deb12u${(v % 3) + 1}` : ""}`;
        return p % 9 === 0 ? `1:${s}` : s;
      }
      case "apk":
        return `${major}.${v}.${patch}-r${v % 4}`;
      case "maven":
        return `${major}.${v}.${patch}${p % 5 === 0 ? ".Final" : ""}`;
      case "pypi":
        return `${major}.${v}.${patch}${p % 11 === 0 && v === VERSIONS - 1 ? "rc1" : ""}`;
      default:
        return `${major}.${v}.${patch}`;
    }
  });
}

function purlOf(pool: Pool, full: string): { name: string; namespace: string | null; purlBase: string; qualifiers: string } {
  switch (pool) {
    case "deb":
      return { name: full, namespace: "debian", purlBase: `pkg:deb/debian/${full}`, qualifiers: "?arch=amd64&distro=debian-12" };
    case "apk":
      return { name: full, namespace: "alpine", purlBase: `pkg:apk/alpine/${full}`, qualifiers: "?arch=x86_64&distro=alpine-3.20.3" };
    case "npm": {
      if (full.startsWith("@")) {
        const [scope, bare] = full.split("/") as [string, string];
        return { name: full, namespace: scope, purlBase: `pkg:npm/${encodeURIComponent(scope)}/${bare}`, qualifiers: "" };
      }
      return { name: full, namespace: null, purlBase: `pkg:npm/${full}`, qualifiers: "" };
    }
    case "maven": {
      const [group, artifact] = full.split("/") as [string, string];
      return { name: artifact, namespace: group, purlBase: `pkg:maven/${group}/${artifact}`, qualifiers: "" };
    }
    case "pypi":
      return { name: full, namespace: null, purlBase: `pkg:pypi/${full}`, qualifiers: "" };
  }
}

export function buildPool(): PoolPackage[] {
  const out: PoolPackage[] = [];
  for (const pool of Object.keys(POOL_SIZES) as Pool[]) {
    const seen = new Set<string>();
    const names: string[] = [];
    for (const n of REAL[pool]) {
      if (!seen.has(n)) {
        seen.add(n);
        names.push(n);
      }
    }
    for (let k = 0; names.length < POOL_SIZES[pool]; k++) {
      const base = syntheticName(pool, k);
      const n = seen.has(base) ? `${base}-${k}` : base;
      if (!seen.has(n)) {
        seen.add(n);
        names.push(n);
      }
    }
    names.forEach((full, rank) => {
      const p = out.length;
      const parts = purlOf(pool, full);
      out.push({
        p,
        pool,
        rank,
        ...parts,
        purlKey: purlSearchKey(parts.purlBase) ?? decodeURIComponent(parts.purlBase).toLowerCase(),
        license: LICENSES[pool][p % LICENSES[pool].length]!,
        versions: KNOWN_VERSIONS[`${pool}:${parts.name}`] ?? syntheticVersions(pool, p),
      });
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 1. Load

export interface LoadFigures {
  /** Everything: the benchmark's helper tables (package pool, each repository's packages) and the app's tables. */
  ms: number;
  /** The app's tables alone: rows, the components' indexes and foreign keys, ANALYZE. */
  appTablesMs: number;
  steps: Record<string, number>;
  registries: number;
  repositories: number;
  images: number;
  documents: number;
  components: number;
  signatures: number;
  approvals: number;
  componentsTableMiB: number;
  componentsIndexesMiB: number;
}

export interface PackageCount {
  p: number;
  nameKey: string;
  images: number;
}

/** A uniform number in (0,1) from an integer expression, stable across runs. */
const U = (expr: string) => `(((hashint8((${expr})::bigint) & 2147483647)::float8 + 1) / 2147483649.0)`;

interface DroppedKeys {
  constraints: { table: string; name: string; def: string; contype: string }[];
  indexes: string[];
}

/** Drops the tables' keys, indexes and foreign keys (before a bulk load); restoreKeys() builds them again. */
async function dropKeys(c: pg.Client, tables: string[]): Promise<DroppedKeys> {
  const cons = await c.query<{ table: string; name: string; def: string; contype: string }>(
    `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS def, contype FROM pg_constraint
     WHERE conrelid = ANY($1::regclass[]) AND contype IN ('p', 'u', 'f')`,
    [tables],
  );
  const idx = await c.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1::name[])
     AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = ANY($1::regclass[]))`,
    [tables],
  );
  const byKind = (k: string) => cons.rows.filter((x) => x.contype === k);
  for (const f of byKind("f")) await c.query(`ALTER TABLE "${f.table}" DROP CONSTRAINT "${f.name}"`);
  for (const k of [...byKind("p"), ...byKind("u")]) await c.query(`ALTER TABLE "${k.table}" DROP CONSTRAINT "${k.name}"`);
  for (const i of idx.rows) await c.query(`DROP INDEX "${i.indexname}"`);
  return { constraints: cons.rows, indexes: idx.rows.map((i) => i.indexdef) };
}

async function restoreKeys(keys: DroppedKeys, run: (sql: string) => Promise<void>): Promise<void> {
  const byKind = (k: string) => keys.constraints.filter((x) => x.contype === k);
  for (const k of [...byKind("p"), ...byKind("u")]) await run(`ALTER TABLE "${k.table}" ADD CONSTRAINT "${k.name}" ${k.def}`);
  for (const i of keys.indexes) await run(i);
  for (const f of byKind("f")) await run(`ALTER TABLE "${f.table}" ADD CONSTRAINT "${f.name}" ${f.def}`);
}

/** Fills a freshly migrated database with the fleet (exported for experiments against the same data). */
export async function loadFleet(
  url: string,
  imageCount: number,
  pool: PoolPackage[] = buildPool(),
): Promise<{ figures: LoadFigures; counts: PackageCount[]; repositoryId: string }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const steps: Record<string, number> = {};
  const t0 = performance.now();
  const step = async (name: string, sql: string, values?: unknown[]) => {
    const t = performance.now();
    await c.query(sql, values);
    steps[name] = (steps[name] ?? 0) + (performance.now() - t);
  };
  try {
    await c.query(`SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; SET work_mem = '256MB'`);
    const repoCount = Math.ceil(imageCount / IMAGES_PER_REPOSITORY);

    // -- helper tables (temporary: gone with this session)
    await step(
      "pool",
      `CREATE TEMP TABLE bench_pool AS
       SELECT * FROM unnest($1::int[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
         AS u(p, pool, rank, name, purl_key, eco, license)`,
      [
        pool.map((x) => x.p),
        pool.map((x) => x.pool),
        pool.map((x) => x.rank),
        pool.map((x) => x.name),
        pool.map((x) => x.purlKey),
        pool.map((x) => x.pool),
        pool.map((x) => x.license),
      ],
    );
    // The purl as a scanner writes it, stored in the ingest's normalised spelling (normalizePurl, as insertComponents).
    const vs = pool.flatMap((x) =>
      x.versions.map((v, i) => {
        const written = `${x.purlBase}@${encodeURIComponent(v)}${x.qualifiers}`;
        return { p: x.p, v: i, version: v, purl: normalizePurl(written) ?? written };
      }),
    );
    await step(
      "pool",
      `CREATE TEMP TABLE bench_versions AS
       SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::text[]) AS u(p, v, version, purl)`,
      [vs.map((x) => x.p), vs.map((x) => x.v), vs.map((x) => x.version), vs.map((x) => x.purl)],
    );
    await step("pool", `CREATE INDEX ON bench_pool (pool, rank); CREATE INDEX ON bench_versions (p, v); ANALYZE bench_pool; ANALYZE bench_versions`);

    // Each repository: an OS (55 % Debian, 35 % Alpine, 10 % distroless) and an application ecosystem.
    await step(
      "repositories",
      `CREATE TEMP TABLE bench_repo AS
       SELECT r, gen_random_uuid() AS id,
              CASE WHEN h1 < 55 THEN 'deb' WHEN h1 < 90 THEN 'apk' ELSE 'none' END AS os,
              CASE WHEN h2 < 40 THEN 'npm' WHEN h2 < 70 THEN 'maven' ELSE 'pypi' END AS app
       FROM (SELECT r, (hashint8(r::bigint * 31 + 1) & 2147483647) % 100 AS h1, (hashint8(r::bigint * 31 + 2) & 2147483647) % 100 AS h2
             FROM generate_series(0, $1::int - 1) r) x`,
      [repoCount],
    );
    await step(
      "images",
      `CREATE TEMP TABLE bench_img AS
       SELECT i, i / ${IMAGES_PER_REPOSITORY} AS r, i % ${IMAGES_PER_REPOSITORY} AS j, gen_random_uuid() AS id, gen_random_uuid() AS doc_id,
              'sha256:' || encode(sha256(convert_to('bench-image-' || i, 'UTF8')), 'hex') AS digest,
              'sha256:' || encode(sha256(convert_to('bench-layer-' || (i / ${IMAGES_PER_REPOSITORY}), 'UTF8')), 'hex') AS layer
       FROM generate_series(0, $1::int - 1) i`,
      [imageCount],
    );

    // Which packages each repository's images carry: the pool's core, plus a weighted sample without
    // replacement (Efraimidis–Spirakis, weight 1/rank^1.1) of the rest. Its images share them, newer tags
    // carrying newer versions.
    await step(
      "repository packages",
      `CREATE TEMP TABLE bench_repo_pkg AS
       WITH slots AS (
         SELECT r, os AS pool, (CASE os WHEN 'deb' THEN ${CORE.deb} ELSE ${CORE.apk} END) AS core, 40 AS total FROM bench_repo WHERE os <> 'none'
         UNION ALL
         SELECT r, app, (CASE app WHEN 'npm' THEN ${CORE.npm} WHEN 'maven' THEN ${CORE.maven} ELSE ${CORE.pypi} END),
                CASE WHEN os = 'none' THEN ${COMPONENTS_PER_IMAGE} ELSE ${COMPONENTS_PER_IMAGE - 40} END FROM bench_repo
       )
       SELECT s.r, x.p, (hashint8(s.r::bigint * 7919 + x.p::bigint * 104729) & 2147483647) % 6 AS vbase
       FROM slots s CROSS JOIN LATERAL (
         (SELECT p FROM bench_pool WHERE pool = s.pool AND rank < s.core)
         UNION ALL
         (SELECT p FROM bench_pool WHERE pool = s.pool AND rank >= s.core
          ORDER BY ln(${U("s.r::bigint * 1000003 + p")}) * power((rank - s.core + 2)::float8, 1.1) DESC
          LIMIT s.total - s.core)
       ) x`,
    );
    await step("repository packages", `CREATE INDEX ON bench_repo_pkg (r); ANALYZE bench_repo; ANALYZE bench_img; ANALYZE bench_repo_pkg`);

    // -- the app's tables
    const reg = await c.query<{ id: string }>(
      `INSERT INTO registries (id, name, url, updated_at) VALUES (gen_random_uuid(), 'default', 'http://127.0.0.1:5000', now()) RETURNING id`,
    );
    const registryId = reg.rows[0]!.id;
    // svc-0000 … svc-0999 at full scale; one more digit per tenfold (lpad cuts longer text, names stay unique).
    const digits = Math.max(4, String(repoCount - 1).length);
    await step(
      "repositories",
      `INSERT INTO repositories (id, registry_id, name) SELECT id, $1, 'fleet/svc-' || lpad(r::text, ${digits}, '0') FROM bench_repo ORDER BY r`,
      [registryId],
    );
    await step(
      "images",
      // As a sync stores them: the manifest as served (6 layers), the config's labels and history.
      `INSERT INTO images (id, repository_id, digest, media_type, size, manifest, config_digest, os, architecture, first_seen_at, last_seen_at,
                           config_created, labels, history)
       SELECT img.id, repo.id, img.digest, 'application/vnd.oci.image.manifest.v1+json', 1400, m.manifest, m.config, 'linux', 'amd64',
              now() - (($1::int - img.i) * interval '1 minute'), now(), now() - (($1::int - img.i) * interval '1 minute'),
              jsonb_build_object('org.opencontainers.image.source', 'https://git.example.com/fleet/svc-' || img.r,
                                 'org.opencontainers.image.revision', md5(img.digest) || substr(md5(img.id::text), 1, 8),
                                 'org.opencontainers.image.version', '1.' || img.j, 'maintainer', 'platform-team@example.com'),
              (SELECT jsonb_agg(jsonb_build_object('created', '2026-11-01T10:00:00Z', 'empty_layer', k % 3 = 0,
                        'created_by', '/bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates curl openssl && rm -rf /var/lib/apt/lists/* # ' || k))
               FROM generate_series(1, 12) k)
       FROM bench_img img JOIN bench_repo repo ON repo.r = img.r
       CROSS JOIN LATERAL (
         SELECT 'sha256:' || encode(sha256(convert_to('bench-config-' || img.i, 'UTF8')), 'hex') AS config,
                convert_to(json_build_object(
                  'schemaVersion', 2, 'mediaType', 'application/vnd.oci.image.manifest.v1+json',
                  'config', json_build_object('mediaType', 'application/vnd.oci.image.config.v1+json', 'size', 1469,
                                              'digest', 'sha256:' || encode(sha256(convert_to('bench-config-' || img.i, 'UTF8')), 'hex')),
                  'layers', (SELECT json_agg(json_build_object('mediaType', 'application/vnd.oci.image.layer.v1.tar+gzip', 'size', 1048576 * k + img.i,
                                                               'digest', 'sha256:' || encode(sha256(convert_to('bench-layer-' || img.i || '-' || k, 'UTF8')), 'hex')))
                             FROM generate_series(1, 6) k))::text, 'UTF8') AS manifest
       ) m
       ORDER BY img.i`,
      [imageCount],
    );
    await step(
      "images",
      `INSERT INTO tags (id, repository_id, name, digest)
       SELECT gen_random_uuid(), repo.id, 'v1.' || img.j, img.digest FROM bench_img img JOIN bench_repo repo ON repo.r = img.r ORDER BY img.i`,
    );
    await step(
      "evidence documents",
      `INSERT INTO evidence_documents (id, image_id, content_digest, format, kind, source, uploaded_by, scanned_at, tool_name, tool_version,
                                       subject_digest, signature_status, signature_detail, size, raw, component_count)
       SELECT img.doc_id, img.id, 'sha256:' || encode(sha256(convert_to('bench-sbom-' || img.i, 'UTF8')), 'hex'), 'cyclonedx', 'sbom', 'upload',
              'system:bench', now(), 'syft', '1.18.1', img.digest, 'unsigned', 'not a signed envelope', 96,
              convert_to('{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}', 'UTF8'), ${COMPONENTS_PER_IMAGE}
       FROM bench_img img ORDER BY img.i`,
    );

    // Signatures on 30 % of the images, an approved (signed, verified) build stage on 20 %: searchPackages
    // loads both for every hit to work out the highest stage.
    await step(
      "signatures & approvals",
      `INSERT INTO stages (id, name, position) VALUES (gen_random_uuid(), 'build', 1), (gen_random_uuid(), 'test', 2), (gen_random_uuid(), 'prod', 3);
       INSERT INTO users (id, email, name, role, password_hash) VALUES (gen_random_uuid(), 'bench@example.com', 'Bench Reviewer', 'reviewer', 'x');
       INSERT INTO signing_keys (id, name, stage_id, algorithm, public_key_pem, fingerprint, encrypted_private_key)
         SELECT gen_random_uuid(), 'build', id, 'ecdsa-p256', '-----BEGIN PUBLIC KEY-----\\n-----END PUBLIC KEY-----', 'SHA256:bench', '\\x00'::bytea FROM stages WHERE name = 'build'`,
    );
    await step(
      "signatures & approvals",
      `INSERT INTO signatures (id, image_id, layer_digest, position, media_type, annotations, verdict, detail, key_name, key_fingerprint)
       SELECT gen_random_uuid(), img.id, 'sha256:' || encode(sha256(convert_to('bench-sig-' || img.i, 'UTF8')), 'hex'), 0,
              'application/vnd.dev.cosign.simplesigning.v1+json', '{"dev.cosignproject.cosign/signature":"MEUCIQ"}'::jsonb,
              'verified', 'verified by stage key build', 'build', 'SHA256:bench'
       FROM bench_img img WHERE img.i % 10 < 3`,
    );
    await step(
      "signatures & approvals",
      `INSERT INTO approvals (id, image_id, stage_id, approver_id, signing_key_id, comment, status, payload, signature, layer_digest, signed_at)
       SELECT gen_random_uuid(), img.id, s.id, u.id, k.id, 'lgtm', 'signed', convert_to('{"critical":{}}', 'UTF8'), 'MEUCIQ',
              'sha256:' || encode(sha256(convert_to('bench-sig-' || img.i, 'UTF8')), 'hex'), now()
       FROM bench_img img, (SELECT id FROM stages WHERE name = 'build') s, (SELECT id FROM users LIMIT 1) u, (SELECT id FROM signing_keys LIMIT 1) k
       WHERE img.i % 10 < 2`,
    );

    // -- components and the package summary: keys, indexes and foreign keys off during the load, rebuilt after
    // (as for any bulk load, and as the migration backfills the summary).
    const keys = await dropKeys(c, ["components", "package_versions", "package_images"]);
    await step(
      "components",
      `INSERT INTO components (id, document_id, image_id, name, name_key, version, purl, purl_key, type, ecosystem, licenses, layer)
       SELECT gen_random_uuid(), img.doc_id, img.id, pl.name, lower(pl.name), v.version, v.purl, pl.purl_key, 'library', pl.eco, ARRAY[pl.license], img.layer
       FROM bench_img img
       JOIN bench_repo_pkg rp ON rp.r = img.r
       JOIN bench_pool pl ON pl.p = rp.p
       JOIN bench_versions v ON v.p = rp.p AND v.v = rp.vbase + (img.j * 6) / ${IMAGES_PER_REPOSITORY}
       ORDER BY img.i, rp.p`,
    );
    // The fleet search's per-package summary, as indexDocumentPackages() leaves it after every document's ingest:
    // one package_versions row per distinct (name_key, purl_key, ecosystem, version, purl), one package_images pair
    // per (version, image). Computed from the benchmark's own tables (which packages each repository carries), not
    // by joining the component rows again; the child checks a sample against the product's join and ingest.
    await step(
      "package summary",
      `INSERT INTO package_versions (key_hash, name_key, purl_key, ecosystem, version, purl)
       SELECT imprimatur_package_key(k.name_key, k.purl_key, k.ecosystem, k.version, k.purl), k.name_key, k.purl_key, k.ecosystem, k.version, k.purl
       FROM (SELECT DISTINCT lower(pl.name) AS name_key, pl.purl_key, pl.eco AS ecosystem, v.version, v.purl
             FROM (SELECT DISTINCT rp.p, rp.vbase + (img.j * 6) / ${IMAGES_PER_REPOSITORY} AS v
                   FROM bench_img img JOIN bench_repo_pkg rp ON rp.r = img.r) u
             JOIN bench_pool pl ON pl.p = u.p JOIN bench_versions v ON v.p = u.p AND v.v = u.v) k
       ORDER BY 1`,
    );
    await step(
      "package summary",
      `CREATE TEMP TABLE bench_pv AS
       SELECT v.p, v.v, pv.id FROM bench_versions v JOIN bench_pool pl ON pl.p = v.p
       JOIN package_versions pv ON pv.name_key = lower(pl.name) AND pv.purl_key = pl.purl_key AND pv.ecosystem = pl.eco
                                AND pv.version = v.version AND pv.purl = v.purl;
       CREATE INDEX ON bench_pv (p, v); ANALYZE bench_pv`,
    );
    await step(
      "package summary",
      `INSERT INTO package_images (package_version_id, image_id)
       SELECT m.id, img.id FROM bench_img img
       JOIN bench_repo_pkg rp ON rp.r = img.r
       JOIN bench_pv m ON m.p = rp.p AND m.v = rp.vbase + (img.j * 6) / ${IMAGES_PER_REPOSITORY}`,
    );
    await restoreKeys(keys, (sql) => step("indexes", sql));
    // VACUUM, not only ANALYZE: autovacuum sets the visibility map of freshly inserted tables in production (and
    // here, some seconds after the load, at a moment no run controls, so a search measured before it reads heap
    // pages that the same search measured after it does not). Done once here, both sides read settled tables:
    // index-only scans for the raw query (components' covering name_key / purl_key indexes) and the app alike.
    await step("vacuum analyze", `VACUUM ANALYZE`);
    const ms = performance.now() - t0;

    const n = await c.query<Record<string, number>>(
      `SELECT (SELECT count(*) FROM registries)::int AS registries, (SELECT count(*) FROM repositories)::int AS repositories,
              (SELECT count(*) FROM images)::int AS images, (SELECT count(*) FROM evidence_documents)::int AS documents,
              (SELECT count(*) FROM components)::int AS components, (SELECT count(*) FROM signatures)::int AS signatures,
              (SELECT count(*) FROM approvals)::int AS approvals,
              pg_table_size('components')::float8 / 1048576 AS "componentsTableMiB", pg_indexes_size('components')::float8 / 1048576 AS "componentsIndexesMiB"`,
    );
    const counts = await c.query<PackageCount>(
      `SELECT rp.p, lower(pl.name) AS "nameKey", sum(ic.n)::int AS images
       FROM bench_repo_pkg rp JOIN bench_pool pl ON pl.p = rp.p JOIN (SELECT r, count(*) AS n FROM bench_img GROUP BY r) ic ON ic.r = rp.r
       GROUP BY rp.p, pl.name`,
    );
    const repo = await c.query<{ id: string }>(`SELECT id FROM bench_repo ORDER BY r LIMIT 1`);
    const row = n.rows[0]!;
    return {
      figures: {
        ms,
        appTablesMs: Object.entries(steps)
          .filter(([k]) => k !== "pool" && k !== "repository packages")
          .reduce((a, [, v]) => a + v, 0),
        steps,
        registries: row.registries!,
        repositories: row.repositories!,
        images: row.images!,
        documents: row.documents!,
        components: row.components!,
        signatures: row.signatures!,
        approvals: row.approvals!,
        componentsTableMiB: row.componentsTableMiB!,
        componentsIndexesMiB: row.componentsIndexesMiB!,
      },
      counts: counts.rows,
      repositoryId: repo.rows[0]!.id,
    };
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------------------
// 2. The queries

export function buildQueries(pool: PoolPackage[], counts: PackageCount[], imageCount: number): BenchQuery[] {
  const byP = new Map(pool.map((x) => [x.p, x]));
  const imagesByName = new Map<string, number>();
  for (const c of counts) imagesByName.set(c.nameKey, (imagesByName.get(c.nameKey) ?? 0) + c.images);
  const q: BenchQuery[] = [
    // popular: in (nearly) every Debian/Alpine image, or every image of an application ecosystem
    { text: "openssl", klass: "popular", form: "name" },
    { text: "openssl < 3.0.7", klass: "popular", form: "range" },
    { text: "pkg:deb/debian/openssl vers:deb/<3.0.7", klass: "popular", form: "purl-vers" },
    { text: "pkg:apk/alpine/openssl vers:apk/>=3.0.0|<3.1.4-r5", klass: "popular", form: "purl-vers" },
    { text: "zlib1g < 1:1.2.13.dfsg-1", klass: "popular", form: "range" },
    { text: "libc6 >= 2.36-9+deb12u1, < 2.36-9+deb12u4", klass: "popular", form: "range" },
    { text: "lodash", klass: "popular", form: "name" },
    { text: "lodash < 4.17.21", klass: "popular", form: "range" },
    { text: "pkg:npm/lodash vers:npm/<4.17.21", klass: "popular", form: "purl-vers" },
    { text: "pkg:pypi/requests vers:pypi/>=2.0.0|<2.31.0", klass: "popular", form: "purl-vers" },
    { text: "pkg:maven/org.apache.logging.log4j/log4j-core vers:maven/>=2.0.0|<2.17.1", klass: "popular", form: "purl-vers" },
    { text: "log4j-core >=2.0.0 <2.17.1", klass: "popular", form: "range" },
    { text: "org.apache.logging.log4j:log4j-core", klass: "popular", form: "coordinates" },
    { text: "pkg:maven/com.fasterxml.jackson.core/jackson-databind vers:maven/<2.13.4.2", klass: "popular", form: "purl-vers" },
    { text: "pkg:npm/%40babel/core vers:npm/<7.23.2", klass: "popular", form: "purl-vers" },
    { text: "django >= 4.2.0, < 4.2.16", klass: "popular", form: "range" },
    { text: "left-pad-that-nobody-uses", klass: "absent", form: "name" },
    { text: "pkg:npm/left-pad-that-nobody-uses vers:npm/<1.0.0", klass: "absent", form: "purl-vers" },
  ];
  // mid and rare: synthetic packages with a name of their own (no other ecosystem shares it)
  const unique = counts
    .filter((c) => imagesByName.get(c.nameKey) === c.images && !REAL[byP.get(c.p)!.pool].includes(byP.get(c.p)!.name))
    .map((c) => ({ ...c, pkg: byP.get(c.p)! }));
  const pools: Pool[] = ["deb", "apk", "npm", "maven", "pypi"];
  const mid: typeof unique = [];
  const target = imageCount * 0.08;
  for (let k = 0; mid.length < 10 && k < 40; k++) {
    const pool = pools[k % pools.length]!;
    const best = unique.filter((u) => u.pkg.pool === pool && !mid.includes(u)).sort((a, b) => Math.abs(a.images - target) - Math.abs(b.images - target))[0];
    if (best) mid.push(best);
  }
  const rare: typeof unique = [];
  for (let k = 0; rare.length < 8 && k < 40; k++) {
    const pool = pools[k % pools.length]!;
    const best = unique.filter((u) => u.pkg.pool === pool && !rare.includes(u) && !mid.includes(u)).sort((a, b) => a.images - b.images)[0];
    if (best) rare.push(best);
  }
  const versRange = (x: PoolPackage) => `${x.purlBase} vers:${x.pool}/>=${encodeURIComponent(x.versions[2]!)}|<${encodeURIComponent(x.versions[8]!)}`;
  mid.forEach((m, i) => {
    const x = m.pkg;
    if (i % 2 === 0) q.push({ text: `${x.name} < ${x.versions[6]}`, klass: "mid", form: "range" });
    else q.push({ text: versRange(x), klass: "mid", form: "purl-vers" });
  });
  rare.forEach((m, i) => {
    const x = m.pkg;
    if (i % 2 === 0) q.push({ text: x.name, klass: "rare", form: "name" });
    else q.push({ text: versRange(x), klass: "rare", form: "purl-vers" });
  });
  return q;
}

// ---------------------------------------------------------------------------------------------------------
// The child

function runChild(env: NodeJS.ProcessEnv, input: EvidenceChildInput): Promise<EvidenceChildOutput & { processMs: number }> {
  return runBenchChild<EvidenceChildOutput>({
    root: ROOT,
    script: join(ROOT, "bench", "evidence-child.ts"),
    env,
    marker: MARKER,
    input,
    log: (line) => log(`[child] ${line}`),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Figures

export interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function percentiles(xs: number[]): Percentiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: at(50), p95: at(95), p99: at(99), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

const median = (xs: number[]) => percentiles(xs).p50;

export interface EvidenceFigures {
  benchmark: "evidence";
  finishedAt: string;
  /** commit: HEAD when the run started; appChanges: lib/ files changed since (uncommitted), when any. */
  environment: { node: string; platform: string; cpus: number; benchScale: number; postgres: string; commit: string; appChanges: string[] };
  shape: { images: number; repositories: number; componentsPerImage: number; poolPackages: number };
  load: LoadFigures;
  search: {
    queries: number;
    samples: number;
    app: Percentiles;
    raw: Percentiles;
    rawWithDetails: Percentiles;
    /** app p50 / raw p50, app p95 / raw p95, and the median of per-call app/raw ratios. */
    ratio: { p50: number; p95: number; medianPerCall: number };
    ratioToRawWithDetails: { p50: number; p95: number };
    byClass: Record<string, { queries: number; app: Percentiles; raw: Percentiles; ratioP50: number }>;
    perQuery: {
      text: string;
      klass: QueryClass;
      form: string;
      rows: number;
      hits: number;
      appP50: number;
      rawP50: number;
      rawWithDetailsP50: number;
      ratioP50: number;
    }[];
    mismatches: { text: string; appHits: number; rawHits: number }[];
    /** One app call of each profiled query with every SQL statement it sent. */
    profiles: EvidenceChildOutput["search"]["profiles"];
  };
  ingest: {
    components: number;
    bytes: number;
    runsMs: number[];
    medianMs: number;
    maxMs: number;
    componentsPerSecond: number;
    /** Median run's SQL time by statement kind. */
    sqlByKind: Record<string, { count: number; ms: number }>;
  };
  parse: { components: number; bytes: number; runsMs: number[]; medianMs: number; minMs: number; jsonParseMedianMs: number };
  childPeakRssMiB: number;
  goals: { appP95AtMost50Ms: boolean; appAtMost3xRaw: boolean; ingestMedianAtMost2s: boolean; ingestMaxAtMost2s: boolean };
  problems: string[];
}

function summarize(
  scale: number,
  postgres: string,
  loadF: LoadFigures,
  repositories: number,
  poolSize: number,
  queries: BenchQuery[],
  out: EvidenceChildOutput,
  git: { commit: string; appChanges: string[] },
): EvidenceFigures {
  const s = out.search.samples;
  const app = s.map((x) => x.appMs);
  const raw = s.map((x) => x.rawMs);
  const rawFull = s.map((x) => x.rawFullMs);
  const P = { app: percentiles(app), raw: percentiles(raw), rawFull: percentiles(rawFull) };
  const byClass: EvidenceFigures["search"]["byClass"] = {};
  for (const klass of ["popular", "mid", "rare", "absent"] as QueryClass[]) {
    const xs = s.filter((x) => queries[x.q]!.klass === klass);
    if (!xs.length) continue;
    const a = percentiles(xs.map((x) => x.appMs));
    const r = percentiles(xs.map((x) => x.rawMs));
    byClass[klass] = { queries: queries.filter((q) => q.klass === klass).length, app: a, raw: r, ratioP50: a.p50 / r.p50 };
  }
  const perQuery = queries.map((q, qi) => {
    const xs = s.filter((x) => x.q === qi);
    const check = out.search.checks.find((c) => c.q === qi)!;
    const appP50 = median(xs.map((x) => x.appMs));
    const rawP50 = median(xs.map((x) => x.rawMs));
    return {
      text: q.text,
      klass: q.klass,
      form: q.form,
      rows: check.rows,
      hits: check.appHits,
      appP50,
      rawP50,
      rawWithDetailsP50: median(xs.map((x) => x.rawFullMs)),
      ratioP50: appP50 / rawP50,
    };
  });
  const mismatches = out.search.checks.filter((c) => c.appHits !== c.rawHits).map((c) => ({ text: c.text, appHits: c.appHits, rawHits: c.rawHits }));
  const runs = out.ingest.runs.map((r) => r.ms);
  const medianRun = [...out.ingest.runs].sort((a, b) => a.ms - b.ms)[Math.floor((out.ingest.runs.length - 1) / 2)]!;
  const problems: string[] = [];
  for (const m of mismatches) problems.push(`search "${m.text}": the app found ${m.appHits} images, the baseline's rows give ${m.rawHits}`);
  for (const r of out.ingest.runs)
    if (r.components !== INGEST_COMPONENTS) problems.push(`ingest stored ${r.components} components, expected ${INGEST_COMPONENTS}`);
  for (const p of out.loadCheck.problems) problems.push(`load check: ${p}`);
  if (!out.loadCheck.images) problems.push("load check: no loaded image was checked against the ingest");
  if (out.parse.components !== INGEST_COMPONENTS) problems.push(`parseEvidence found ${out.parse.components} components, expected ${INGEST_COMPONENTS}`);
  const expected = loadF.images * COMPONENTS_PER_IMAGE;
  if (loadF.components !== expected) problems.push(`loaded ${loadF.components} components, expected ${expected}`);
  const ingestMedian = median(runs);
  const ingestMax = Math.max(...runs);
  const ratioP95 = P.app.p95 / P.raw.p95;
  const perCall = median(s.map((x) => x.appMs / x.rawMs));
  return {
    benchmark: "evidence",
    finishedAt: new Date().toISOString(),
    environment: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: availableParallelism(), benchScale: scale, postgres, ...git },
    shape: { images: loadF.images, repositories, componentsPerImage: COMPONENTS_PER_IMAGE, poolPackages: poolSize },
    load: loadF,
    search: {
      queries: queries.length,
      samples: s.length,
      app: P.app,
      raw: P.raw,
      rawWithDetails: P.rawFull,
      ratio: { p50: P.app.p50 / P.raw.p50, p95: ratioP95, medianPerCall: perCall },
      ratioToRawWithDetails: { p50: P.app.p50 / P.rawFull.p50, p95: P.app.p95 / P.rawFull.p95 },
      byClass,
      perQuery,
      mismatches,
      profiles: out.search.profiles,
    },
    ingest: {
      components: out.ingest.components,
      bytes: out.ingest.bytes,
      runsMs: runs,
      medianMs: ingestMedian,
      maxMs: ingestMax,
      componentsPerSecond: out.ingest.components / (ingestMedian / 1000),
      sqlByKind: medianRun.sqlByKind,
    },
    parse: {
      components: out.parse.components,
      bytes: out.parse.bytes,
      runsMs: out.parse.runsMs,
      medianMs: median(out.parse.runsMs),
      minMs: Math.min(...out.parse.runsMs),
      jsonParseMedianMs: median(out.parse.jsonParseMs),
    },
    childPeakRssMiB: out.peakRssBytes / (1024 * 1024),
    goals: {
      appP95AtMost50Ms: P.app.p95 <= GOALS.appP95Ms,
      appAtMost3xRaw: ratioP95 <= GOALS.appOverRaw && P.app.p50 / P.raw.p50 <= GOALS.appOverRaw,
      ingestMedianAtMost2s: ingestMedian <= GOALS.ingestMs,
      ingestMaxAtMost2s: ingestMax <= GOALS.ingestMs,
    },
    problems,
  };
}

/** The code the figures are about: HEAD and any uncommitted change under lib/. */
function gitState(): { commit: string; appChanges: string[] } {
  const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  return { commit: git("rev-parse", "--short", "HEAD") || "unknown", appChanges: git("status", "--porcelain", "--", "lib").split("\n").filter(Boolean) };
}

const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(1)} ms`);
const x = (n: number) => `${n.toFixed(2)}×`;
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const yes = (b: boolean) => (b ? "yes" : "NO");

/** The table and the lines under it, in bench/lib/report.ts's BenchmarkReport shape (rows[0] is the header). */
export function evidenceReport(f: EvidenceFigures): {
  name: string;
  title: string;
  rows: string[][];
  details: string[];
  figures: EvidenceFigures;
  ratios: Record<string, RatioResult>;
  problems: string[];
} {
  const sr = f.search;
  const rows: string[][] = [
    ["measure", "p50", "p95", "p99", "goal", "met"],
    [
      `load ${int(f.load.images)} images × ${COMPONENTS_PER_IMAGE} = ${int(f.load.components)} components (SQL): total | app tables`,
      ms(f.load.ms),
      ms(f.load.appTablesMs),
      "",
      "",
      "",
    ],
    [
      `search: app searchPackages (${sr.samples} calls, ${sr.queries} queries)`,
      ms(sr.app.p50),
      ms(sr.app.p95),
      ms(sr.app.p99),
      `p95 ≤ ${GOALS.appP95Ms} ms`,
      yes(f.goals.appP95AtMost50Ms),
    ],
    ["search: raw SQL, same statement and rows (pg)", ms(sr.raw.p50), ms(sr.raw.p95), ms(sr.raw.p99), "", ""],
    ["search: app / raw", x(sr.ratio.p50), x(sr.ratio.p95), "", `≤ ${GOALS.appOverRaw}×`, yes(f.goals.appAtMost3xRaw)],
    ["search: raw + version filter + hit details (pg)", ms(sr.rawWithDetails.p50), ms(sr.rawWithDetails.p95), ms(sr.rawWithDetails.p99), "", ""],
    ["search: app / (raw + details)", x(sr.ratioToRawWithDetails.p50), x(sr.ratioToRawWithDetails.p95), "", "", ""],
    ...Object.entries(sr.byClass).map(([k, c]) => [
      `search (${k}, ${c.queries} queries): app | raw`,
      `${ms(c.app.p50)} | ${ms(c.raw.p50)}`,
      `${ms(c.app.p95)} | ${ms(c.raw.p95)}`,
      `${ms(c.app.p99)} | ${ms(c.raw.p99)}`,
      "",
      "",
    ]),
    [
      `ingest ${int(f.ingest.components)}-component CycloneDX 1.5 (${(f.ingest.bytes / 1e6).toFixed(1)} MB), ${f.ingest.runsMs.length} runs: median | max`,
      ms(f.ingest.medianMs),
      ms(f.ingest.maxMs),
      "",
      `≤ ${GOALS.ingestMs / 1000} s`,
      yes(f.goals.ingestMedianAtMost2s && f.goals.ingestMaxAtMost2s),
    ],
    [`parseEvidence alone (same document), ${f.parse.runsMs.length} runs: median | min`, ms(f.parse.medianMs), ms(f.parse.minMs), "", "", ""],
  ];
  const details = [
    `code: ${f.environment.commit}${f.environment.appChanges.length ? ` + uncommitted lib/ changes (${f.environment.appChanges.length})` : ""}; Postgres ${f.environment.postgres}; ${f.environment.cpus} CPUs`,
    `load steps: ${Object.entries(f.load.steps)
      .map(([k, v]) => `${k} ${ms(v)}`)
      .join(", ")}; components table ${f.load.componentsTableMiB.toFixed(0)} MiB + indexes ${f.load.componentsIndexesMiB.toFixed(0)} MiB`,
    `per-call app/raw ratio, median: ${x(sr.ratio.medianPerCall)}; JSON.parse alone of the SBOM: ${ms(f.parse.jsonParseMedianMs)}; ingest SQL (median run): ${Object.entries(
      f.ingest.sqlByKind,
    )
      .map(([k, v]) => `${k} ×${v.count} ${ms(v.ms)}`)
      .join(", ")}`,
    "",
    "per query (p50):",
    ...textLines([
      ["query", "class", "rows", "hits", "app", "raw", "raw+details", "app/raw"],
      ...sr.perQuery.map((q) => [q.text, q.klass, int(q.rows), int(q.hits), ms(q.appP50), ms(q.rawP50), ms(q.rawWithDetailsP50), x(q.ratioP50)]),
    ]),
    "",
    "where one app call spends its time (statements it sent):",
    ...sr.profiles.flatMap((p) => [
      `  "${p.text}": ${ms(p.totalMs)} total, ${p.statements.length} statements, ${ms(p.sqlWallMs)} with a statement in flight, ${ms(p.outsideSqlMs)} with none (JS)`,
      ...p.statements.map((st) => `    +${ms(st.startMs).padStart(8)} ${ms(st.ms).padStart(9)}  ${String(st.rows).padStart(6)} rows  ${st.sql.slice(0, 100)}`),
    ]),
  ];
  // Issue 17: the app's fleet search p95 over the raw indexed query on the component rows, same run, same rows.
  const ratios: Record<string, RatioResult> = {
    search_p95_vs_raw: {
      value: sr.ratio.p95,
      goal: "<= 1.0",
      raw: {
        appP95Ms: sr.app.p95,
        rawP95Ms: sr.raw.p95,
        appP50Ms: sr.app.p50,
        rawP50Ms: sr.raw.p50,
        componentRows: f.load.components,
        samples: sr.samples,
        benchScale: f.environment.benchScale,
      },
    },
  };
  return { name: "evidence", title: "Evidence: fleet package search and SBOM ingest", rows, details, figures: f, ratios, problems: f.problems };
}

function textLines(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const line = (r: string[]) =>
    "  " +
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(rows[0]!), "  " + widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)];
}

// ---------------------------------------------------------------------------------------------------------

/** BENCH_SEARCH_SAMPLES: measured search calls (default 200); fewer keep a 10,000,000-row run short. */
function searchSamples(): number {
  const n = Number(process.env.BENCH_SEARCH_SAMPLES ?? TARGET_SEARCH_SAMPLES);
  if (!Number.isFinite(n) || n < 1) throw new Error(`BENCH_SEARCH_SAMPLES must be a positive number, got ${JSON.stringify(process.env.BENCH_SEARCH_SAMPLES)}`);
  return n;
}

function benchScale(): number {
  const raw = process.env.BENCH_SCALE ?? "1";
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_SCALE must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/** Runs the benchmark and returns its report (bench/run.ts prints and writes it). */
export async function evidenceBenchmark(opts: { scale: number }): Promise<ReturnType<typeof evidenceReport>> {
  const scale = opts.scale;
  const imageCount = Math.max(IMAGES_PER_REPOSITORY, Math.round(FULL_IMAGES * scale));
  const pool = buildPool();
  const git = gitState();
  log(`${int(imageCount)} images × ${COMPONENTS_PER_IMAGE} components (BENCH_SCALE=${scale}), pool of ${int(pool.length)} packages`);
  let postgres: PostgresHandle | undefined;
  try {
    postgres = await startPostgres({});
    await migrate(postgres.url);
    const version = await (async () => {
      const c = new pg.Client({ connectionString: postgres!.url });
      await c.connect();
      try {
        return (await c.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
      } finally {
        await c.end();
      }
    })();
    log(`postgres ${version} at 127.0.0.1:${postgres.port}, migrated; loading…`);

    const loaded = await loadFleet(postgres.url, imageCount, pool);
    log(
      `load: ${int(loaded.figures.components)} components in ${ms(loaded.figures.ms)} (${Object.entries(loaded.figures.steps)
        .map(([k, v]) => `${k} ${ms(v)}`)
        .join(", ")})`,
    );

    const queries = buildQueries(pool, loaded.counts, imageCount);
    const rounds = Math.max(1, Math.round(searchSamples() / queries.length));
    const input: EvidenceChildInput = {
      queries,
      rounds,
      warmupRounds: 1,
      profile: [
        "openssl < 3.0.7",
        "pkg:maven/org.apache.logging.log4j/log4j-core vers:maven/>=2.0.0|<2.17.1",
        queries.find((q) => q.klass === "mid")?.text,
        queries.find((q) => q.klass === "rare")?.text,
      ].filter((t): t is string => Boolean(t)),
      ingest: { runs: INGEST_RUNS, components: INGEST_COMPONENTS, repositoryId: loaded.repositoryId, parseRuns: PARSE_RUNS },
    };
    log(`search: ${queries.length} queries × ${rounds} rounds, then ingest ${INGEST_RUNS} × ${int(INGEST_COMPONENTS)} components`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: postgres.url,
      IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
      IMPRIMATUR_WORKERS: "0",
    };
    delete env.REGISTRY_URL;
    delete env.REGISTRY_PULL_NAME;
    const out = await runChild(env, input);
    log(`child done in ${ms(out.processMs)}`);
    const figures = summarize(scale, version, loaded.figures, Math.ceil(imageCount / IMAGES_PER_REPOSITORY), pool.length, queries, out, git);
    return evidenceReport(figures);
  } finally {
    await postgres?.stop().catch((e: unknown) => log(`stopping postgres: ${(e as Error).message}`));
  }
}

/** Runs the benchmark, prints its table, writes bench/results/evidence.json and returns the figures. */
export async function runEvidenceBench(opts: { scale?: number; print?: boolean; write?: boolean } = {}): Promise<EvidenceFigures> {
  const report = await evidenceBenchmark({ scale: opts.scale ?? benchScale() });
  if (opts.write ?? true) {
    mkdirSync(RESULTS, { recursive: true });
    const file = join(RESULTS, `${report.name}.json`);
    writeFileSync(file, JSON.stringify(report.figures, null, 2) + "\n");
    if (opts.print ?? true) log(`written to ${relative(process.cwd(), file) || file}`);
  }
  if (opts.print ?? true) {
    console.log(`\n== ${report.title} ==\n`);
    console.log(
      textLines(report.rows)
        .map((l) => l.slice(2))
        .join("\n"),
    );
    console.log("\n" + report.details.join("\n"));
    if (report.problems.length) {
      console.error(`\nthe figures are not meaningful:`);
      for (const p of report.problems) console.error(`  - ${p}`);
    }
  }
  return report.figures;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runEvidenceBench().then(
    (f) => process.exit(f.problems.length ? 1 : 0),
    (e) => {
      console.error("bench evidence failed:", e);
      process.exit(1);
    },
  );
}
