import { z } from "zod";
import { OciError } from "./digest";
import { isImageManifestMediaType, isIndexMediaType } from "./media-types";

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
  | { kind: "index"; mediaType: string; index: ImageIndex };

/**
 * Parses manifest bytes. The media type comes from the document when it states one,
 * else from the Content-Type the registry sent, else from its shape.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new OciError("BAD_RESPONSE", "manifest is not valid JSON");
  }
  const declared = typeof (json as { mediaType?: unknown })?.mediaType === "string" ? (json as { mediaType: string }).mediaType : undefined;
  const ct = contentType?.split(";")[0]?.trim();
  const hasManifests = Array.isArray((json as { manifests?: unknown })?.manifests);
  const mediaType = declared ?? (ct && (isIndexMediaType(ct) || isImageManifestMediaType(ct)) ? ct : hasManifests ? "application/vnd.oci.image.index.v1+json" : "application/vnd.oci.image.manifest.v1+json");
  if (isIndexMediaType(mediaType) || (hasManifests && !isImageManifestMediaType(mediaType))) {
    const r = indexSchema.safeParse(json);
    if (!r.success) throw new OciError("BAD_RESPONSE", `invalid image index: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    return { kind: "index", mediaType, index: r.data };
  }
  const r = imageManifestSchema.safeParse(json);
  if (!r.success) throw new OciError("BAD_RESPONSE", `invalid image manifest: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return { kind: "manifest", mediaType, manifest: r.data };
}

export interface Platform {
  digest: string;
  mediaType: string;
  size: number;
  os: string;
  architecture: string;
  variant?: string;
}

export function indexPlatforms(index: ImageIndex): Platform[] {
  return index.manifests.map((m) => ({
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.size,
    os: m.platform?.os ?? "unknown",
    architecture: m.platform?.architecture ?? "unknown",
    ...(m.platform?.variant ? { variant: m.platform.variant } : {}),
  }));
}
