import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTsa, type TsaHandle } from "../../../scripts/lib/tsa.mjs";
import { buildTimestampRequest, extractTimestampToken, verifyTimestampToken } from "./rfc3161";
import { loadTrustMaterial } from "./judgement";

let tsa: TsaHandle;
let work: string;

async function ask(data: Uint8Array) {
  const { request, nonce } = buildTimestampRequest(data);
  const res = await fetch(tsa.url, { method: "POST", headers: { "content-type": "application/timestamp-query" }, body: new Uint8Array(request) });
  expect(res.status).toBe(200);
  return { response: Buffer.from(await res.arrayBuffer()), nonce };
}

beforeAll(async () => {
  tsa = await startTsa({});
  work = mkdtempSync(join(tmpdir(), "rfc3161-"));
});

afterAll(async () => {
  await tsa.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe("asking a real TSA (openssl ts -reply) for a token", () => {
  it("gets a token over the data that our verifier and openssl ts -verify accept, with the TSA's time", async () => {
    const data = Buffer.from("a raw ECDSA signature stands in here");
    const before = Date.now();
    const { response, nonce } = await ask(data);
    const token = extractTimestampToken(response, nonce);
    const material = loadTrustMaterial([{ name: "test-tsa", kind: "tsa", role: "stage", scope: ["**"], certificates: [tsa.chainPem] }]);
    const v = verifyTimestampToken({ token, signedData: data, tsaRoots: material.tsaRoots });
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.genTime.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(v.genTime.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    expect(v.tsa.subject).toContain("Imprimatur Test TSA");

    // OpenSSL, independently: the token (not the whole response) over the same bytes, chained to the root.
    writeFileSync(join(work, "data"), data);
    writeFileSync(join(work, "token.der"), token);
    writeFileSync(join(work, "root.pem"), tsa.rootPem);
    writeFileSync(join(work, "tsa.pem"), tsa.tsaPem);
    const out = execFileSync(
      "openssl",
      [
        "ts",
        "-verify",
        "-data",
        join(work, "data"),
        "-in",
        join(work, "token.der"),
        "-token_in",
        "-CAfile",
        join(work, "root.pem"),
        "-untrusted",
        join(work, "tsa.pem"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    ).toString();
    expect(out).toContain("Verification: OK");
    // And refuses other bytes.
    writeFileSync(join(work, "other"), "something else");
    expect(() =>
      execFileSync(
        "openssl",
        [
          "ts",
          "-verify",
          "-data",
          join(work, "other"),
          "-in",
          join(work, "token.der"),
          "-token_in",
          "-CAfile",
          join(work, "root.pem"),
          "-untrusted",
          join(work, "tsa.pem"),
        ],
        { stdio: "pipe" },
      ),
    ).toThrow();
  });

  it("refuses a response that does not answer our nonce", async () => {
    const { response } = await ask(Buffer.from("x"));
    expect(() => extractTimestampToken(response, Buffer.from("0102030405060708", "hex"))).toThrow(/nonce/);
  });

  it("refuses garbage and a token from an untrusted TSA", async () => {
    expect(() => extractTimestampToken(Buffer.from("not der"), Buffer.alloc(8))).toThrow();
    const data = Buffer.from("y");
    const { response, nonce } = await ask(data);
    const token = extractTimestampToken(response, nonce);
    const v = verifyTimestampToken({ token, signedData: data, tsaRoots: [] });
    expect(v).toMatchObject({ ok: false, failed: "chain" });
  });
});
