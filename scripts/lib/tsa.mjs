// A real RFC 3161 Time Stamping Authority for tests, the e2e global setup and the demo: OpenSSL's `openssl ts -reply`
// behind a small HTTP handler on loopback. It generates its own root CA and TSA certificate (ECDSA P-256, the TSA
// with the critical timeStamping extended key usage RFC 3161 requires) on first start in `dir`.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

const MAX_QUERY = 8 * 1024;

function openssl(args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { encoding: "buffer", maxBuffer: 1024 * 1024, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args[0]} ${args[1] ?? ""} failed: ${stderr.toString("utf8").slice(0, 500) || err.message}`));
      else resolve(stdout);
    });
  });
}

async function makeCertificates(dir) {
  const p = (f) => join(dir, f);
  writeFileSync(
    p("ext.cnf"),
    [
      "[root]",
      "basicConstraints = critical, CA:true",
      "keyUsage = critical, keyCertSign, cRLSign",
      "subjectKeyIdentifier = hash",
      "[tsa]",
      "basicConstraints = critical, CA:false",
      "keyUsage = critical, digitalSignature",
      "extendedKeyUsage = critical, timeStamping",
      "subjectKeyIdentifier = hash",
      "authorityKeyIdentifier = keyid",
      "",
    ].join("\n"),
  );
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("root.key")]);
  await openssl([
    "req",
    "-new",
    "-x509",
    "-key",
    p("root.key"),
    "-subj",
    "/O=Imprimatur Test/CN=Imprimatur Test TSA Root",
    "-days",
    "3650",
    "-sha256",
    "-addext",
    "basicConstraints=critical,CA:true",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    p("root.crt"),
  ]);
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p("tsa.key")]);
  await openssl(["req", "-new", "-key", p("tsa.key"), "-subj", "/O=Imprimatur Test/CN=Imprimatur Test TSA", "-out", p("tsa.csr")]);
  await openssl([
    "x509",
    "-req",
    "-in",
    p("tsa.csr"),
    "-CA",
    p("root.crt"),
    "-CAkey",
    p("root.key"),
    "-set_serial",
    `0x${randomBytes(8).toString("hex")}`,
    "-days",
    "1825",
    "-sha256",
    "-extfile",
    p("ext.cnf"),
    "-extensions",
    "tsa",
    "-out",
    p("tsa.crt"),
  ]);
  writeFileSync(p("serial"), "01\n");
  writeFileSync(
    p("tsa.cnf"),
    [
      "[ tsa ]",
      "default_tsa = imprimatur_test",
      "[ imprimatur_test ]",
      `serial = ${p("serial")}`,
      "crypto_device = builtin",
      `signer_cert = ${p("tsa.crt")}`,
      `certs = ${p("tsa.crt")}`,
      `signer_key = ${p("tsa.key")}`,
      "signer_digest = sha256",
      "default_policy = 1.3.6.1.4.1.57264.2",
      "digests = sha256, sha384, sha512",
      "accuracy = secs:1",
      "ordering = no",
      "tsa_name = yes",
      "ess_cert_id_chain = no",
      "ess_cert_id_alg = sha256",
      "",
    ].join("\n"),
  );
}

/**
 * Starts the TSA. `url` takes `POST` with `Content-Type: application/timestamp-query` and answers
 * `application/timestamp-reply`. `rootPem` is the trust anchor; `chainPem` (TSA certificate, then root) is what a
 * Sigstore trusted root's timestampAuthorities and an Imprimatur trust identity of kind `tsa` hold. `stop()` closes
 * the listener (an outage), `start()` listens again on the same port, `destroy()` removes everything.
 */
export async function startTsa({ dir, port = 0, log = false } = {}) {
  const root = dir ?? mkdtempSync(join(tmpdir(), "imprimatur-tsa-"));
  mkdirSync(root, { recursive: true });
  if (!existsSync(join(root, "tsa.cnf"))) await makeCertificates(root);
  let seq = 0;
  const handler = async (req, res) => {
    try {
      if (req.method !== "POST") {
        res.writeHead(405, { allow: "POST" }).end();
        return;
      }
      if ((req.headers["content-type"] ?? "").split(";")[0].trim() !== "application/timestamp-query") {
        res.writeHead(415).end("expected application/timestamp-query");
        return;
      }
      const chunks = [];
      let size = 0;
      for await (const c of req) {
        size += c.length;
        if (size > MAX_QUERY) {
          res.writeHead(413).end();
          return;
        }
        chunks.push(c);
      }
      const q = join(root, `q-${process.pid}-${++seq}.tsq`);
      writeFileSync(q, Buffer.concat(chunks));
      try {
        const reply = await openssl([
          "ts",
          "-reply",
          "-config",
          join(root, "tsa.cnf"),
          "-queryfile",
          q,
          "-inkey",
          join(root, "tsa.key"),
          "-signer",
          join(root, "tsa.crt"),
        ]);
        if (log) console.log(`tsa: stamped ${size}-byte query`);
        res.writeHead(200, { "content-type": "application/timestamp-reply", "content-length": String(reply.length) }).end(reply);
      } finally {
        rmSync(q, { force: true });
      }
    } catch (e) {
      if (log) console.error(`tsa: ${e.message}`);
      if (!res.headersSent) res.writeHead(400).end("bad timestamp query");
    }
  };
  let server = null;
  let boundPort = port;
  const listen = () =>
    new Promise((resolve, reject) => {
      server = createServer((req, res) => void handler(req, res));
      server.once("error", reject);
      server.listen(boundPort, "127.0.0.1", () => {
        boundPort = server.address().port;
        resolve();
      });
    });
  await listen();
  const rootPem = readFileSync(join(root, "root.crt"), "utf8");
  const tsaPem = readFileSync(join(root, "tsa.crt"), "utf8");
  return {
    url: `http://127.0.0.1:${boundPort}/`,
    port: boundPort,
    dir: root,
    rootPem,
    tsaPem,
    chainPem: `${tsaPem.trim()}\n${rootPem.trim()}\n`,
    async start() {
      if (!server) await listen();
    },
    async stop() {
      const s = server;
      server = null;
      if (s)
        await new Promise((r) => {
          s.close(() => r());
          s.closeAllConnections?.();
        });
    },
    async destroy() {
      await this.stop();
      if (!dir) rmSync(root, { recursive: true, force: true });
    },
  };
}
