import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { verifyCosignLayer, type TrustedKey } from "./cosign";
import { generateP256, parsePublicKey, signP256 } from "../keys/software";
import { buildSimpleSigningPayload, parseSimpleSigningPayload, SIGNATURE_ANNOTATION } from "./simple-signing";

const fx = join(__dirname, "../../../scripts/fixtures/upstream-cosign");
const blob = (d: string) => readFileSync(join(fx, "oci-layout/blobs/sha256", d.replace("sha256:", "")));
const IMAGE = "sha256:20185a9526a2374f5af416a14a371b119e04a6e8c0f11867c07a94e1f7f32904";
const SIG_MANIFEST = "sha256:5891d3f6da2c12569d259ba57f6f6a0d4d7341063bd77956e5091c698ea2ff7d";

function fixtureLayer() {
  const parsed = parseManifest(blob(SIG_MANIFEST));
  if (parsed.kind !== "manifest") throw new Error("expected manifest");
  const layer = parsed.manifest.layers[0]!;
  return { layer, payload: blob(layer.digest) };
}

const publisher: TrustedKey = (() => {
  const key = parsePublicKey(readFileSync(join(fx, "publisher.pub"), "utf8"));
  return { name: "publisher", fingerprint: key.fingerprint, key };
})();

const other: TrustedKey = (() => {
  const key = parsePublicKey(generateP256().publicKeyPem);
  return { name: "someone-else", fingerprint: key.fingerprint, key };
})();

describe("cosign .sig layer verification", () => {
  it("verifies the upstream-signed fixture with publisher.pub and names the key", () => {
    const { layer, payload } = fixtureLayer();
    const r = verifyCosignLayer({ layer, blob: payload, imageDigest: IMAGE, trustedKeys: [other, publisher] });
    expect(r.verdict).toBe("verified");
    expect(r.key?.name).toBe("publisher");
    expect(r.dockerReference).toBe("127.0.0.1:5055/publisher/base:1.0");
    expect(r.optional).toMatchObject({ creator: "containers/image 5.26.2" });
    expect(r.checks.every((c) => c.passed)).toBe(true);
  });

  it("is not verified under another key, and says a foreign key and tampering look the same", () => {
    const { layer, payload } = fixtureLayer();
    const r = verifyCosignLayer({ layer, blob: payload, imageDigest: IMAGE, trustedKeys: [other] });
    expect(r.verdict).toBe("unverified");
    expect(r.detail).toMatch(/no trusted key verifies it/);
    expect(r.detail).toMatch(/look the same/);
  });

  it("is invalid over another digest, naming the digest in the payload", () => {
    const { layer, payload } = fixtureLayer();
    const otherDigest = sha256Digest("something else");
    const r = verifyCosignLayer({ layer, blob: payload, imageDigest: otherDigest, trustedKeys: [publisher] });
    expect(r.verdict).toBe("invalid");
    expect(r.detail).toContain(`names another digest: ${IMAGE}`);
  });

  it("is invalid when one payload byte changes under the same layer digest", () => {
    const { layer, payload } = fixtureLayer();
    const tampered = Buffer.from(payload);
    tampered[tampered.indexOf("publisher")] = "P".charCodeAt(0);
    const r = verifyCosignLayer({ layer, blob: tampered, imageDigest: IMAGE, trustedKeys: [publisher] });
    expect(r.verdict).toBe("invalid");
    expect(r.detail).toMatch(/don't match its digest/);
  });

  it("does not verify when one payload byte changes and the digest is recomputed", () => {
    const { layer, payload } = fixtureLayer();
    const tampered = Buffer.from(payload);
    tampered[tampered.indexOf("publisher")] = "P".charCodeAt(0);
    const r = verifyCosignLayer({
      layer: { ...layer, digest: sha256Digest(tampered), size: tampered.length },
      blob: tampered,
      imageDigest: IMAGE,
      trustedKeys: [publisher],
    });
    expect(r.verdict).toBe("unverified");
  });

  it("is invalid when critical.type is not a cosign container image signature", () => {
    const kp = generateP256();
    const key = parsePublicKey(kp.publicKeyPem);
    const payload = Buffer.from(
      JSON.stringify({
        critical: { identity: { "docker-reference": "r" }, image: { "docker-manifest-digest": IMAGE }, type: "atomic container signature" },
        optional: null,
      }),
    );
    const layer = {
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      digest: sha256Digest(payload),
      size: payload.length,
      annotations: { [SIGNATURE_ANNOTATION]: signP256(kp.privateKeyPem, payload).toString("base64") },
    };
    const r = verifyCosignLayer({ layer, blob: payload, imageDigest: IMAGE, trustedKeys: [{ name: "k", fingerprint: key.fingerprint, key }] });
    expect(r.verdict).toBe("invalid");
    expect(r.detail).toMatch(/critical.type/);
  });
});

describe("simple-signing payload", () => {
  it("is byte-compatible with cosign's own output for the same fields", () => {
    const real = readFileSync(join(__dirname, "../../../scripts/fixtures/cosign-simple-signing-payload.json"), "utf8").trim();
    const parsed = parseSimpleSigningPayload(Buffer.from(real));
    if ("error" in parsed) throw new Error(parsed.error);
    const rebuilt = buildSimpleSigningPayload({
      dockerReference: parsed.critical.identity["docker-reference"],
      digest: parsed.critical.image["docker-manifest-digest"],
    });
    expect(rebuilt.toString()).toBe(real);
  });

  it("refuses non-string optional values", () => {
    expect(() => buildSimpleSigningPayload({ dockerReference: "r", digest: IMAGE, optional: { n: 1 as unknown as string } })).toThrow(/string/);
  });

  it("round-trips a server signature", () => {
    const kp = generateP256();
    const payload = buildSimpleSigningPayload({ dockerReference: "reg.example/app", digest: IMAGE, optional: { "dev.imprimatur/stage": "test" } });
    const sig = signP256(kp.privateKeyPem, payload);
    const key = parsePublicKey(kp.publicKeyPem);
    const layer = {
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      digest: sha256Digest(payload),
      size: payload.length,
      annotations: { [SIGNATURE_ANNOTATION]: sig.toString("base64") },
    };
    const r = verifyCosignLayer({ layer, blob: payload, imageDigest: IMAGE, trustedKeys: [{ name: "stage-test", fingerprint: key.fingerprint, key }] });
    expect(r.verdict).toBe("verified");
    expect(r.optional).toEqual({ "dev.imprimatur/stage": "test" });
  });
});

describe("fixture sanity", () => {
  it("every fixture blob hashes to its file name", () => {
    for (const f of readdirSync(join(fx, "oci-layout/blobs/sha256"))) {
      expect(sha256Digest(blob(f))).toBe(`sha256:${f}`);
    }
  });
});
