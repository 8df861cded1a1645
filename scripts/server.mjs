#!/usr/bin/env node
// Production server: Next's request handler behind a plain node:http server, so that each request carries the
// TCP peer address in a header that a client cannot forge. Next itself keeps a client-supplied X-Forwarded-For,
// so route handlers could not otherwise tell a trusted proxy from anyone else. The peer header is MACed with a
// random per-process secret that route handlers (same process) verify; under plain `next start` there is no
// secret, and client-certificate headers are never trusted.
//
//   node scripts/server.mjs [-p PORT] [-H HOST]
//
// IMPRIMATUR_SERVER_PROCESSES=N (default 1) forks N processes that share the port (node:cluster). Each is a
// stateless replica like any other (sessions are signed cookies, locks and jobs live in Postgres); each stamps and
// verifies the peer header with its own secret.
import cluster from "node:cluster";
import { createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import next from "next";

const args = process.argv.slice(2);
const opt = (flag, fallback) => {
  const i = args.indexOf(flag);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const port = Number(opt("-p", process.env.PORT ?? "3000"));
const hostname = opt("-H", process.env.HOSTNAME ?? "0.0.0.0");
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const processes = Math.max(1, Math.min(64, Number(process.env.IMPRIMATUR_SERVER_PROCESSES ?? "1") || 1));

if (processes > 1 && cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  let stopping = false;
  cluster.on("exit", (worker, code) => {
    if (stopping) return;
    console.error(`[server] process ${worker.process.pid} exited (${code}); starting another`);
    cluster.fork();
  });
  const stopAll = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
    setTimeout(() => process.exit(0), 5000).unref();
    cluster.on("exit", () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.on("SIGTERM", stopAll);
  process.on("SIGINT", stopAll);
} else {
  const secret = randomBytes(32);
  globalThis.__imprimaturPeerSecret = secret;

  const app = next({ dev: false, dir: root, hostname, port });
  await app.prepare();
  const handle = app.getRequestHandler();

  const server = createServer((req, res) => {
    // Whatever the client sent under these names is dropped; only this server sets them.
    delete req.headers["x-imprimatur-peer"];
    delete req.headers["x-imprimatur-peer-mac"];
    const peer = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    req.headers["x-imprimatur-peer"] = peer;
    req.headers["x-imprimatur-peer-mac"] = createHmac("sha256", secret).update(peer).digest("hex");
    handle(req, res).catch((e) => {
      console.error("[server] request failed", e);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, hostname, () => console.log(`▲ Imprimatur ready on http://${hostname}:${port}`));

  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
