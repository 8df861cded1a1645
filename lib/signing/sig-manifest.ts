import { sha256Digest } from "../oci/digest";
import { MT } from "../oci/media-types";
import type { Descriptor, ImageManifest } from "../oci/manifest";

/**
 * Builds the next version of a cosign `.sig` manifest by appending layers.
 * Existing layer descriptors are kept exactly as they were (same fields, same values, same order);
 * layers already present (by digest) are not added twice. The config's rootfs.diff_ids is made to
 * list every layer, as go-containerregistry's empty-image config does, keeping its other fields.
 */
export function appendSignatureLayers(opts: {
  existing: ImageManifest | null;
  existingConfig: Record<string, unknown> | null;
  add: Descriptor[];
}): { manifest: Buffer; config: Buffer; added: number } {
  const layers: Descriptor[] = [...(opts.existing?.layers ?? [])];
  const have = new Set(layers.map((l) => l.digest));
  let added = 0;
  for (const l of opts.add) {
    if (have.has(l.digest)) continue;
    layers.push(l);
    have.add(l.digest);
    added++;
  }
  const base: Record<string, unknown> = opts.existingConfig && typeof opts.existingConfig === "object"
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

