import { expect, test } from "@playwright/test";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base, PUBLISHER_DIGEST } from "./helpers";

/** A raw HTTP GET from a chosen local address (a proxy on 127.0.0.2, or a client on 127.0.0.1). */
function get(path: string, headers: Record<string, string>, localAddress: string): Promise<{ status: number; body: string }> {
  const u = new URL(path, base());
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers, localAddress }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a client certificate forwarded by the configured proxy authenticates /verify; from anyone else it does not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "imp-e2e-cert-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "k.pem"),
      "-out",
      join(dir, "c.pem"),
      "-subj",
      "/CN=deploy-pipeline",
      "-days",
      "2",
    ],
    { stdio: "ignore" },
  );
  const add = spawnSync(
    process.execPath,
    ["--conditions=react-server", "--import", "tsx", "scripts/cli.ts", "cert", "add", "--email", "dev@example.com", "--pem-file", join(dir, "c.pem")],
    {
      env: {
        ...process.env,
        DATABASE_URL: process.env.E2E_DATABASE_URL,
        REGISTRY_URL: process.env.E2E_REGISTRY_URL,
        IMPRIMATUR_MASTER_KEY: process.env.E2E_MASTER_KEY,
      },
      encoding: "utf8",
    },
  );
  expect(add.status, add.stderr).toBe(0);
  const xfcc = { "x-forwarded-client-cert": `Cert="${encodeURIComponent(readFileSync(join(dir, "c.pem"), "utf8"))}"` };
  const host = new URL(process.env.E2E_REGISTRY_URL!).host;
  const path = `/api/v1/verify?image=${encodeURIComponent(`${host}/publisher/base@${PUBLISHER_DIGEST}`)}&stage=prod`;

  const viaProxy = await get(path, xfcc, "127.0.0.2");
  expect(viaProxy.status).toBe(200);
  expect(JSON.parse(viaProxy.body)).toMatchObject({ digest: PUBLISHER_DIGEST, stage: "prod" });

  const direct = await get(path, xfcc, "127.0.0.1");
  expect(direct.status).toBe(401);
  expect(JSON.parse(direct.body).error.message).toContain("not a trusted proxy");

  // Forging the server's own peer stamp does not help: it is replaced, and its MAC is checked.
  const forged = await get(path, { ...xfcc, "x-imprimatur-peer": "127.0.0.2", "x-imprimatur-peer-mac": "0".repeat(64) }, "127.0.0.1");
  expect(forged.status).toBe(401);
});
