import { z } from "zod";
import { OciError } from "./digest";
import { baseMediaType, isImageManifestMediaType, isIndexMediaType } from "./media-types";

const digestSchema = z.string().regex(/^sha256:[a-f0-9]{64}$/, "not a sha256 digest");
const annotations = z.record(z.string(), z.string()).optional();

export const descriptorSchema = z
  .object({
    mediaType: z.string().min(1).max(255),
    digest: digestSchema,
    size: z.number().int().nonnegative(),
    annotations,
    artifactType: z.string().optional(),
    urls: z.array(z.string()).optional(),
    data: z.string().optional(),
    platform: z
      .object({
        os: z.string(),
        architecture: z.string(),
        variant: z.string().optional(),
        "os.version": z.string().optional(),
      })
      .optional(),
  })
  .loose();

export type Descriptor = z.infer<typeof descriptorSchema>;

export const imageManifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    config: descriptorSchema,
    layers: z.array(descriptorSchema).max(10_000),
    subject: descriptorSchema.optional(),
    annotations,
  })
  .loose();

export const indexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    manifests: z.array(descriptorSchema).max(10_000),
    subject: descriptorSchema.optional(),
    annotations,
  })
  .loose();

export type ImageManifest = z.infer<typeof imageManifestSchema>;
export type ImageIndex = z.infer<typeof indexSchema>;

export type ParsedManifest =
  | { kind: "manifest"; mediaType: string; manifest: ImageManifest }
  | { kind: "index"; mediaType: string; index: ImageIndex }
  /**
   * A JSON document under a media type this client does not model (Docker schema 1, the withdrawn OCI
   * artifact manifest, a vendor type) that is not shaped like a manifest or index either. Kept as is, so a
   * caller can store and show it rather than fail a whole sync on it.
   */
  | { kind: "unknown"; mediaType: string; json: unknown };

function issues(e: z.ZodError): string {
  return e.issues
    .slice(0, 10)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

/** Past this nesting depth a registry document keeps only the fields modelled here (see goLenient). */
export const MAX_REGISTRY_JSON_DEPTH = 32;

/** Whether a parsed JSON value nests deeper than `limit`; iterative, so any depth is safe to ask about. */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (d + 1 > limit) return true;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (x !== null && typeof x === "object") stack.push([x, d + 1]);
  }
  return false;
}

const DOCUMENT_KEYS = ["schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests", "subject", "annotations"];
const DESCRIPTOR_KEYS = ["mediaType", "digest", "size", "annotations", "artifactType", "urls", "data", "platform"];
const PLATFORM_KEYS = ["os", "architecture", "variant", "os.version", "os.features", "features"];
/** Fields a JSON null sets to nil in Go (slices, maps, pointers); a null for any other field leaves it as it was. */
const NULL_CLEARS = new Set([
  "layers",
  "manifests",
  "annotations",
  "subject",
  "platform",
  "urls",
  "data",
  "os.features",
  "features",
  "diff_ids",
  "history",
  "Labels",
]);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Go's encoding/json matches an object key to a field case-insensitively (bytes.EqualFold: K and ſ fold to k and s). */
const goFold = (k: string) =>
  k
    .replace(/[A-Z]/g, (c) => c.toLowerCase())
    .replace(/\u017f/g, "s")
    .replace(/\u212a/g, "k");
const byFold = (keys: readonly string[]) => new Map(keys.map((k) => [goFold(k), k]));
const DOCUMENT_FIELDS = byFold(DOCUMENT_KEYS);
const DESCRIPTOR_FIELDS = byFold(DESCRIPTOR_KEYS);
const PLATFORM_FIELDS = byFold(PLATFORM_KEYS);

/**
 * A field set again (by a key in another case): Go decodes the second value into what the first one left, so an object
 * (a struct, a pointer's target, a map) keeps the fields the second does not set, and a list is decoded element by
 * element into the elements already there. Replaced outright, `"config": {…}, "Config": {}` (valid to Go) lost its
 * config here and the whole `.sig` manifest was refused (found by review).
 */
function goMerge(prev: unknown, next: unknown): unknown {
  if (isObject(prev) && isObject(next)) return { ...prev, ...next };
  if (Array.isArray(prev) && Array.isArray(next)) return next.map((x, i) => (isObject(prev[i]) && isObject(x) ? { ...prev[i], ...x } : x));
  return next;
}

/**
 * An object's fields as Go reads them into its struct: a key in any case (or spelling that folds to it) sets the field,
 * the last one winning, so `"Layers"` after `"layers"` is what cosign reads; a null clears a slice, map or pointer and
 * leaves anything else. Keys that name no field are kept as they are, unless `onlyFields` (a document too deep to keep).
 */
function goFields(v: Record<string, unknown>, fields: ReadonlyMap<string, string>, onlyFields: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const field = fields.get(goFold(k));
    if (!field && onlyFields) continue;
    const key = field ?? k;
    if (x === null) {
      if (!field || NULL_CLEARS.has(field)) delete out[key];
      continue;
    }
    out[key] = field && key in out ? goMerge(out[key], x) : x;
  }
  // A map's keys are taken as written; a null value is dropped.
  if (isObject(out.annotations)) out.annotations = Object.fromEntries(Object.entries(out.annotations).filter(([, x]) => x !== null));
  return out;
}

function lenientDescriptor(d: unknown, onlyFields: boolean): unknown {
  if (!isObject(d)) return d;
  const out = goFields(d, DESCRIPTOR_FIELDS, onlyFields);
  // Go reads `platform: {}` as the empty platform; an entry whose platform names no os and architecture states none.
  if (isObject(out.platform)) {
    const p = goFields(out.platform, PLATFORM_FIELDS, onlyFields);
    if (typeof p.os === "string" && typeof p.architecture === "string") out.platform = p;
    else delete out.platform;
  }
  return out;
}

/**
 * A manifest or index as the tools that write and read them in Go see it (go-containerregistry, cosign, Kyverno,
 * policy-controller): keys match fields case-insensitively, the last one winning; a JSON `null` leaves a field at its
 * zero value (no annotations, no layers, no platform); a null entry of a list is dropped. A writer with push access
 * could otherwise make a `.sig` manifest Go tools read one way and this client another (refused, or with a revoked
 * layer under `"Layers"` that only Go saw): its revocation could not be removed, or a revoked layer put back in it went
 * unseen. Past MAX_REGISTRY_JSON_DEPTH only the modelled fields are kept, so that nothing read from a registry and
 * written again (a `.sig` manifest with a new layer) can hold nesting that JSON.stringify cannot write.
 */
export function goLenient(json: unknown): unknown {
  if (!isObject(json)) return json;
  const onlyFields = jsonDepthExceeds(json, MAX_REGISTRY_JSON_DEPTH);
  const doc = goFields(json, DOCUMENT_FIELDS, onlyFields);
  for (const list of ["layers", "manifests"] as const) {
    const given = Object.entries(json).some(([k, x]) => DOCUMENT_FIELDS.get(goFold(k)) === list && x === null);
    if (!(list in doc) && given && (list === "layers" ? "config" in doc : !("config" in doc))) doc[list] = [];
    if (Array.isArray(doc[list])) doc[list] = (doc[list] as unknown[]).filter((d) => d !== null).map((d) => lenientDescriptor(d, onlyFields));
  }
  for (const one of ["config", "subject"] as const) if (one in doc) doc[one] = lenientDescriptor(doc[one], onlyFields);
  return doc;
}

const IMAGE_CONFIG_FIELDS = byFold(["architecture", "os", "os.version", "os.features", "variant", "created", "author", "config", "rootfs", "history"]);
const ROOTFS_FIELDS = byFold(["type", "diff_ids"]);
const RUN_CONFIG_FIELDS = byFold(["Labels"]);

/**
 * An image config as containerd and Docker (Go) read it: the fields Imprimatur uses (os, architecture, labels, history,
 * rootfs.diff_ids) matched in any case, the last one winning. Read with exact names, `"rootfs"` naming a signed base's
 * layers followed by `"RootFS"` naming the real ones made the base claim look proven while runtimes ran the others
 * (found by review).
 */
export function goImageConfig(cfg: Record<string, unknown>): Record<string, unknown> {
  const out = goFields(cfg, IMAGE_CONFIG_FIELDS, false);
  if (isObject(out.rootfs)) out.rootfs = goFields(out.rootfs, ROOTFS_FIELDS, false);
  if (isObject(out.config)) out.config = goFields(out.config, RUN_CONFIG_FIELDS, false);
  return out;
}

/**
 * Parses manifest bytes. The media type comes from the document when it states one,
 * else from the Content-Type the registry sent, else from its shape.
 *
 * A known manifest or index media type must validate (else BAD_RESPONSE); so must a document shaped like
 * one (`manifests[]`, or `config` + `layers[]`). Anything else that is a JSON object is returned as
 * `kind: "unknown"`. Bytes that are not JSON, or JSON that is not an object, are BAD_RESPONSE.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new OciError("BAD_RESPONSE", "manifest is not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new OciError("BAD_RESPONSE", "manifest is not a JSON object");
  }
  json = goLenient(json);
  const doc = json as Record<string, unknown>;
  const declared = typeof doc.mediaType === "string" && doc.mediaType ? doc.mediaType : undefined;
  const ct = contentType ? baseMediaType(contentType) : undefined;
  const known = (mt: string | undefined): mt is string => !!mt && (isIndexMediaType(mt) || isImageManifestMediaType(mt));
  const hasManifests = Array.isArray(doc.manifests);
  const looksLikeManifest = typeof doc.config === "object" && doc.config !== null && Array.isArray(doc.layers);

  const asIndex = (mediaType: string): ParsedManifest => {
    const r = indexSchema.safeParse(json);
    if (!r.success) throw new OciError("BAD_RESPONSE", `invalid image index: ${issues(r.error)}`);
    return { kind: "index", mediaType, index: r.data };
  };
  const asManifest = (mediaType: string): ParsedManifest => {
    const r = imageManifestSchema.safeParse(json);
    if (!r.success) throw new OciError("BAD_RESPONSE", `invalid image manifest: ${issues(r.error)}`);
    return { kind: "manifest", mediaType, manifest: r.data };
  };

  // The document's own mediaType wins; a registry's Content-Type is only a hint.
  const stated = declared ?? (known(ct) ? ct : undefined);
  if (stated && isIndexMediaType(stated)) return asIndex(stated);
  if (stated && isImageManifestMediaType(stated)) return asManifest(stated);
  // Unknown or absent media type: judge by shape.
  if (hasManifests) return asIndex(stated ?? "application/vnd.oci.image.index.v1+json");
  if (looksLikeManifest) return asManifest(stated ?? "application/vnd.oci.image.manifest.v1+json");
  return { kind: "unknown", mediaType: stated ?? ct ?? "", json };
}

export interface Platform {
  digest: string;
  mediaType: string;
  size: number;
  /** "unknown" when the entry states no platform. */
  os: string;
  architecture: string;
  variant?: string;
  /**
   * A buildx attestation manifest (isAttestationEntry): in-toto statements about another entry of the same index, not
   * something that runs. Absent on every other entry.
   */
  attestation?: true;
}

/** The annotations buildx writes on an attestation manifest's entry in an index (moby/buildkit util/attestation). */
export const REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type";
export const REFERENCE_DIGEST_ANNOTATION = "vnd.docker.reference.digest";
export const ATTESTATION_MANIFEST = "attestation-manifest";

/**
 * Whether an index entry is a buildx attestation manifest, as buildx writes one: platform unknown/unknown, annotated
 * `vnd.docker.reference.type: attestation-manifest`, and `vnd.docker.reference.digest` naming another entry of the
 * same index (the platform it attests). Anything else, an entry labelled unknown/unknown or with no platform included,
 * is something a node can run when pulled by digest, so a platform whose scan the gates require.
 */
export function isAttestationEntry(entry: Descriptor, index: ImageIndex): boolean {
  const a = entry.annotations;
  if (!a || a[REFERENCE_TYPE_ANNOTATION] !== ATTESTATION_MANIFEST) return false;
  if (entry.platform?.os !== "unknown" || entry.platform.architecture !== "unknown") return false;
  const subject = a[REFERENCE_DIGEST_ANNOTATION];
  return !!subject && subject !== entry.digest && index.manifests.some((m) => m.digest === subject && m !== entry);
}

export function indexPlatforms(index: ImageIndex): Platform[] {
  return index.manifests.map((m) => ({
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.size,
    os: m.platform?.os ?? "unknown",
    architecture: m.platform?.architecture ?? "unknown",
    ...(m.platform?.variant ? { variant: m.platform.variant } : {}),
    ...(isAttestationEntry(m, index) ? { attestation: true as const } : {}),
  }));
}
