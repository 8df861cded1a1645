import { createHash, webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CertificateParseError, EKU, parseCertificate, parseCertificates, summarizeCertificate, toPem, verifyChain } from "./x509";

import { ALG, DAY, makeCert, NOW, x509, type TestCert } from "../testing/certs";

async function pki() {
  const root = await makeCert({ name: "CN=Test Root, O=Imprimatur", ca: true });
  const inter = await makeCert({ name: "CN=Test Intermediate, O=Imprimatur", ca: true, issuer: root });
  const leaf = await makeCert({ name: "CN=builder, O=Imprimatur", issuer: inter, eku: [EKU.codeSigning] });
  return { root, inter, leaf };
}

const anchor = (name: string, ...certs: TestCert[]) => ({ name, certificates: certs.map((c) => c.pem) });

describe("parseCertificate / summarizeCertificate", () => {
  it("summarizes subject, issuer, serial, validity, fingerprint, SANs and the Fulcio OIDC issuer", async () => {
    const root = await makeCert({ name: "CN=Test Root, O=Imprimatur", ca: true });
    const oidc = new x509.Extension("1.3.6.1.4.1.57264.1.8", false, new Uint8Array([0x0c, 0x1b, ...Buffer.from("https://accounts.google.com")]));
    const leaf = await makeCert({
      name: "CN=sigstore",
      issuer: root,
      eku: [EKU.codeSigning],
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: "email", value: "alice@example.com" },
          { type: "url", value: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main" },
          { type: "dns", value: "builder.example.com" },
        ]),
        oidc,
      ],
    });
    const s = summarizeCertificate(leaf.pem);
    expect(s.subject).toBe("CN=sigstore");
    expect(s.issuer).toBe("CN=Test Root, O=Imprimatur");
    expect(s.serial).toMatch(/^[0-9a-f]+$/);
    expect(s.notAfter).toBe(new Date(NOW.getTime() + 365 * DAY).toISOString());
    expect(s.fingerprint).toBe(`sha256:${createHash("sha256").update(leaf.der).digest("hex")}`);
    expect(s.sans).toEqual(["alice@example.com", "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", "builder.example.com"]);
    expect(s.oidcIssuer).toBe("https://accounts.google.com");
    // DER input gives the same summary.
    expect(summarizeCertificate(leaf.der)).toEqual(s);
  });

  it("reads the legacy Fulcio issuer extension as raw bytes", async () => {
    const legacy = new x509.Extension("1.3.6.1.4.1.57264.1.1", false, new Uint8Array(Buffer.from("https://token.actions.githubusercontent.com")));
    const leaf = await makeCert({ name: "CN=legacy", extensions: [legacy] });
    expect(summarizeCertificate(leaf.pem).oidcIssuer).toBe("https://token.actions.githubusercontent.com");
  });

  it("escapes name components so a crafted value cannot pose as another attribute", async () => {
    const c = await makeCert({ name: "CN=evil\\, O=Trusted" });
    expect(summarizeCertificate(c.pem).subject).toBe("CN=evil\\, O=Trusted");
  });

  it("rejects malformed input with a CertificateParseError, never a crash", () => {
    const bad: (string | Uint8Array)[] = [
      "garbage",
      "-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----",
      "-----BEGIN CERTIFICATE-----\nAAAA",
      `-----BEGIN CERTIFICATE-----\n${Buffer.from("hello world").toString("base64")}\n-----END CERTIFICATE-----`,
      new Uint8Array([0x30, 0x82, 0xff, 0xff, 1, 2, 3]),
      new Uint8Array(0),
    ];
    for (const input of bad) expect(() => parseCertificate(input), String(input)).toThrow(CertificateParseError);
  });

  it("parses a PEM bundle and refuses one with too many certificates", async () => {
    const { root, inter } = await pki();
    expect(parseCertificates(inter.pem + root.pem).map((c) => c.subject)).toEqual(["CN=Test Intermediate, O=Imprimatur", "CN=Test Root, O=Imprimatur"]);
    expect(() => parseCertificates(root.pem.repeat(11), { max: 10 })).toThrow("11 certificates, more than the limit of 10");
  });
});

describe("verifyChain", () => {
  it("builds leaf → intermediate → root and names the anchor", async () => {
    const { root, inter, leaf } = await pki();
    const r = verifyChain({ leaf: leaf.pem, intermediates: [inter.pem], anchors: [anchor("acme roots", root)], at: NOW });
    expect(r).toMatchObject({ ok: true, anchorName: "acme roots" });
    if (r.ok) expect(r.path.map((c) => c.subject)).toEqual(["CN=builder, O=Imprimatur", "CN=Test Intermediate, O=Imprimatur", "CN=Test Root, O=Imprimatur"]);
  });

  it("accepts an intermediate as the anchor, and ignores the order of presented certificates", async () => {
    const { root, inter, leaf } = await pki();
    expect(verifyChain({ leaf: leaf.pem, intermediates: [], anchors: [anchor("intermediate", inter)], at: NOW })).toMatchObject({
      ok: true,
      anchorName: "intermediate",
    });
    expect(verifyChain({ leaf: leaf.pem, intermediates: [root.pem, inter.pem], anchors: [anchor("root", root)], at: NOW })).toMatchObject({ ok: true });
  });

  it("refuses an expired leaf, naming it and the dates", async () => {
    const { root, inter } = await pki();
    const leaf = await makeCert({ name: "CN=old", issuer: inter, notBefore: new Date("2024-01-01T00:00:00Z"), notAfter: new Date("2024-01-01T00:10:00Z") });
    const r = verifyChain({ leaf: leaf.pem, intermediates: [inter.pem], anchors: [anchor("root", root)], at: NOW });
    expect(r).toEqual({ ok: false, code: "expired", reason: `expired: CN=old expired at 2024-01-01T00:10:00.000Z, checked at ${NOW.toISOString()}` });
    // The same certificate is fine at a time inside its 10 minutes.
    expect(verifyChain({ leaf: leaf.pem, intermediates: [inter.pem], anchors: [anchor("root", root)], at: new Date("2024-01-01T00:05:00Z") })).toMatchObject({
      ok: false,
      code: "not-yet-valid",
    });
  });

  it("refuses a certificate that is not yet valid", async () => {
    const root = await makeCert({ name: "CN=Young Root", ca: true, notBefore: new Date(NOW.getTime() - DAY) });
    const leaf = await makeCert({ name: "CN=future", issuer: root, notBefore: new Date(NOW.getTime() + DAY) });
    const r = verifyChain({ leaf: leaf.pem, intermediates: [], anchors: [anchor("root", root)], at: NOW });
    expect(r).toMatchObject({ ok: false, code: "not-yet-valid" });
    if (!r.ok) expect(r.reason).toBe(`not yet valid: CN=future is valid from ${new Date(NOW.getTime() + DAY).toISOString()}, checked at ${NOW.toISOString()}`);
  });

  it("refuses a chain to an untrusted root, naming the top subject", async () => {
    const { root, inter, leaf } = await pki();
    const other = await makeCert({ name: "CN=Other Root", ca: true });
    const r = verifyChain({ leaf: leaf.pem, intermediates: [inter.pem, root.pem], anchors: [anchor("other", other)], at: NOW });
    expect(r).toEqual({ ok: false, code: "untrusted", reason: "untrusted root: CN=Test Root, O=Imprimatur is not a trusted root" });
    const noRoot = verifyChain({ leaf: leaf.pem, intermediates: [inter.pem], anchors: [], at: NOW });
    expect(noRoot).toMatchObject({ ok: false, code: "untrusted" });
    if (!noRoot.ok) expect(noRoot.reason).toContain("the chain ends at CN=Test Intermediate, O=Imprimatur, issued by CN=Test Root, O=Imprimatur");
  });

  it("refuses a chain of 50 certificates with a clear reason", async () => {
    const certs: TestCert[] = [await makeCert({ name: "CN=CA 0", ca: true })];
    for (let i = 1; i < 50; i++) certs.push(await makeCert({ name: `CN=CA ${i}`, ca: true, issuer: certs[i - 1] }));
    const leaf = certs.pop()!;
    const r = verifyChain({ leaf: leaf.pem, intermediates: certs.reverse().map((c) => c.pem), anchors: [anchor("root", certs.at(-1)!)], at: NOW });
    expect(r).toEqual({ ok: false, code: "too-long", reason: "chain of 50 certificates exceeds the limit of 10" });
  });

  it("refuses a path that grows past the limit through the anchor", async () => {
    const certs: TestCert[] = [await makeCert({ name: "CN=CA 0", ca: true })];
    for (let i = 1; i < 4; i++) certs.push(await makeCert({ name: `CN=CA ${i}`, ca: true, issuer: certs[i - 1] }));
    const leaf = await makeCert({ name: "CN=leaf", issuer: certs[3] });
    const r = verifyChain({
      leaf: leaf.pem,
      intermediates: [certs[3]!.pem, certs[2]!.pem, certs[1]!.pem],
      anchors: [anchor("root", certs[0]!)],
      at: NOW,
      maxLength: 4,
    });
    expect(r).toEqual({ ok: false, code: "too-long", reason: "chain of 5 certificates exceeds the limit of 4" });
    expect(
      verifyChain({
        leaf: leaf.pem,
        intermediates: [certs[3]!.pem, certs[2]!.pem, certs[1]!.pem],
        anchors: [anchor("root", certs[0]!)],
        at: NOW,
        maxLength: 5,
      }),
    ).toMatchObject({ ok: true });
  });

  it("refuses a certificate signed by a different key than its named issuer's", async () => {
    const { root, inter } = await pki();
    const forger = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
    const forged = await makeCert({ name: "CN=forged", issuer: inter, signingKey: forger.privateKey });
    const r = verifyChain({ leaf: forged.pem, intermediates: [inter.pem], anchors: [anchor("root", root)], at: NOW });
    expect(r).toEqual({ ok: false, code: "bad-signature", reason: "bad signature: CN=forged is not signed by the key of CN=Test Intermediate, O=Imprimatur" });
  });

  it("refuses a leaf whose signature bytes were altered", async () => {
    const { root, inter, leaf } = await pki();
    const der = Buffer.from(leaf.der);
    der[der.length - 5]! ^= 0x01;
    const r = verifyChain({ leaf: der, intermediates: [inter.pem], anchors: [anchor("root", root)], at: NOW });
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(["bad-signature", "malformed"]).toContain(r.code);
  });

  it("refuses an issuer that is not a CA or may not sign certificates", async () => {
    const root = await makeCert({ name: "CN=Root", ca: true });
    const notCa = await makeCert({ name: "CN=Not a CA", issuer: root });
    const leaf1 = await makeCert({ name: "CN=leaf1", issuer: notCa });
    expect(verifyChain({ leaf: leaf1.pem, intermediates: [notCa.pem], anchors: [anchor("root", root)], at: NOW })).toEqual({
      ok: false,
      code: "constraints",
      reason: "CN=Not a CA issued a certificate but is not a CA (basicConstraints cA is not set)",
    });
    const noSign = await makeCert({ name: "CN=No keyCertSign", ca: true, issuer: root, keyUsage: x509.KeyUsageFlags.digitalSignature });
    const leaf2 = await makeCert({ name: "CN=leaf2", issuer: noSign });
    expect(verifyChain({ leaf: leaf2.pem, intermediates: [noSign.pem], anchors: [anchor("root", root)], at: NOW })).toMatchObject({
      ok: false,
      code: "constraints",
      reason: expect.stringContaining("lacks keyCertSign"),
    });
  });

  it("requires code signing on a leaf that has an extended key usage, and accepts a leaf without one", async () => {
    const root = await makeCert({ name: "CN=Root", ca: true });
    const web = await makeCert({ name: "CN=web", issuer: root, eku: ["1.3.6.1.5.5.7.3.1"] });
    expect(verifyChain({ leaf: web.pem, intermediates: [], anchors: [anchor("root", root)], at: NOW })).toEqual({
      ok: false,
      code: "constraints",
      reason: "CN=web is not valid for code signing: its extended key usage is server auth",
    });
    const plain = await makeCert({ name: "CN=plain", issuer: root });
    expect(verifyChain({ leaf: plain.pem, intermediates: [], anchors: [anchor("root", root)], at: NOW })).toMatchObject({ ok: true });
    const tsa = await makeCert({ name: "CN=tsa", issuer: root, eku: [EKU.timeStamping] });
    expect(verifyChain({ leaf: tsa.pem, intermediates: [], anchors: [anchor("root", root)], at: NOW, leafEku: EKU.timeStamping })).toMatchObject({ ok: true });
  });

  it("honours the anchor's own trust window", async () => {
    const { root, inter, leaf } = await pki();
    const r = verifyChain({
      leaf: leaf.pem,
      intermediates: [inter.pem],
      anchors: [{ ...anchor("retired", root), validUntil: new Date(NOW.getTime() - DAY) }],
      at: NOW,
    });
    expect(r).toMatchObject({ ok: false, code: "expired", reason: expect.stringContaining('trust anchor "retired" is trusted only until') });
  });

  it("returns a malformed result for unreadable input instead of throwing", () => {
    expect(verifyChain({ leaf: "garbage", intermediates: [], anchors: [], at: NOW })).toMatchObject({ ok: false, code: "malformed" });
  });

  it("accepts a self-signed leaf pinned as its own anchor", async () => {
    const self = await makeCert({ name: "CN=alpine", eku: [EKU.codeSigning] });
    expect(verifyChain({ leaf: self.pem, intermediates: [], anchors: [anchor("pinned", self)], at: NOW })).toMatchObject({ ok: true, anchorName: "pinned" });
    expect(verifyChain({ leaf: self.pem, intermediates: [], anchors: [], at: NOW })).toEqual({
      ok: false,
      code: "untrusted",
      reason: "untrusted root: CN=alpine is not a trusted root",
    });
    expect(toPem(self.der)).toContain("-----BEGIN CERTIFICATE-----");
  });
});
