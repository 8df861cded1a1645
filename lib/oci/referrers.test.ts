import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../scripts/lib/services.mjs";
import { RegistryClient } from "./client";
import { type OciError, sha256Digest, type Digest } from "./digest";
import { MT } from "./media-types";
import { cosignTag, referrersFallbackTag } from "./reference";
import { listReferrers, ReferrersApiMemo } from "./referrers";
import { closedPort, json, useFakeServers } from "./testdata/fake-server";

const serve = useFakeServers();

const d = (s: string) => sha256Digest(s);
const SUBJECT = d("the image");
const HEX = SUBJECT.slice("sha256:".length);

function client(url: string) {
  return new RegistryClient({ url, retries: 0, timeoutMs: 3000 });
}

// The response shape of distribution-spec v1.1 "Listing Referrers" (end-12a), split in two pages.
const SBOM = {
  mediaType: MT.ociManifest,
  size: 1234,
  digest: d("sbom"),
  artifactType: "application/vnd.example.sbom.v1",
  annotations: { "org.opencontainers.image.created": "2022-01-01T14:42:55Z" },
};
const SIG = {
  mediaType: MT.ociManifest,
  size: 1235,
  digest: d("signature"),
  artifactType: "application/vnd.example.signature.v1",
  annotations: { "org.example.sig.fingerprint": "abc" },
};
const BUNDLE = {
  mediaType: MT.ociManifest,
  size: 1500,
  digest: d("bundle"),
  artifactType: MT.sigstoreBundleV03,
  annotations: { "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1" },
};
const index = (manifests: object[]) => ({ schemaVersion: 2, mediaType: MT.ociIndex, manifests });

describe("listReferrers against a fake registry", () => {
  it("reads the referrers API across Link pages, adds cosign tags found by HEAD, and de-duplicates", async () => {
    const sigManifest = d("cosign sig manifest");
    const s = await serve((req, res) => {
      const path = req.url ?? "";
      if (path === `/v2/app/referrers/${SUBJECT}`)
        return json(res, 200, index([SBOM, SIG]), { "content-type": MT.ociIndex, link: `</v2/app/referrers/${SUBJECT}?last=2>; rel="next"` });
      if (path === `/v2/app/referrers/${SUBJECT}?last=2`) return json(res, 200, index([SIG, BUNDLE]), { "content-type": MT.ociIndex });
      if (req.method === "HEAD" && path === `/v2/app/manifests/${cosignTag(SUBJECT, "sig")}`) {
        res.writeHead(200, { "content-type": MT.ociManifest, "docker-content-digest": sigManifest, "content-length": "400" });
        return res.end();
      }
      json(res, 404, { errors: [{ code: "MANIFEST_UNKNOWN" }] });
    });
    const found = await listReferrers(client(s.url), "app", SUBJECT);
    expect(found.map((r) => [r.digest, r.source])).toEqual([
      [SBOM.digest, "referrers-api"],
      [SIG.digest, "referrers-api"],
      [BUNDLE.digest, "referrers-api"],
      [sigManifest, "cosign-tag"],
    ]);
    expect(found[0]).toEqual({ ...SBOM, source: "referrers-api" });
    expect(found[3]).toEqual({ mediaType: MT.ociManifest, digest: sigManifest, size: 400, source: "cosign-tag", tag: cosignTag(SUBJECT, "sig") });
    // The API worked, so the fallback tag was never asked for; the three cosign tags were probed once each.
    expect(s.count(`/v2/app/manifests/${referrersFallbackTag(SUBJECT)}`)).toBe(0);
    expect(s.requests.filter((r) => r.method === "HEAD")).toHaveLength(3);
  });

  it.each([404, 405, 400])("falls back to the sha256-<hex> tag index when the API answers %i", async (status) => {
    const s = await serve((req, res) => {
      if (req.url?.startsWith("/v2/app/referrers/")) return json(res, status, {});
      if (req.url === `/v2/app/manifests/sha256-${HEX}` && req.method === "GET") return json(res, 200, index([SBOM]), { "content-type": MT.ociIndex });
      json(res, 404, {});
    });
    const found = await listReferrers(client(s.url), "app", SUBJECT);
    expect(found).toEqual([{ ...SBOM, source: "referrers-tag", tag: `sha256-${HEX}` }]);
  });

  it("falls back when the API answers 200 with something that is not an index", async () => {
    const s = await serve((req, res) => {
      if (req.url?.startsWith("/v2/app/referrers/")) return json(res, 200, "<html>welcome</html>");
      if (req.url === `/v2/app/manifests/sha256-${HEX}`) return json(res, 200, index([BUNDLE]), { "content-type": MT.ociIndex });
      json(res, 404, {});
    });
    expect((await listReferrers(client(s.url), "app", SUBJECT)).map((r) => r.source)).toEqual(["referrers-tag"]);
  });

  it("with a tag list, looks up only the tags that exist and never probes the others", async () => {
    const attManifest = d("att manifest");
    const s = await serve((req, res) => {
      if (req.url?.startsWith("/v2/app/referrers/")) return json(res, 404, {});
      if (req.method === "HEAD" && req.url === `/v2/app/manifests/${cosignTag(SUBJECT, "att")}`) {
        res.writeHead(200, { "content-type": MT.ociManifest, "docker-content-digest": attManifest, "content-length": "900" });
        return res.end();
      }
      json(res, 500, {});
    });
    const found = await listReferrers(client(s.url), "app", SUBJECT, { tags: ["1.0", cosignTag(SUBJECT, "att")] });
    expect(found).toEqual([{ mediaType: MT.ociManifest, digest: attManifest, size: 900, source: "cosign-tag", tag: cosignTag(SUBJECT, "att") }]);
    expect(s.count(`/v2/app/manifests/sha256-${HEX}`)).toBe(0);
    expect(s.count(`/v2/app/manifests/${cosignTag(SUBJECT, "sig")}`)).toBe(0);
    expect(s.requests).toHaveLength(2);
  });

  it("refuses a referrers page loop and a next page on another origin", async () => {
    const loop = await serve((req, res) => json(res, 200, index([SBOM]), { link: `</v2/app/referrers/${SUBJECT}>; rel="next"` }));
    const e1 = await listReferrers(client(loop.url), "app", SUBJECT, { tags: [] }).catch((e: unknown) => e);
    expect((e1 as OciError).code).toBe("BAD_RESPONSE");
    expect((e1 as OciError).message).toMatch(/pagination loops/);

    const elsewhere = await serve((_req, res) => json(res, 200, index([SIG])));
    const cross = await serve((_req, res) => json(res, 200, index([SBOM]), { link: `<${elsewhere.url}/v2/app/referrers/${SUBJECT}>; rel="next"` }));
    const e2 = await listReferrers(client(cross.url), "app", SUBJECT, { tags: [] }).catch((e: unknown) => e);
    expect((e2 as OciError).code).toBe("BAD_RESPONSE");
    expect(elsewhere.requests).toHaveLength(0);
  });

  it("keeps cosign's tags past the referrer cap, and as cosign tags when a referrers list names the same manifest", async () => {
    // Found by review: 200 junk referrers pushed the `.sig` manifest out of what a sync reads, and a `.sig` manifest
    // listed in the fallback index was recorded as a referrer, not as the image's signature manifest; either way a
    // revoked layer put back in it went unseen.
    const sigManifest = d("cosign sig manifest");
    const junk = Array.from({ length: 5 }, (_, i) => ({ mediaType: MT.ociManifest, size: 10, digest: d(`junk ${i}`), artifactType: "application/x-junk" }));
    const s = await serve((req, res) => {
      if (req.url?.startsWith("/v2/app/referrers/")) return json(res, 404, {});
      if (req.url === `/v2/app/manifests/sha256-${HEX}`)
        return json(res, 200, index([{ mediaType: MT.ociManifest, size: 400, digest: sigManifest }, ...junk]), { "content-type": MT.ociIndex });
      if (req.method === "HEAD" && req.url === `/v2/app/manifests/${cosignTag(SUBJECT, "sig")}`) {
        res.writeHead(200, { "content-type": MT.ociManifest, "docker-content-digest": sigManifest, "content-length": "400" });
        return res.end();
      }
      json(res, 404, {});
    });
    let truncatedAt: number | null = null;
    const found = await listReferrers(client(s.url), "app", SUBJECT, { maxReferrers: 3, onTruncated: (n) => (truncatedAt = n) });
    expect(truncatedAt).toBe(3);
    expect(found.map((r) => [r.digest, r.source])).toEqual([
      [sigManifest, "cosign-tag"],
      [junk[0]!.digest, "referrers-tag"],
      [junk[1]!.digest, "referrers-tag"],
    ]);
    // Past the cap, a signature listed behind the junk is kept before it (a re-attached revoked bundle must be read).
    const bundle = { mediaType: MT.ociManifest, size: 10, digest: d("rewrapped bundle"), artifactType: MT.sigstoreBundleV03 };
    const s2 = await serve((req, res) => {
      if (req.url?.startsWith("/v2/app/referrers/")) return json(res, 200, index([...junk, bundle]), { "content-type": MT.ociIndex });
      json(res, 404, {});
    });
    expect((await listReferrers(client(s2.url), "app", SUBJECT, { maxReferrers: 2 })).map((r) => r.digest)).toEqual([bundle.digest, junk[0]!.digest]);
    // Under the cap nothing is reported.
    let called = false;
    expect(await listReferrers(client(s.url), "app", SUBJECT, { onTruncated: () => (called = true) })).toHaveLength(6);
    expect(called).toBe(false);
  });

  it("rejects a bad repository or digest before any request", async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    await expect(listReferrers(client(s.url), "../etc", SUBJECT)).rejects.toMatchObject({ code: "INVALID_REFERENCE" });
    await expect(listReferrers(client(s.url), "app", "sha256:xyz" as Digest)).rejects.toMatchObject({ code: "INVALID_REFERENCE" });
    expect(s.requests).toHaveLength(0);
  });
});

describe("listReferrers against the real Distribution registry (tag-schema fallback)", () => {
  let registry: RegistryHandle;
  beforeAll(async () => {
    registry = await startRegistry();
  }, 30_000);
  afterAll(async () => {
    await registry?.destroy();
  });

  it("finds an artifact pushed with a subject and a sha256-<hex> fallback index", async () => {
    const c = client(registry.url);
    const repo = "team/app";

    // The subject: a tiny image.
    const configBytes = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
    const config = { mediaType: MT.ociConfig, digest: await c.putBlob(repo, configBytes), size: configBytes.length };
    const imageBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers: [] }));
    const imageDigest = await c.putManifest(repo, "1.0", imageBytes, MT.ociManifest);

    // The artifact: a Sigstore bundle referring to the image.
    const empty = Buffer.from("{}");
    const emptyDigest = await c.putBlob(repo, empty);
    const bundleBytes = Buffer.from(JSON.stringify({ mediaType: MT.sigstoreBundleV03, verificationMaterial: {}, dsseEnvelope: {} }));
    const bundleDigest = await c.putBlob(repo, bundleBytes);
    const annotations = { "dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1" };
    const artifactBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType: MT.sigstoreBundleV03,
        config: { mediaType: MT.ociEmpty, digest: emptyDigest, size: 2 },
        layers: [{ mediaType: MT.sigstoreBundleV03, digest: bundleDigest, size: bundleBytes.length }],
        subject: { mediaType: MT.ociManifest, digest: imageDigest, size: imageBytes.length },
        annotations,
      }),
    );
    const artifactDigest = sha256Digest(artifactBytes);
    expect(await c.putManifest(repo, artifactDigest, artifactBytes, MT.ociManifest)).toBe(artifactDigest);

    // Distribution 2.8 has no referrers API, so the client maintains the fallback index (distribution-spec §3).
    const descriptor = { mediaType: MT.ociManifest, digest: artifactDigest, size: artifactBytes.length, artifactType: MT.sigstoreBundleV03, annotations };
    const fallback = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [descriptor] }));
    await c.putManifest(repo, referrersFallbackTag(imageDigest), fallback, MT.ociIndex);

    const probed = await listReferrers(c, repo, imageDigest);
    expect(probed).toEqual([{ ...descriptor, source: "referrers-tag", tag: referrersFallbackTag(imageDigest) }]);

    const tags: string[] = [];
    for await (const t of c.tags(repo)) tags.push(t);
    expect(tags.sort()).toEqual(["1.0", referrersFallbackTag(imageDigest)].sort());
    expect(await listReferrers(c, repo, imageDigest, { tags })).toEqual(probed);

    // Another image has no referrers at all.
    expect(await listReferrers(c, repo, artifactDigest)).toEqual([]);
  });
});

describe("ReferrersApiMemo: what a run learnt about the referrers API", () => {
  const subjects = Array.from({ length: 12 }, (_, i) => d(`image ${i}`));

  it("asks a registry that answers 404 exactly once, even when twelve lookups run at once, and still reads fallback tags", async () => {
    const s = await serve((req, res) => {
      if (req.url?.startsWith("/v2/app/referrers/")) return json(res, 404, { errors: [{ code: "UNSUPPORTED" }] });
      if (req.url === `/v2/app/manifests/sha256-${subjects[5]!.slice(7)}`) return json(res, 200, index([SBOM]), { "content-type": MT.ociIndex });
      json(res, 404, {});
    });
    const memo = new ReferrersApiMemo();
    const c = client(s.url);
    const found = await Promise.all(subjects.map((subject) => listReferrers(c, "app", subject, { referrersApi: memo })));
    expect(s.requests.filter((r) => r.url.startsWith("/v2/app/referrers/"))).toHaveLength(1);
    expect(memo.known).toBe("absent");
    expect(found[5]).toEqual([{ ...SBOM, source: "referrers-tag", tag: `sha256-${subjects[5]!.slice(7)}` }]);
    expect(found.filter((f) => f.length > 0)).toHaveLength(1);
  });

  it("keeps asking a registry that serves the API, once per image", async () => {
    const s = await serve((req, res) => {
      if (req.url?.startsWith("/v2/app/referrers/")) return json(res, 200, index([SIG]), { "content-type": MT.ociIndex });
      json(res, 404, {});
    });
    const memo = new ReferrersApiMemo();
    const c = client(s.url);
    const found = await Promise.all(subjects.map((subject) => listReferrers(c, "app", subject, { referrersApi: memo })));
    expect(memo.known).toBe("present");
    expect(s.requests.filter((r) => r.url.startsWith("/v2/app/referrers/"))).toHaveLength(subjects.length);
    expect(found.every((f) => f.length === 1 && f[0]!.source === "referrers-api")).toBe(true);
  });

  it("learns nothing from a 500, a 401 or a connection failure: the next lookup asks again", async () => {
    let status = 500;
    const s = await serve((req, res) => {
      if (req.url?.startsWith("/v2/app/referrers/")) return json(res, status, {});
      json(res, 404, {});
    });
    const memo = new ReferrersApiMemo();
    const c = client(s.url);
    await listReferrers(c, "app", subjects[0]!, { referrersApi: memo });
    expect(memo.known).toBe("unknown");
    status = 401;
    await listReferrers(c, "app", subjects[1]!, { referrersApi: memo });
    expect(memo.known).toBe("unknown");
    status = 404;
    await listReferrers(c, "app", subjects[2]!, { referrersApi: memo });
    await listReferrers(c, "app", subjects[3]!, { referrersApi: memo });
    expect(memo.known).toBe("absent");
    expect(s.requests.filter((r) => r.url.startsWith("/v2/app/referrers/"))).toHaveLength(3);

    const down = new ReferrersApiMemo();
    const gone = client(`http://127.0.0.1:${await closedPort()}`);
    await expect(listReferrers(gone, "app", subjects[0]!, { referrersApi: down })).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(down.known).toBe("unknown");
  });
});
