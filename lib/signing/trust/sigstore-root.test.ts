import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateP256, parsePublicKey } from "../keys/software";
import { findKeyByHint, parseTrustedRoot, SigstoreTrustError, toSigstoreTrustMaterial, trustMaterialFromRoot } from "./sigstore-root";

const ROOT_JSON = JSON.parse(readFileSync(new URL("../testdata/sigstore-public-good-trusted-root.json", import.meta.url), "utf8")) as Record<string, unknown>;
const clone = () => structuredClone(ROOT_JSON) as Record<string, any>;

function problemsOf(json: unknown): string[] {
  try {
    parseTrustedRoot(json);
  } catch (e) {
    expect(e).toBeInstanceOf(SigstoreTrustError);
    expect((e as SigstoreTrustError).code).toBe("INVALID_TRUST_MATERIAL");
    return (e as SigstoreTrustError).problems;
  }
  throw new Error("expected parseTrustedRoot to throw");
}

describe("parseTrustedRoot", () => {
  it("reads the public-good root: Rekor and CT log keys with their log IDs, Fulcio and TSA chains as PEM", () => {
    const root = parseTrustedRoot(ROOT_JSON);
    expect(root.rekorKeys).toHaveLength(2);
    // Rekor's log ID is the SHA-256 of its DER public key (wNI9atQG… in base64).
    expect(root.rekorKeys[0]!.logId).toBe(Buffer.from("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=", "base64").toString("hex"));
    expect(root.rekorKeys[0]!.name).toContain("https://rekor.sigstore.dev");
    expect(root.rekorKeys[0]!.key.asymmetricKeyType).toBe("ec");
    expect(root.rekorKeys[1]!.key.asymmetricKeyType).toBe("ed25519");
    expect(root.rekorKeys[0]!.validFrom?.toISOString()).toBe("2021-01-12T11:53:27.000Z");
    expect(root.rekorKeys[0]!.validUntil).toBeNull();

    expect(root.fulcioCAs).toHaveLength(2);
    expect(root.fulcioCAs[0]!.certificates).toHaveLength(1);
    expect(root.fulcioCAs[1]!.certificates).toHaveLength(2);
    expect(root.fulcioCAs[1]!.certificates[0]).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(root.fulcioCAs[0]!.validUntil?.toISOString()).toBe("2022-12-31T23:59:59.999Z");

    expect(root.ctLogKeys.map((k) => k.name)).toEqual([expect.stringContaining("ctfe.sigstore.dev/test"), expect.stringContaining("ctfe.sigstore.dev/2022")]);
    expect(root.tsaRoots).toHaveLength(1);
    expect(root.tsaRoots[0]!.certificates).toHaveLength(2);
  });

  it("lists every bad field rather than stopping at the first", () => {
    const bad = clone();
    bad.mediaType = "application/json";
    bad.tlogs[0].publicKey.rawBytes = "not base64!";
    bad.tlogs[1].logId = {};
    bad.certificateAuthorities[1].certChain.certificates[0].rawBytes = Buffer.from("nope").toString("base64");
    bad.ctlogs[0].publicKey.keyDetails = "SOMETHING_ELSE";
    bad.timestampAuthorities[0].validFor.start = "yesterday";
    const problems = problemsOf(bad);
    expect(problems).toEqual([
      expect.stringMatching(/^mediaType: /),
      "tlogs[0].publicKey.rawBytes: not base64",
      expect.stringMatching(/^tlogs\[1\]\.logId\.keyId: /),
      expect.stringMatching(/^certificateAuthorities\[1\]\.certChain\.certificates\[0\]\.rawBytes: not a DER X\.509 certificate/),
      expect.stringMatching(/^ctlogs\[0\]\.publicKey\.keyDetails: /),
      expect.stringMatching(/^timestampAuthorities\[0\]\.validFor\.start: /),
    ]);
  });

  it("refuses a root that is not an object, or lacks tlogs and certificate authorities", () => {
    expect(problemsOf([])).toEqual(["(root): expected an object"]);
    expect(problemsOf({ mediaType: ROOT_JSON.mediaType })).toEqual(["tlogs: expected an array", "certificateAuthorities: expected an array"]);
  });

  it("caps the number of entries and the chain length", () => {
    const many = clone();
    many.tlogs = Array.from({ length: 65 }, () => many.tlogs[0]);
    expect(problemsOf(many)).toEqual(["tlogs: 65 entries, more than 64"]);
    const long = clone();
    const cert = long.certificateAuthorities[1].certChain.certificates[0];
    long.certificateAuthorities[1].certChain.certificates = Array.from({ length: 11 }, () => cert);
    expect(problemsOf(long)).toEqual(["certificateAuthorities[1].certChain.certificates: 11 certificates, more than 10"]);
  });

  it("refuses a validity range that ends before it starts", () => {
    const bad = clone();
    bad.certificateAuthorities[0].validFor = { start: "2022-01-01T00:00:00Z", end: "2021-01-01T00:00:00Z" };
    expect(problemsOf(bad)).toEqual(["certificateAuthorities[0].validFor: end is before start"]);
  });
});

describe("toSigstoreTrustMaterial", () => {
  it("gives @sigstore/verify the same logs, CAs and time ranges", () => {
    const tm = toSigstoreTrustMaterial(trustMaterialFromRoot(parseTrustedRoot(ROOT_JSON)));
    expect(tm.tlogs).toHaveLength(2);
    expect(tm.tlogs[0]!.logID.toString("base64")).toBe("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=");
    expect(tm.certificateAuthorities[1]!.certChain).toHaveLength(2);
    expect(tm.certificateAuthorities[0]!.validFor.end.toISOString()).toBe("2022-12-31T23:59:59.999Z");
    expect(tm.ctlogs).toHaveLength(2);
    expect(tm.timestampAuthorities).toHaveLength(1);
  });

  it("finds a bare key by its hint (name, fingerprint, or SHA-256 of the public key) and refuses an unknown hint", () => {
    const pair = generateP256();
    const info = parsePublicKey(pair.publicKeyPem);
    const trust = {
      ...trustMaterialFromRoot(parseTrustedRoot(ROOT_JSON)),
      keys: [{ name: "release", fingerprint: info.fingerprint, key: info.key, algorithm: info.algorithm }],
    };
    const hex = info.fingerprint.slice("sha256:".length);
    for (const hint of ["release", info.fingerprint, hex, Buffer.from(hex, "hex").toString("base64")]) expect(findKeyByHint(trust, hint)?.name).toBe("release");
    expect(findKeyByHint(trust, "")).toBeUndefined();
    const tm = toSigstoreTrustMaterial(trust);
    expect(tm.publicKey("release").publicKey).toBe(info.key);
    expect(() => tm.publicKey("someone-else")).toThrow(/no trusted key matches/);
  });
});
