// The app side of bench/image-list.ts, in its own process so it runs the app's own code and Prisma client:
//   node --conditions=react-server --import tsx bench/image-list-child.ts  < input.json
// with DATABASE_URL set. Prints one line:  BENCH_IMAGE_LIST_RESULT {ImageListChildOutput}
//
// For every case (a query string of the images page), the page's server work, parseListImagesQuery() then
// listImages() as GET /api/v1/images calls them, and the raw SQL for that page (written by hand below: the plainest
// statement returning the rows and the columns the table shows) alternate, which one goes first alternating too,
// over rounds in shuffled orders after a warm-up round, so noise hits both. Every sample is returned, and once per
// case the two answers are compared (digests and order, total, and the shown columns).
import { performance } from "node:perf_hooks";
import pg from "pg";
import { countQueries } from "./lib/query-counter";

export const IMAGE_LIST_RESULT_MARKER = "BENCH_IMAGE_LIST_RESULT ";

export interface ImageListChildInput {
  cases: { name: string; query: string }[];
  rounds: number;
  warmupRounds: number;
}

export interface ListSample {
  c: number;
  appMs: number;
  rawMs: number;
}

export interface CaseCheck {
  c: number;
  total: number;
  rows: number;
  /** SQL statements one app call sent (the raw side sends one). */
  statements: number;
  /** Differences between the app's answer and the raw query's, empty when they agree. */
  mismatches: string[];
  /** The app refused the query (e.g. a filter this version does not have): the case is not measured. */
  refused?: string;
}

export interface ImageListChildOutput {
  samples: ListSample[];
  checks: CaseCheck[];
}

interface RawRow {
  digest: string;
  total: string;
  registry: string;
  repository: string;
  tags: string[];
  media_type: string;
  platforms: string[];
  sig_total: number;
  sig_verified: number;
  pending: number;
  stages: { stage: string; state: string; detail: string }[];
  critical: number | null;
  high: number | null;
  risks: number;
  moves: number;
  publisher: string | null;
}

/** The raw page: filters, order and page as the table's URL asks, and what each row shows, in one statement. */
export function rawPage(params: URLSearchParams): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const v = (x: unknown) => {
    values.push(x);
    return `$${values.length}`;
  };
  const w = ["i.parent_digest IS NULL"];
  const deleted = params.get("deleted") ?? "hide";
  if (deleted === "hide") w.push("i.deleted_at IS NULL");
  if (deleted === "only") w.push("i.deleted_at IS NOT NULL");
  if (params.get("registry")) w.push(`g.name = ${v(params.get("registry"))}`);
  if (params.get("repository")) w.push(`r.name ILIKE ${v(`%${params.get("repository")!.toLowerCase()}%`)}`);
  if (params.get("tag"))
    w.push(`EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = r.id AND t.digest = i.digest AND t.name ILIKE ${v(`%${params.get("tag")}%`)})`);
  const signed = params.get("signed");
  if (signed === "signed") w.push("EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id)");
  if (signed === "unsigned") w.push("NOT EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id)");
  const open =
    "f.status NOT IN ('not_affected', 'fixed', 'false_positive') AND NOT EXISTS (SELECT 1 FROM evidence_documents wd WHERE wd.id = f.document_id AND wd.withdrawn_at IS NOT NULL)";
  if (params.get("severity")) w.push(`EXISTS (SELECT 1 FROM findings f WHERE f.image_id = i.id AND f.severity = ${v(params.get("severity"))} AND ${open})`);
  const stage = params.get("stage");
  const passed = (and: string) => `EXISTS (SELECT 1 FROM stage_decisions d JOIN stages st ON st.id = d.stage_id WHERE d.image_id = i.id AND d.allowed ${and})`;
  if (stage === "none") w.push(`NOT ${passed("")}`);
  else if (stage) w.push(passed(`AND st.name = ${v(stage)}`));
  const dir = params.get("dir") === "desc" ? "DESC" : "ASC";
  const sort = params.get("sort") ?? "repository";
  const order = (i: string, g: string, r: string) =>
    sort === "seen"
      ? `${i}.last_seen_at ${dir}, ${i}.id`
      : sort === "created"
        ? `${i}.config_created ${dir} NULLS LAST, ${i}.id`
        : `${g} ${dir}, ${r} ${dir}, ${i}.first_seen_at DESC, ${i}.id`;
  const page = Number(params.get("page") ?? "1");
  // The page first (the ids of 50 rows, sorted), then what each of them shows.
  const text = `
    SELECT i.digest, p.total, p.registry, p.repository,
      ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = i.repository_id AND t.digest = i.digest ORDER BY t.name) AS tags, i.media_type,
      CASE WHEN i.platforms IS NOT NULL THEN ARRAY(SELECT (p->>'os') || '/' || (p->>'architecture') || COALESCE('/' || NULLIF(p->>'variant', ''), '') FROM jsonb_array_elements(i.platforms) p)
           WHEN COALESCE(i.os, '') <> '' THEN ARRAY[i.os || '/' || COALESCE(i.architecture, '') || COALESCE('/' || NULLIF(i.variant, ''), '')]
           ELSE ARRAY[]::text[] END AS platforms,
      (SELECT count(*) FROM signatures s WHERE s.image_id = i.id)::int AS sig_total,
      (SELECT count(*) FROM signatures s WHERE s.image_id = i.id AND s.verdict = 'verified')::int AS sig_verified,
      (SELECT count(*) FROM approvals a WHERE a.image_id = i.id AND a.status = 'signing')::int AS pending,
      (SELECT json_agg(json_build_object('stage', st.name, 'state', COALESCE(d.state, 'not approved'), 'detail', COALESCE(d.detail, 'no approval')) ORDER BY st.position)
         FROM stages st LEFT JOIN stage_decisions d ON d.image_id = i.id AND d.stage_id = st.id) AS stages,
      (SELECT count(DISTINCT f.vuln_id || ':' || f.package || ':' || coalesce(f.installed_version, ''))::int FROM findings f WHERE f.image_id = i.id AND f.severity = 'critical' AND ${open}) AS critical,
      (SELECT count(DISTINCT f.vuln_id || ':' || f.package || ':' || coalesce(f.installed_version, ''))::int FROM findings f WHERE f.image_id = i.id AND f.severity = 'high' AND ${open}) AS high,
      (SELECT count(*) FROM stage_risks sr WHERE sr.image_id = i.id)::int AS risks,
      (SELECT count(*) FROM tag_events m WHERE m.repository_id = i.repository_id AND m.from_digest IS NOT NULL AND (m.from_digest = i.digest OR m.to_digest = i.digest))::int AS moves,
      (SELECT bool_or(s.verdict = 'verified' AND s.role = 'publisher')::text FROM images b JOIN signatures s ON s.image_id = b.id
         WHERE b.digest = (convert_from(i.manifest, 'UTF8')::jsonb -> 'annotations' ->> 'org.opencontainers.image.base.digest') AND b.deleted_at IS NULL) AS publisher
    FROM (SELECT i.id, g.name AS registry, r.name AS repository, count(*) OVER () AS total
          FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
          WHERE ${w.join(" AND ")}
          ORDER BY ${order("i", "g.name", "r.name")}
          LIMIT 50 OFFSET ${v((page - 1) * 50)}) p
    JOIN images i ON i.id = p.id
    ORDER BY ${order("i", "p.registry", "p.repository")}`;
  return { text, values };
}

interface AppItem {
  digest: string;
  registry: string;
  repository: string;
  tags: string[];
  mediaType: string;
  platforms: string[];
  signatures: number;
  verifiedSignatures: number;
  pendingSignatures: number;
  stages: { stage: string; state: string }[];
  chain: { label: string; mark: string; detail: string }[];
  severities: Record<string, number> | null;
  atRisk: unknown[];
}

/** What differs between the app's page and the raw rows (digests and order first, then the shown columns). */
export function comparePage(app: { items: AppItem[]; total: number }, raw: RawRow[]): string[] {
  const out: string[] = [];
  const rawTotal = raw[0] ? Number(raw[0].total) : 0;
  if (app.total !== rawTotal) out.push(`total: app ${app.total}, raw ${rawTotal}`);
  const a = app.items.map((x) => x.digest).join(",");
  const r = raw.map((x) => x.digest).join(",");
  if (a !== r) {
    out.push(
      `digests differ (app ${app.items.length} rows, raw ${raw.length}; first difference at row ${app.items.findIndex((x, k) => x.digest !== raw[k]?.digest)})`,
    );
    return out;
  }
  app.items.forEach((x, k) => {
    const y = raw[k]!;
    const same = (what: string, p: unknown, q: unknown) =>
      JSON.stringify(p) !== JSON.stringify(q) && out.length < 10 && out.push(`row ${k} ${what}: app ${JSON.stringify(p)}, raw ${JSON.stringify(q)}`);
    same("registry/repository", [x.registry, x.repository, x.mediaType], [y.registry, y.repository, y.media_type]);
    same("tags", x.tags, y.tags);
    same("platforms", x.platforms, y.platforms);
    same("signatures", [x.signatures, x.verifiedSignatures, x.pendingSignatures], [y.sig_total, y.sig_verified, y.pending]);
    same(
      "stages",
      x.chain.filter((c) => c.label !== "publisher" && c.label !== "team").map((c) => [c.label, c.detail]),
      y.stages.map((s) => [s.stage, s.detail]),
    );
    same(
      "stage states",
      x.stages.map((s) => s.state),
      y.stages.map((s) => s.state),
    );
    same("critical/high", [x.severities?.critical ?? 0, x.severities?.high ?? 0], [y.critical ?? 0, y.high ?? 0]);
    same("at risk", x.atRisk.length, y.risks);
  });
  return out;
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let k = out.length - 1; k > 0; k--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (k + 1);
    [out[k], out[j]] = [out[j]!, out[k]!];
  }
  return out;
}

async function main(): Promise<void> {
  const input = JSON.parse(
    await new Promise<string>((res) => {
      let s = "";
      process.stdin
        .setEncoding("utf8")
        .on("data", (d: string) => (s += d))
        .on("end", () => res(s));
    }),
  ) as ImageListChildInput;
  const { listImages, parseListImagesQuery } = await import("../lib/server/images/list-images");
  const { disconnectDb } = await import("../lib/db");
  const actor = { kind: "system" as const, label: "bench image-list" };
  const raw = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await raw.connect();
  const app = async (query: string) => listImages({ actor, query: parseListImagesQuery(new URLSearchParams(query)) });
  const runRaw = async (query: string) => (await raw.query<RawRow>(rawPage(new URLSearchParams(query)))).rows;

  const checks: CaseCheck[] = [];
  const counted = countQueries();
  for (const [c, k] of input.cases.entries()) {
    try {
      const before = counted().total;
      const a = await app(k.query);
      const statements = counted().total - before;
      const r = await runRaw(k.query);
      checks.push({ c, total: a.total, rows: a.items.length, statements, mismatches: comparePage(a as unknown as { items: AppItem[]; total: number }, r) });
    } catch (e) {
      checks.push({ c, total: 0, rows: 0, statements: 0, mismatches: [], refused: (e as Error).message.slice(0, 200) });
    }
  }
  const measured = input.cases.map((_, c) => c).filter((c) => !checks[c]!.refused);
  const samples: ListSample[] = [];
  for (let round = 0; round < input.warmupRounds + input.rounds; round++) {
    for (const c of shuffled(measured, round + 1)) {
      const q = input.cases[c]!.query;
      const time = async (f: () => Promise<unknown>) => {
        const t0 = performance.now();
        await f();
        return performance.now() - t0;
      };
      let appMs: number;
      let rawMs: number;
      if ((round + c) % 2 === 0) {
        appMs = await time(() => app(q));
        rawMs = await time(() => runRaw(q));
      } else {
        rawMs = await time(() => runRaw(q));
        appMs = await time(() => app(q));
      }
      if (round >= input.warmupRounds) samples.push({ c, appMs, rawMs });
    }
  }
  await raw.end();
  await disconnectDb();
  process.stdout.write(IMAGE_LIST_RESULT_MARKER + JSON.stringify({ samples, checks } satisfies ImageListChildOutput) + "\n");
}

if (process.argv[1]?.endsWith("image-list-child.ts")) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
