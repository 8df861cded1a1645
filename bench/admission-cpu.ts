// CPU per request of the admission routes, one request at a time, for one build: a steadier figure than the
// max-rate search on a shared machine (issue 17). Run it against two builds one after the other and compare each
// route with the baseline route of the same run:
//
//   BENCH_APP_DIR=/tmp/before npx tsx bench/admission-cpu.ts     # e.g. `git archive <commit>`, node_modules, a build
//   BENCH_APP_DIR=$PWD N=300 npx tsx bench/admission-cpu.ts
//
// Starts the stack as bench/admission.ts does (embedded Postgres, a registry, `next start`), pushes and syncs two
// images (neither approved, so the decision is computed by stage_decision(), the heavier path), requires stage build in
// namespace ab, then runs the baseline route, verify (two digests and a tag, round robin) and a 3-container ImageReview,
// N requests each, in three interleaved rounds, reading the CPU of the server's and the postmaster's process trees
// around each; then the statements per request from pg_stat_database. Prints the figures; writes nothing.
import pg from "pg";
import { RegistryClient } from "../lib/oci/client";
import { pushImage } from "../scripts/lib/oci-build";
import { benchImage, startAppStack } from "./admission";
import { processTreeCpuMs, runSequential, type LoadRequest } from "./lib/load";
const log = (s: string) => process.stderr.write(`[ab] ${s}\n`);
const N = Number(process.env.N ?? 400);
const stack = await startAppStack(log);
const pgc = new pg.Client({ connectionString: stack.databaseUrl });
try {
  await pgc.connect();
  const admin = stack.token("admin@example.com");
  const host = new URL(stack.registryUrl).host;
  const client = new RegistryClient({ url: stack.registryUrl, timeoutMs: 30_000 });
  const imgs = [benchImage("ab/app:1"), benchImage("ab/app:2")];
  await pushImage(client, "ab/app", imgs[0]!, ["1"]);
  await pushImage(client, "ab/app", imgs[1]!, ["2"]);
  stack.cli(["sync"]);
  const ns = await stack.api("PUT", "/api/v1/admission/namespaces", admin, { namespace: "ab", stage: "build" });
  if (ns.status !== 200) throw new Error(`ns ${ns.status}`);
  const refs = [`${host}/ab/app@${imgs[0]!.digest}`, `${host}/ab/app@${imgs[1]!.digest}`, `${host}/ab/app:1`];
  const auth = { authorization: `Bearer ${admin}` };
  const ok = (s: number) => (s === 200 ? null : `HTTP ${s}`);
  const verify = (i: number): LoadRequest => ({
    method: "GET",
    path: `/api/v1/verify?image=${encodeURIComponent(refs[i % 3]!)}&stage=build`,
    headers: auth,
    label: "v",
    check: ok,
  });
  const review = (): LoadRequest => ({
    method: "POST",
    path: "/api/v1/imagereview",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({
      apiVersion: "imagepolicy.k8s.io/v1alpha1",
      kind: "ImageReview",
      spec: { containers: [refs[0], refs[1], refs[0]].map((image) => ({ image })), namespace: "ab" },
    }),
    label: "r",
    check: ok,
  });
  const base = (): LoadRequest => ({ method: "GET", path: "/api/auth/providers", label: "b", check: ok });
  const xacts = async () => Number((await pgc.query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")).rows[0].xact_commit);
  for (const [, make] of [
    ["w", verify],
    ["w", review],
    ["w", base],
  ] as const)
    await runSequential({ origin: stack.origin, n: 50, request: make });
  const sum: Record<string, { server: number; pg: number; n: number }> = {};
  for (let round = 0; round < 3; round++)
    for (const [name, make] of [
      ["baseline", base],
      ["verify", verify],
      ["imagereview(3)", review],
    ] as const) {
      const s0 = processTreeCpuMs(stack.serverPid)!,
        p0 = processTreeCpuMs(stack.postgresPid!)!;
      const r = await runSequential({ origin: stack.origin, n: N, request: make });
      const s1 = processTreeCpuMs(stack.serverPid)!,
        p1 = processTreeCpuMs(stack.postgresPid!)!;
      if (r.errors) throw new Error(`${name}: ${r.errors} errors`);
      const e = (sum[name] ??= { server: 0, pg: 0, n: 0 });
      e.server += s1 - s0;
      e.pg += p1 - p0;
      e.n += N;
    }
  await new Promise((r) => setTimeout(r, 11_000));
  // pg_stat_database is flushed by idle backends at most every 10 s; our own query is one transaction (the -1s).
  const x0 = await xacts();
  await runSequential({ origin: stack.origin, n: 200, request: verify });
  await new Promise((r) => setTimeout(r, 11_000));
  const x1 = await xacts();
  await runSequential({ origin: stack.origin, n: 200, request: review });
  await new Promise((r) => setTimeout(r, 11_000));
  const x2 = await xacts();
  for (const [k, v] of Object.entries(sum))
    log(`${k}: server ${(v.server / v.n).toFixed(2)} ms + postgres ${(v.pg / v.n).toFixed(2)} ms CPU per request (${v.n} requests)`);
  log(`statements per request: verify ${((x1 - x0 - 1) / 200).toFixed(2)}, imagereview ${((x2 - x1 - 1) / 200).toFixed(2)}`);
} finally {
  await pgc.end().catch(() => {});
  await stack.stop();
}
