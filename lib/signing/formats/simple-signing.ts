import { z } from "zod";
import { isDigest } from "../../oci/digest";

export const COSIGN_SIGNATURE_TYPE = "cosign container image signature";
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";

export interface SimpleSigningPayload {
  critical: {
    identity: { "docker-reference": string };
    image: { "docker-manifest-digest": string };
    type: string;
  };
  optional: Record<string, unknown> | null;
}

/**
 * Builds the payload bytes cosign signs, in cosign's key order and compact form.
 * Optional values must be strings: cosign's `-a key=value` checks compare them as strings.
 */
export function buildSimpleSigningPayload(opts: { dockerReference: string; digest: string; optional?: Record<string, string> }): Buffer {
  if (!isDigest(opts.digest)) throw new Error(`not a digest: ${opts.digest}`);
  for (const [k, v] of Object.entries(opts.optional ?? {})) {
    if (typeof v !== "string") throw new Error(`optional.${k} must be a string`);
  }
  const payload: SimpleSigningPayload = {
    critical: {
      identity: { "docker-reference": opts.dockerReference },
      image: { "docker-manifest-digest": opts.digest },
      type: COSIGN_SIGNATURE_TYPE,
    },
    optional: opts.optional && Object.keys(opts.optional).length ? opts.optional : null,
  };
  return Buffer.from(JSON.stringify(payload), "utf8");
}

const payloadSchema = z
  .object({
    critical: z
      .object({
        identity: z.object({ "docker-reference": z.string() }).loose(),
        image: z.object({ "docker-manifest-digest": z.string() }).loose(),
        type: z.string(),
      })
      .loose(),
    optional: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .loose();

export function parseSimpleSigningPayload(bytes: Uint8Array): SimpleSigningPayload | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return { error: "payload is not JSON" };
  }
  const r = payloadSchema.safeParse(json);
  if (!r.success) return { error: `payload is not a simple-signing document (${r.error.issues.map((i) => i.path.join(".") || "root").join(", ")})` };
  return { critical: r.data.critical, optional: r.data.optional ?? null };
}
