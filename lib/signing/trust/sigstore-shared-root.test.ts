// Two sigstore identities importing the same trusted root (public-good, say, once as an upstream publisher's identity
// and once as our CI's team identity): the verifier names the first identity's copy of the Fulcio CA, and each
// identity must still be judged against its own SAN and OIDC issuer rules, as certificate identities over one root are.
import { createPrivateKey, sign, webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../oci/digest";
import type { Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { CERTIFICATE_ANNOTATION, verifyCosignSignatureLayer } from "../formats/cosign-cert";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "../formats/simple-signing";
import { makeCert, x509, type TestCert } from "../testing/certs";
import { judgeTrust, loadTrustMaterial } from "./judgement";
import type { TrustIdentity } from "./identities";
import { EKU } from "./x509";

const DAY = 86_400_000;
const now = new Date();
const IMAGE = `sha256:${"ef".repeat(32)}`;
const ISSUER = "https://issuer.example";
const utf8String = (s: string) => new Uint8Array([0x0c, Buffer.byteLength(s), ...Buffer.from(s)]);
const der64 = (c: TestCert) => Buffer.from(c.der).toString("base64");

async function pkcs8Pem(c: TestCert) {
  const b64 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", c.keys.privateKey)).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

async function trustedRoot(fulcio: TestCert) {
  const logKey = await makeCert({ name: "CN=log" });
  const logSpki = Buffer.from(await webcrypto.subtle.exportKey("spki", logKey.keys.publicKey));
  return {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [
      {
        baseUrl: "https://rekor.example",
        publicKey: { rawBytes: logSpki.toString("base64"), keyDetails: "PKIX_ECDSA_P256_SHA_256" },
        logId: { keyId: Buffer.from(await webcrypto.subtle.digest("SHA-256", logSpki)).toString("base64") },
      },
    ],
    certificateAuthorities: [{ uri: "https://fulcio.example", certChain: { certificates: [{ rawBytes: der64(fulcio) }] } }],
  };
}

/** A cosign layer signed by a Fulcio-style leaf for `san` (valid now, so no trusted time is needed). */
async function signedLayer(fulcio: TestCert, san: string) {
  const leaf = await makeCert({
    name: "",
    issuer: fulcio,
    notBefore: new Date(now.getTime() - DAY),
    notAfter: new Date(now.getTime() + DAY),
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: san }], true),
      new x509.ExtendedKeyUsageExtension([EKU.codeSigning]),
      new x509.Extension("1.3.6.1.4.1.57264.1.8", false, utf8String(ISSUER)),
    ],
  });
  const blob = buildSimpleSigningPayload({ dockerReference: "r.example/team/app", digest: IMAGE });
  const sig = sign("sha256", blob, { key: createPrivateKey({ key: await pkcs8Pem(leaf), format: "pem" }), dsaEncoding: "der" });
  const layer: Descriptor = {
    mediaType: MT.cosignSimpleSigning,
    digest: sha256Digest(blob),
    size: blob.byteLength,
    annotations: { [SIGNATURE_ANNOTATION]: sig.toString("base64"), [CERTIFICATE_ANNOTATION]: leaf.pem },
  };
  return { layer, blob };
}

function judge(identities: TrustIdentity[], { layer, blob }: { layer: Descriptor; blob: Buffer }) {
  const v = verifyCosignSignatureLayer({ layer, blob, imageDigest: IMAGE, trust: loadTrustMaterial(identities, now), now });
  return judgeTrust({ verification: v, repository: "team/app", identities, now });
}

describe("two sigstore identities over one trusted root", () => {
  const validity = { notBefore: new Date(now.getTime() - 30 * DAY), notAfter: new Date(now.getTime() + 365 * DAY) };

  it("verifies each identity's signer in its own role, whichever identity's copy of the CA vouched", async () => {
    const fulcio = await makeCert({ name: "CN=Fulcio", ca: true, ...validity });
    const root = await trustedRoot(fulcio);
    const identities: TrustIdentity[] = [
      { name: "upstream", kind: "sigstore", role: "publisher", scope: ["**"], san: "https://ci.example/upstream", oidcIssuer: ISSUER, sigstore: root },
      // The same root imported again (a copy of the JSON, as a second import stores it).
      { name: "our-ci", kind: "sigstore", role: "team", scope: ["**"], san: "https://ci.example/ours", oidcIssuer: ISSUER, sigstore: structuredClone(root) },
    ];
    const ours = judge(identities, await signedLayer(fulcio, "https://ci.example/ours"));
    expect(ours).toMatchObject({ verdict: "verified", role: "team", identity: "our-ci" });
    const upstream = judge(identities, await signedLayer(fulcio, "https://ci.example/upstream"));
    expect(upstream).toMatchObject({ verdict: "verified", role: "publisher", identity: "upstream" });
    // A SAN neither identity names is still refused, naming both.
    const stranger = judge(identities, await signedLayer(fulcio, "https://ci.example/stranger"));
    expect(stranger.verdict).toBe("unverified");
    expect(stranger.detail).toContain("upstream");
    expect(stranger.detail).toContain("our-ci");
  });

  it("does not lend a sigstore identity to a signer under another Fulcio CA", async () => {
    const fulcio = await makeCert({ name: "CN=Fulcio", ca: true, ...validity });
    const otherFulcio = await makeCert({ name: "CN=Other Fulcio", ca: true, ...validity });
    const identities: TrustIdentity[] = [
      {
        name: "upstream",
        kind: "sigstore",
        role: "publisher",
        scope: ["**"],
        san: "https://ci.example/*",
        oidcIssuer: ISSUER,
        sigstore: await trustedRoot(fulcio),
      },
      {
        name: "other",
        kind: "sigstore",
        role: "team",
        scope: ["**"],
        san: "https://ci.example/ours",
        oidcIssuer: ISSUER,
        sigstore: await trustedRoot(otherFulcio),
      },
    ];
    // Signed under the first CA for the SAN only "other" names: "other" (another CA) is not tried, "upstream" is.
    const r = judge(identities, await signedLayer(fulcio, "https://ci.example/ours"));
    expect(r).toMatchObject({ verdict: "verified", identity: "upstream", role: "publisher" });
    const s = judge([identities[1]!, { ...identities[0]!, san: "https://ci.example/upstream" }], await signedLayer(fulcio, "https://ci.example/ours"));
    expect(s.verdict).toBe("unverified");
    expect(s.identity).toBeNull();
  });
});
