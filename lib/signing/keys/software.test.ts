import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { KeyFormatError, parsePublicKey } from "./software";
import { appendSignatureLayers } from "../formats/sig-manifest";
import { parseMasterKey, seal, SealError, unseal } from "./sealed";

describe("public keys", () => {
  it("accepts P-256, P-384, RSA-2048 and Ed25519 and rejects RSA-1024", () => {
    const pem = (k: ReturnType<typeof generateKeyPairSync>["publicKey"]) => k.export({ format: "pem", type: "spki" }).toString();
    expect(parsePublicKey(pem(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey)).algorithm).toBe("ecdsa-p256");
    expect(parsePublicKey(pem(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey)).algorithm).toBe("ecdsa-p384");
    expect(parsePublicKey(pem(generateKeyPairSync("ed25519").publicKey)).algorithm).toBe("ed25519");
    expect(parsePublicKey(pem(generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey)).algorithm).toBe("rsa");
    expect(() => parsePublicKey(pem(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey))).toThrow(KeyFormatError);
    expect(() => parsePublicKey("not a key")).toThrow(/PEM public key/);
  });
});

describe("sealed private keys", () => {
  it("round-trips and refuses the wrong master key or another row's id", () => {
    const mk = randomBytes(32);
    const sealed = seal(mk, Buffer.from("secret"), "key-1");
    expect(unseal(mk, sealed, "key-1").toString()).toBe("secret");
    expect(() => unseal(randomBytes(32), sealed, "key-1")).toThrow(SealError);
    expect(() => unseal(mk, sealed, "key-2")).toThrow(SealError);
    expect(() => parseMasterKey(undefined)).toThrow(/not set/);
    expect(() => parseMasterKey(Buffer.alloc(16).toString("base64"))).toThrow(/32 bytes/);
  });
});

describe("appending to a .sig manifest", () => {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  const layerA = {
    mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
    size: 1,
    digest: d("a"),
    annotations: { "dev.cosignproject.cosign/signature": "MEU=", "x-extra": "kept" },
  };
  const layerB = {
    mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
    size: 2,
    digest: d("b"),
    annotations: { "dev.cosignproject.cosign/signature": "MEY=" },
  };

  it("keeps existing layers exactly, appends once, and lists every layer in diff_ids", () => {
    const existing = {
      schemaVersion: 2 as const,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", size: 1, digest: d("c") },
      layers: [layerA],
    };
    const first = appendSignatureLayers({
      existing,
      existingConfig: { architecture: "", os: "", config: {}, rootfs: { type: "layers", diff_ids: [d("a")] } },
      add: [layerB, layerB],
    });
    expect(first.added).toBe(1);
    const m = JSON.parse(first.manifest.toString());
    expect(JSON.stringify(m.layers[0])).toBe(JSON.stringify(layerA));
    expect(m.layers).toHaveLength(2);
    expect(JSON.parse(first.config.toString()).rootfs.diff_ids).toEqual([d("a"), d("b")]);
    const again = appendSignatureLayers({ existing: m, existingConfig: JSON.parse(first.config.toString()), add: [layerB] });
    expect(again.added).toBe(0);
    expect(again.manifest.equals(first.manifest)).toBe(true);
  });

  it("appends a layer whose digest is present with another signature (junk under that digest is not it)", () => {
    const junk = { ...layerB, annotations: { "dev.cosignproject.cosign/signature": "anVuaw==" } };
    const existing = {
      schemaVersion: 2 as const,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", size: 1, digest: d("c") },
      layers: [junk],
    };
    const r = appendSignatureLayers({ existing, existingConfig: null, add: [layerB] });
    expect(r.added).toBe(1);
    expect(JSON.parse(r.manifest.toString()).layers).toEqual([junk, layerB]);
  });
});
