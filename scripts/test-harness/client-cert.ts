// A client certificate as a TLS-terminating proxy would forward it, for tests of certificate authentication.
import { execFileSync } from "node:child_process";
import { createHash, createHmac, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh self-signed P-256 certificate (openssl), with its `sha256:<hex>` fingerprint of the DER. */
export function selfSignedClientCert(subject = "/CN=cluster"): { pem: string; fingerprint: string } {
  const dir = mkdtempSync(join(tmpdir(), "imp-cert-"));
  const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")];
  execFileSync("openssl", [...args, "-subj", subject, "-days", "2"], { stdio: "ignore" });
  const pem = readFileSync(join(dir, "c.pem"), "utf8");
  return { pem, fingerprint: `sha256:${createHash("sha256").update(new X509Certificate(pem).raw).digest("hex")}` };
}

/** The headers scripts/server.mjs stamps on every request (the TCP peer and its HMAC), plus `extra`. */
export function peerStamped(secret: Buffer, peer: string, extra: Record<string, string>): Headers {
  return new Headers({ "x-imprimatur-peer": peer, "x-imprimatur-peer-mac": createHmac("sha256", secret).update(peer).digest("hex"), ...extra });
}
