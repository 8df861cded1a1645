import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { timestampTokenCertificates, verifyTimestampToken } from "./rfc3161";
import { toPem } from "./x509";

// A real Notation 1.0 signature whose RFC 3161 token (GlobalSign TSA) covers the JWS signature bytes.
const envelope = JSON.parse(readFileSync(new URL("../testdata/notation-jws-with-rfc3161-timestamp.json", import.meta.url), "utf8")) as {
  signature: string;
  header: { "io.cncf.notary.timestampSignature": string; x5c: string[] };
};
const token = Buffer.from(envelope.header["io.cncf.notary.timestampSignature"], "base64");
const signature = Buffer.from(envelope.signature, "base64url");

// The token embeds its whole chain; the test pins its self-signed root as the trusted TSA root.
const tokenCerts = timestampTokenCertificates(token);
const root = tokenCerts.find((c) => c.subject === c.issuer)!;
const globalSign = { name: "GlobalSign Root R6", certificates: [toPem(root.der)] };
const GEN_TIME = new Date("2024-06-18T06:29:37Z");

describe("verifyTimestampToken", () => {
  it("carries the GlobalSign chain, TSA certificate first", () => {
    expect(root.subject).toBe("OU=GlobalSign Root CA - R6, O=GlobalSign, CN=GlobalSign");
    expect(tokenCerts.map((c) => c.subject)).toEqual([
      "C=BE, O=GlobalSign nv-sa, CN=Globalsign TSA for Advanced - G4 - 202311",
      "C=BE, O=GlobalSign nv-sa, CN=GlobalSign Timestamping CA - SHA384 - G4",
      "OU=GlobalSign Root CA - R6, O=GlobalSign, CN=GlobalSign",
    ]);
  });

  it("verifies a token that covers the signature and chains to a trusted TSA root", () => {
    const r = verifyTimestampToken({ token, signedData: signature, tsaRoots: [globalSign] });
    expect(r).toMatchObject({ ok: true, genTime: GEN_TIME, anchorName: "GlobalSign Root R6" });
    if (r.ok) expect(r.tsa.subject).toBe("C=BE, O=GlobalSign nv-sa, CN=Globalsign TSA for Advanced - G4 - 202311");
  });

  it("reports an untrusted TSA root but still returns the claimed genTime", () => {
    expect(verifyTimestampToken({ token, signedData: signature, tsaRoots: [] })).toMatchObject({
      ok: false,
      failed: "chain",
      reason: "TSA root not trusted: no TSA roots are configured",
      genTime: GEN_TIME,
    });
    const otherRoot = { name: "notation test root", certificates: [toPem(Buffer.from(envelope.header.x5c[0]!, "base64"))] };
    const r = verifyTimestampToken({ token, signedData: signature, tsaRoots: [otherRoot] });
    expect(r).toMatchObject({ ok: false, failed: "chain", genTime: GEN_TIME });
    if (!r.ok) expect(r.reason).toBe("TSA root not trusted: untrusted root: OU=GlobalSign Root CA - R6, O=GlobalSign, CN=GlobalSign is not a trusted root");
  });

  it("refuses a token over other data, without a time", () => {
    const other = Buffer.from(signature);
    other[0]! ^= 0xff;
    const r = verifyTimestampToken({ token, signedData: other, tsaRoots: [globalSign] });
    expect(r).toMatchObject({ ok: false, failed: "imprint" });
    if (!r.ok) {
      expect(r.reason).toMatch(/^the token covers other data: its sha256 imprint is [0-9a-f]{64}/);
      expect(r.genTime).toBeUndefined();
    }
  });

  it("refuses a token whose TSTInfo was altered (genTime moved)", () => {
    const altered = Buffer.from(token);
    const at = altered.indexOf("20240618062937Z");
    expect(at).toBeGreaterThan(0);
    altered.write("2023", at, "latin1");
    expect(verifyTimestampToken({ token: altered, signedData: signature, tsaRoots: [globalSign] })).toMatchObject({
      ok: false,
      failed: "signature",
      reason: "the TSTInfo does not match the token's signed message digest (the token was altered)",
    });
  });

  it("refuses a token whose CMS signature was altered", () => {
    const altered = Buffer.from(token);
    // The token has no unsigned attributes, so its last bytes are the SignerInfo's signature value.
    altered[altered.length - 1]! ^= 0x01;
    expect(verifyTimestampToken({ token: altered, signedData: signature, tsaRoots: [globalSign] })).toMatchObject({
      ok: false,
      failed: "signature",
      reason: expect.stringContaining("signature does not verify with the key of C=BE, O=GlobalSign nv-sa, CN=Globalsign TSA"),
    });
  });

  it("refuses a token when the TSA root is trusted only before genTime", () => {
    const r = verifyTimestampToken({ token, signedData: signature, tsaRoots: [{ ...globalSign, validUntil: new Date("2024-01-01T00:00:00Z") }] });
    expect(r).toMatchObject({ ok: false, failed: "chain", genTime: GEN_TIME, reason: expect.stringContaining("is trusted only until 2024-01-01") });
  });

  it("returns a format failure for garbage instead of throwing", () => {
    for (const bad of [new Uint8Array(0), Buffer.from("garbage"), token.subarray(0, 100), Buffer.from([0x30, 0x03, 0x06, 0x01, 0x00])]) {
      const r = verifyTimestampToken({ token: bad, signedData: signature, tsaRoots: [globalSign] });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.failed).toBe("format");
    }
  });
});
