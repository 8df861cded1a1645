// Builds real OCI images in memory: ustar layers (gzip), image configs with diff_ids, manifests and
// indexes, and pushes them with the project's own registry client. Deterministic, so re-running the
// demo seed produces the same digests and creates nothing new.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { type RegistryClient } from "../../lib/oci/client";
import { sha256Digest, type Digest } from "../../lib/oci/digest";
import { MT } from "../../lib/oci/media-types";

const EPOCH = 1_700_000_000; // fixed mtime for reproducible layers

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function tarHeader(name: string, size: number, type: "0" | "5", mode: number): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, "utf8");
  h.write(octal(mode, 8), 100, 8, "ascii");
  h.write(octal(0, 8), 108, 8, "ascii");
  h.write(octal(0, 8), 116, 8, "ascii");
  h.write(octal(size, 12), 124, 12, "ascii");
  h.write(octal(EPOCH, 12), 136, 12, "ascii");
  h.fill(" ", 148, 156);
  h.write(type, 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write("root", 265, 32, "ascii");
  h.write("root", 297, 32, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "ascii");
  return h;
}

/** A tar archive of the given files (directories are created for their parents). */
export function tar(files: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const path of Object.keys(files).sort()) {
    const segs = path.split("/");
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join("/") + "/";
      if (!dirs.has(d)) {
        dirs.add(d);
        parts.push(tarHeader(d, 0, "5", 0o755));
      }
    }
    const body = Buffer.isBuffer(files[path]) ? (files[path] as Buffer) : Buffer.from(files[path] as string, "utf8");
    parts.push(tarHeader(path, body.length, "0", path.startsWith("bin/") ? 0o755 : 0o644), body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface BuiltBlob {
  digest: Digest;
  bytes: Buffer;
}

export interface BuiltImage {
  manifest: Buffer;
  digest: Digest;
  mediaType: string;
  blobs: BuiltBlob[];
  platform: { os: string; architecture: string; variant?: string };
  /** The annotations of this image's entry in an index built of it (buildIndex), e.g. buildx's attestation markers. */
  entryAnnotations?: Record<string, string>;
  /** The layers in order, to build another image on this one (`base`). */
  layers: BaseLayer[];
}

/** A layer taken over from a base image: its descriptor, its compressed bytes and its diff ID. */
export interface BaseLayer {
  descriptor: { mediaType: string; digest: string; size: number };
  bytes: Buffer;
  diffId: string;
}

/** The layers of an image stored as an OCI layout on disk (a single-platform manifest), to build on it. */
export function layoutLayers(dir: string, manifestDigest: string): BaseLayer[] {
  const blob = (d: string) => readFileSync(join(dir, "blobs", ...d.split(":")));
  const m = JSON.parse(blob(manifestDigest).toString("utf8")) as { config: { digest: string }; layers: { mediaType: string; digest: string; size: number }[] };
  const cfg = JSON.parse(blob(m.config.digest).toString("utf8")) as { rootfs: { diff_ids: string[] } };
  return m.layers.map((l, i) => ({ descriptor: l, bytes: blob(l.digest), diffId: cfg.rootfs.diff_ids[i]! }));
}

export function buildImage(opts: {
  os?: string;
  architecture: string;
  variant?: string;
  layers: Record<string, string | Buffer>[];
  env?: string[];
  cmd?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  created?: string;
  /** Build on these layers (a base image's, in order): they come first, as a real `FROM base` build would. */
  base?: BaseLayer[];
}): BuiltImage {
  const os = opts.os ?? "linux";
  const created = opts.created ?? "2026-11-01T00:00:00Z";
  const layerBlobs = opts.layers.map((files) => {
    const raw = tar(files);
    const gz = gzipSync(raw, { level: 9 });
    return { raw, gz, diffId: sha256Digest(raw), digest: sha256Digest(gz) };
  });
  const config = Buffer.from(
    JSON.stringify({
      created,
      architecture: opts.architecture,
      ...(opts.variant ? { variant: opts.variant } : {}),
      os,
      config: {
        Env: opts.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: opts.cmd ?? ["/bin/sh"],
        Labels: opts.labels ?? {},
      },
      rootfs: { type: "layers", diff_ids: [...(opts.base ?? []).map((l) => l.diffId), ...layerBlobs.map((l) => l.diffId)] },
      history: [...(opts.base ?? []), ...layerBlobs].map((_, i) => ({ created, created_by: `imprimatur demo layer ${i + 1}` })),
    }),
  );
  const configDigest = sha256Digest(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
      layers: [...(opts.base ?? []).map((l) => l.descriptor), ...layerBlobs.map((l) => ({ mediaType: MT.ociLayerGzip, digest: l.digest, size: l.gz.length }))],
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    }),
  );
  return {
    manifest,
    digest: sha256Digest(manifest),
    mediaType: MT.ociManifest,
    blobs: [
      { digest: configDigest, bytes: config },
      ...(opts.base ?? []).map((l) => ({ digest: l.descriptor.digest as Digest, bytes: l.bytes })),
      ...layerBlobs.map((l) => ({ digest: l.digest, bytes: l.gz })),
    ],
    platform: { os, architecture: opts.architecture, ...(opts.variant ? { variant: opts.variant } : {}) },
    layers: [
      ...(opts.base ?? []),
      ...layerBlobs.map((l) => ({ descriptor: { mediaType: MT.ociLayerGzip, digest: l.digest, size: l.gz.length }, bytes: l.gz, diffId: l.diffId })),
    ],
  };
}

export function buildIndex(images: BuiltImage[], annotations?: Record<string, string>): { manifest: Buffer; digest: Digest; mediaType: string } {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: images.map((i) => ({
        mediaType: i.mediaType,
        digest: i.digest,
        size: i.manifest.length,
        platform: i.platform,
        ...(i.entryAnnotations ? { annotations: i.entryAnnotations } : {}),
      })),
      ...(annotations ? { annotations } : {}),
    }),
  );
  return { manifest, digest: sha256Digest(manifest), mediaType: MT.ociIndex };
}

/** Pushes blobs then the manifest (by digest, and under each tag). */
export async function pushImage(client: RegistryClient, repository: string, image: BuiltImage, tags: string[] = []): Promise<Digest> {
  for (const b of image.blobs) await client.putBlob(repository, b.bytes);
  await client.putManifest(repository, image.digest, image.manifest, image.mediaType);
  for (const t of tags) await client.putManifest(repository, t, image.manifest, image.mediaType);
  return image.digest;
}

export async function pushIndex(
  client: RegistryClient,
  repository: string,
  platforms: BuiltImage[],
  tags: string[],
  annotations?: Record<string, string>,
): Promise<Digest> {
  for (const p of platforms) await pushImage(client, repository, p);
  const idx = buildIndex(platforms, annotations);
  await client.putManifest(repository, idx.digest, idx.manifest, idx.mediaType);
  for (const t of tags) await client.putManifest(repository, t, idx.manifest, idx.mediaType);
  return idx.digest;
}

/**
 * Pushes an OCI image layout directory (index.json + blobs/sha256) as-is: every blob, then each manifest
 * under its org.opencontainers.image.ref.name tag. Bytes are unchanged, so signatures stay valid.
 */
export async function pushOciLayout(client: RegistryClient, repository: string, dir: string): Promise<{ tag: string; digest: Digest }[]> {
  const { readdirSync } = await import("node:fs");

  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
    manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[];
  };
  const manifestDigests = new Set(index.manifests.map((m) => m.digest));
  for (const f of readdirSync(join(dir, "blobs", "sha256"))) {
    if (manifestDigests.has(`sha256:${f}`)) continue;
    await client.putBlob(repository, readFileSync(join(dir, "blobs", "sha256", f)));
  }
  const out: { tag: string; digest: Digest }[] = [];
  for (const m of index.manifests) {
    const bytes = readFileSync(join(dir, "blobs", "sha256", m.digest.replace("sha256:", "")));
    const tag = m.annotations?.["org.opencontainers.image.ref.name"];
    await client.putManifest(repository, tag ?? m.digest, bytes, m.mediaType);
    out.push({ tag: tag ?? "", digest: m.digest as Digest });
  }
  return out;
}
