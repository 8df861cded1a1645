import pg from "pg";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startPostgres } from "../../scripts/lib/services.mjs";
import { processTreeCpuMs } from "../lib/load";
const p = await startPostgres({});
const pmPid = Number(readFileSync(join(p.dir, "postmaster.pid"), "utf8").split("\n")[0]);
const c = new pg.Client({ connectionString: p.url }); await c.connect();
await c.query(`CREATE TABLE audit_outbox (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, actor_type TEXT NOT NULL, actor_id TEXT, actor_label TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, target_digest TEXT, target TEXT, detail JSONB NOT NULL)`);
const detail = JSON.stringify({ images: ["127.0.0.1:5000/ab/app@sha256:" + "a".repeat(64), "127.0.0.1:5000/ab/app@sha256:" + "b".repeat(64)], containers: 3, denied: [], allowed: true, reason: null });
const ins = (n: number) => c.query({ name: "i", text: `INSERT INTO audit_outbox (actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail) SELECT r.a, r.b, r.c, r.d, r.e, r.f, r.g, r.h::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS r(a,b,c,d,e,f,g,h)`, values: [Array(n).fill("token"), Array(n).fill("x"), Array(n).fill("admin"), Array(n).fill("admission.review"), Array(n).fill("success"), Array(n).fill(null), Array(n).fill("namespace ab"), Array(n).fill(detail)] });
async function measure(label: string, n: number, f: () => Promise<unknown>, perOp: number) {
  for (let i = 0; i < 200; i++) await f();
  const c0 = processTreeCpuMs(pmPid)!; const t0 = Date.now();
  for (let i = 0; i < n; i++) await f();
  const c1 = processTreeCpuMs(pmPid)!;
  console.log(`${label}: ${((c1 - c0) / (n * perOp)).toFixed(3)} ms PG CPU per row, ${((Date.now() - t0) / n).toFixed(3)} ms wall per stmt`);
}
for (const sc of ["on", "off"]) {
  await c.query(`SET synchronous_commit = ${sc}`);
  await measure(`sync=${sc} select 1`, 3000, () => c.query("SELECT 1"), 1);
  await measure(`sync=${sc} insert 1`, 3000, () => ins(1), 1);
  await measure(`sync=${sc} insert 4`, 1000, () => ins(4), 4);
  await measure(`sync=${sc} insert 16`, 300, () => ins(16), 16);
}
console.log(await c.query("SHOW wal_sync_method"), (await c.query("SHOW fsync")).rows, (await c.query("SHOW shared_buffers")).rows);
await c.end(); await p.stop();
