import { sha256Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import type { Descriptor, ImageManifest } from "../../oci/manifest";
import { SIGNATURE_ANNOTATION } from "./simple-signing";

/**
 * Builds the next version of a cosign `.sig` manifest by appending layers.
 * Existing layer descriptors are kept exactly as they were (same fields, same values, same order);
 * layers already present (same digest and signature annotation) are not added twice; a layer of the same digest with
 * another signature is a signature of its own (the payload is public: junk, or another key's) and is appended. The
 * config's rootfs.diff_ids is made to list every layer, as go-containerregistry's empty-image config does, keeping its
 * other fields.
 */
export function appendSignatureLayers(opts: { existing: ImageManifest | null; existingConfig: Record<string, unknown> | null; add: Descriptor[] }): {
  manifest: Buffer;
  config: Buffer;
  added: number;
} {
  const layers: Descriptor[] = [...(opts.existing?.layers ?? [])];
  const key = (l: Descriptor) => `${l.digest} ${l.annotations?.[SIGNATURE_ANNOTATION] ?? ""}`;
  const have = new Set(layers.map(key));
  let added = 0;
  for (const l of opts.add) {
    if (have.has(key(l))) continue;
    layers.push(l);
    have.add(key(l));
    added++;
  }
  const base: Record<string, unknown> =
    opts.existingConfig && typeof opts.existingConfig === "object"
      ? { ...opts.existingConfig }
      : { architecture: "", created: "0001-01-01T00:00:00Z", history: [], os: "", rootfs: { type: "layers", diff_ids: [] }, config: {} };
  const history = Array.isArray(base.history) ? [...(base.history as unknown[])] : undefined;
  if (history) {
    while (history.length < layers.length) history.push({ created: "0001-01-01T00:00:00Z" });
    base.history = history;
  }
  base.rootfs = { type: "layers", diff_ids: layers.map((l) => l.digest) };
  const config = Buffer.from(JSON.stringify(base), "utf8");
  const manifest = {
    ...(opts.existing ?? {}),
    schemaVersion: 2 as const,
    mediaType: MT.ociManifest,
    config: {
      ...(opts.existing?.config ?? {}),
      mediaType: opts.existing?.config.mediaType ?? MT.ociConfig,
      size: config.byteLength,
      digest: sha256Digest(config),
    },
    layers,
  };
  return { manifest: Buffer.from(JSON.stringify(manifest), "utf8"), config, added };
}

/**
 * Builds the next version of a cosign `.sig` manifest without the layers in `remove` (by digest). Every other layer
 * descriptor is kept exactly as it was, in order; the config keeps its other fields, `rootfs.diff_ids` lists the
 * remaining layers and, when `history` has one entry per layer, the removed layers' entries go too.
 * Returns null when none of the digests is present (nothing to write).
 */
export function removeSignatureLayers(opts: {
  existing: ImageManifest;
  existingConfig: Record<string, unknown> | null;
  remove: readonly string[];
}): { manifest: Buffer; config: Buffer; removed: number } | null {
  const drop = new Set(opts.remove);
  const before = opts.existing.layers;
  const keepIdx = before.map((l, i) => (drop.has(l.digest) ? -1 : i)).filter((i) => i >= 0);
  if (keepIdx.length === before.length) return null;
  const layers = keepIdx.map((i) => before[i]!);
  const base: Record<string, unknown> =
    opts.existingConfig && typeof opts.existingConfig === "object"
      ? { ...opts.existingConfig }
      : { architecture: "", created: "0001-01-01T00:00:00Z", history: [], os: "", rootfs: { type: "layers", diff_ids: [] }, config: {} };
  if (Array.isArray(base.history)) {
    const history = base.history as unknown[];
    base.history = history.length === before.length ? keepIdx.map((i) => history[i]) : history.slice(0, layers.length);
  }
  base.rootfs = { type: "layers", diff_ids: layers.map((l) => l.digest) };
  const config = Buffer.from(JSON.stringify(base), "utf8");
  const manifest = {
    ...opts.existing,
    config: { ...opts.existing.config, size: config.byteLength, digest: sha256Digest(config) },
    layers,
  };
  return { manifest: Buffer.from(JSON.stringify(manifest), "utf8"), config, removed: before.length - layers.length };
}
