// Test helper: a TSA whose clock is behind: it writes a genTime `lagMs` before the moment it answers. Its certificate
// (EKU timeStamping, critical) and root are valid from a month ago, so a token from the past still chains; trust
// `chainPem` as a trust identity of kind tsa. The token is otherwise a real one: it answers the request's nonce and
// message imprint, and is a CMS SignedData over a DER TSTInfo made by `openssl cms`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { DAY, makeCert, x509 } from "../../lib/signing/testing/certs";

const TST_INFO = "1.2.840.113549.1.9.16.1.4";

function token(request: Buffer, genTime: Date, dir: string, work: string, serial: number): Buffer {
  const req = pkijs.TimeStampReq.fromBER(new Uint8Array(request).buffer);
  const tst = new pkijs.TSTInfo({
    version: 1,
    policy: "1.3.6.1.4.1.57264.2",
    messageImprint: req.messageImprint,
    serialNumber: new asn1js.Integer({ value: serial }),
    genTime,
    ...(req.nonce ? { nonce: req.nonce } : {}),
  });
  writeFileSync(join(work, "tst.der"), Buffer.from(tst.toSchema().toBER(false)));
  const cms = execFileSync("openssl", [
    "cms",
    "-sign",
    "-binary",
    "-nodetach",
    "-nosmimecap",
    "-outform",
    "DER",
    "-econtent_type",
    TST_INFO,
    "-md",
    "sha256",
    "-signer",
    join(dir, "tsa.crt"),
    "-inkey",
    join(dir, "tsa.key"),
    "-in",
    join(work, "tst.der"),
  ]);
  const content = asn1js.fromBER(new Uint8Array(cms).buffer).result;
  const resp = new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.Integer({ value: 0 })] }), content] });
  return Buffer.from(resp.toBER(false));
}

export async function startBackdatingTsa({ lagMs }: { lagMs: number }) {
  const work = mkdtempSync(join(tmpdir(), "backdating-tsa-"));
  const now = Date.now();
  const validity = { notBefore: new Date(now - 30 * DAY), notAfter: new Date(now + 365 * DAY) };
  const root = await makeCert({ name: "O=Imprimatur Test, CN=Backdating TSA Root", ca: true, ...validity });
  const leaf = await makeCert({
    name: "O=Imprimatur Test, CN=Backdating TSA",
    issuer: root,
    ...validity,
    extensions: [new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.8"], true)],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", leaf.keys.privateKey)).toString("base64");
  writeFileSync(join(work, "tsa.crt"), leaf.pem);
  writeFileSync(join(work, "tsa.key"), `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`);
  const dir = work;
  let serial = 1000;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        const reply = token(Buffer.concat(chunks), new Date(Date.now() - lagMs), dir, work, ++serial);
        res.writeHead(200, { "content-type": "application/timestamp-reply", "content-length": String(reply.length) }).end(reply);
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    /** TSA certificate then root (PEM), for a trust identity of kind tsa. */
    chainPem: `${leaf.pem}\n${root.pem}`,
    async destroy() {
      await new Promise((resolve) => server.close(resolve));
      rmSync(work, { recursive: true, force: true });
    },
  };
}
