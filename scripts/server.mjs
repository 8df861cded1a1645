#!/usr/bin/env node
// Production server: Next's request handler behind a plain node:http server, so that each request carries the
// TCP peer address in a header that a client cannot forge. Next itself keeps a client-supplied X-Forwarded-For,
// so route handlers could not otherwise tell a trusted proxy from anyone else. The peer header is MACed with a
// random per-process secret that route handlers (same process) verify; under plain `next start` there is no
// secret, and client-certificate headers are never trusted.
//
//   node scripts/server.mjs [-p PORT] [-H HOST]
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
