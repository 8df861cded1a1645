// The app side of bench/audit.ts, in its own process so it runs the app's own code and Prisma client:
//   node --conditions=react-server --import tsx bench/audit-child.ts < input.json
// with DATABASE_URL, IMPRIMATUR_MASTER_KEY and IMPRIMATUR_WORKERS=0 set. Prints one line:
//   BENCH_AUDIT_RESULT {AuditChildOutput}
//
// 1. pages: for each filter, listAuditEvents() (the app: fold check, filter SQL, mapping) and the same rows read by a
//    hand-written SQL statement through plain pg alternate, after a warm-up round; the first page and a page deep
//    in the trail (from a cursor).
// 2. export: exportAuditEvents() as NDJSON, the whole stream consumed, against plain pg reading the same rows in the
//    same keyset batches (no formatting): rows per second of each.
import { performance } from "node:perf_hooks";
import pg from "pg";

export const AUDIT_RESULT_MARKER = "BENCH_AUDIT_RESULT ";

export interface AuditBenchFilter {
  name: string;
  /** The API's query string. */
  qs: string;
  /** The same filter as SQL conditions for the raw baseline ($1.. = params). */
  sql: string;
  params: unknown[];
}

export interface AuditChildInput {
  filters: AuditBenchFilter[];
  rounds: number;
  pageSize: number;
  export: { from: string; to: string };
}

export interface PageSample {
  f: number;
  deep: boolean;
  appMs: number;
  rawMs: number;
  rows: number;
}

export interface AuditChildOutput {
  samples: PageSample[];
  mismatches: string[];
  export: { rows: number; bytes: number; appMs: number; rawRows: number; rawMs: number };
}

async function main() {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const input = JSON.parse(Buffer.concat(chunks).toString("utf8")) as AuditChildInput;
  const { listAuditEvents } = await import("../lib/server/audit/list-audit-events");
  const { exportAuditEvents } = await import("../lib/server/audit/export-audit-events");
  const { parseAuditQuery } = await import("../lib/server/audit/audit-filter");
  const { disconnectDb } = await import("../lib/db");
  const actor = { kind: "system" as const, label: "bench" };
  const raw = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await raw.connect();

  const rawPage = async (f: AuditBenchFilter, cursor: string | null) => {
    const params = [...f.params];
    const conds = f.sql ? [f.sql] : [];
    if (cursor) {
      params.push(cursor);
      conds.push(`seq < $${params.length}`);
    }
    params.push(input.pageSize + 1);
    const r = await raw.query(
      `SELECT seq, at, actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail, prev_hash, hash FROM audit_events ${conds.length ? `WHERE ${conds.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    );
    return r.rows.slice(0, input.pageSize).map((x) => String(x.seq));
  };
  const appPage = async (f: AuditBenchFilter, cursor: string | null) => {
    const sp = new URLSearchParams(f.qs);
    if (cursor) sp.set("cursor", cursor);
    sp.set("limit", String(input.pageSize));
    const q = parseAuditQuery(sp);
    return (await listAuditEvents({ actor, filter: q.filter, cursor: q.cursor, limit: q.limit })).events.map((e) => e.seq);
  };

  // A cursor deep in each filter's results: the 20th page.
  const deep: (string | null)[] = [];
  const mismatches: string[] = [];
  for (const f of input.filters) {
    const sp = new URLSearchParams(f.qs);
    sp.set("limit", "500");
    const q = parseAuditQuery(sp, { maxLimit: 500 });
    const first = await listAuditEvents({ actor, filter: q.filter, limit: 500 });
    const cut = first.events[Math.min(first.events.length - 1, input.pageSize * 8)];
    deep.push(cut ? cut.seq : null);
  }
  const samples: PageSample[] = [];
  for (let round = -1; round < input.rounds; round++) {
    for (let i = 0; i < input.filters.length; i++) {
      const f = input.filters[i]!;
      for (const d of [false, true]) {
        const cursor = d ? deep[i]! : null;
        if (d && !cursor) continue;
        const flip = (round + i) % 2 === 0;
        let appMs = 0;
        let rawMs = 0;
        let appRows: string[] = [];
        let rawRows: string[] = [];
        for (const which of flip ? ["app", "raw"] : ["raw", "app"]) {
          const t0 = performance.now();
          if (which === "app") {
            appRows = await appPage(f, cursor);
            appMs = performance.now() - t0;
          } else {
            rawRows = await rawPage(f, cursor);
            rawMs = performance.now() - t0;
          }
        }
        if (round === -1) {
          if (appRows.join() !== rawRows.join())
            mismatches.push(`${f.name}${d ? " (deep)" : ""}: app returned ${appRows.length} rows, raw ${rawRows.length}, or different ones`);
          continue;
        }
        samples.push({ f: i, deep: d, appMs, rawMs, rows: appRows.length });
      }
    }
  }

  // Export: the app's stream against plain pg reading the same rows in the same batches.
  const from = new Date(input.export.from);
  const to = new Date(input.export.to);
  let t0 = performance.now();
  const out = await exportAuditEvents({ actor, filter: { from, to }, format: "ndjson", now: to });
  const reader = out.stream.getReader();
  let bytes = 0;
  let rows = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    for (const b of value) if (b === 10) rows++;
  }
  const appMs = performance.now() - t0;
  t0 = performance.now();
  let after = "0";
  let rawRows = 0;
  for (;;) {
    const r = await raw.query(
      `SELECT seq, at, actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail, prev_hash, hash FROM audit_events WHERE at >= $1 AND at < $2 AND seq > $3 ORDER BY seq ASC LIMIT 2000`,
      [from, to, after],
    );
    rawRows += r.rows.length;
    if (r.rows.length < 2000) break;
    after = String(r.rows[r.rows.length - 1].seq);
  }
  const rawMs = performance.now() - t0;
  if (rows !== rawRows) mismatches.push(`export: app wrote ${rows} rows, raw read ${rawRows}`);
  await raw.end();
  await disconnectDb();
  const result: AuditChildOutput = { samples, mismatches, export: { rows, bytes, appMs, rawRows, rawMs } };
  process.stdout.write(AUDIT_RESULT_MARKER + JSON.stringify(result) + "\n");
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
