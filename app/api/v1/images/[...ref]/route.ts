import { NextResponse } from "next/server";
import { env } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { ingestEvidenceUpload } from "@/lib/server/evidence/ingest-evidence-upload";
import { evidenceQuery, getImageEvidence } from "@/lib/server/evidence/get-image-evidence";
import { getEvidenceRaw } from "@/lib/server/evidence/get-evidence-raw";
import { imageRegistryQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";
import { apiHandler, created } from "@/lib/server/http/api-handler";
import { imageRefFromSegments } from "@/lib/server/http/image-ref";
import { bodyChunks } from "@/lib/server/http/read-body";
import { getImage } from "@/lib/server/images/get-image";
import { buildEvidencePack } from "@/lib/server/evidence/build-evidence-pack";
import { evidenceRawStream } from "@/lib/server/evidence/read-evidence-raw";
import { isUuid } from "@/lib/uuid";

export const dynamic = "force-dynamic";

type P = { ref: string[] };

/**
 * GET  /api/v1/images/{repository}@{digest}                      the image, its signatures and stages
 * GET  /api/v1/images/{repository}@{digest}/evidence-pack        one JSON download for auditors (admins, managers)
 * GET  /api/v1/images/{repository}@{digest}/evidence             documents, merged vulnerabilities, components, provenance
 * GET  /api/v1/images/{repository}@{digest}/evidence/{id}/raw    a stored document, byte for byte as uploaded
 * POST /api/v1/images/{repository}@{digest}/evidence             upload a scan, SBOM, VEX or attestation
 */
export const GET = apiHandler<P>(async ({ req, actor, params }) => {
  const { repository, digest, rest } = imageRefFromSegments(params.ref);
  if (rest.length === 1 && rest[0] === "evidence-pack") {
    const pack = await buildEvidencePack({ actor, registry: parseQuery(req.nextUrl.searchParams, imageRegistryQuery).registry ?? null, repository, digest });
    return new NextResponse(JSON.stringify(pack, null, 1), {
      headers: {
        "content-type": "application/json",
        "content-disposition": `attachment; filename="evidence-${repository.replace(/[^a-zA-Z0-9._-]+/g, "_")}-${digest.slice(7, 19)}.json"`,
        "cache-control": "no-store",
      },
    });
  }
  const { registry } = parseQuery(req.nextUrl.searchParams, imageRegistryQuery);
  const { rawManifest: _raw, ...image } = await getImage({ actor, registry: registry ?? null, repository, digest });
  if (rest.length === 0) return image;
  if (rest[0] !== "evidence") throw new AppError("NOT_FOUND", `no such resource: ${rest.join("/")}`);
  const imageId = image.id;
  if (rest.length === 1) return getImageEvidence({ actor, imageId, query: parseQuery(req.nextUrl.searchParams, evidenceQuery) });
  if (rest.length === 3 && rest[2] === "raw" && isUuid(rest[1]!)) {
    const doc = await getEvidenceRaw({ actor, imageId, documentId: rest[1]! });
    // Streamed from the stored chunks: a 200 MiB SBOM is never held whole (a small document is one chunk).
    return new NextResponse(evidenceRawStream(doc), {
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(doc.size),
        "content-disposition": `attachment; filename="${doc.format}-${doc.contentDigest.slice(7, 19)}.json"`,
        "x-content-digest": doc.contentDigest,
        // Evidence may describe unreleased software: never kept by a browser or a shared cache.
        "cache-control": "no-store",
      },
    });
  }
  throw new AppError("NOT_FOUND", `no such resource: ${rest.join("/")}`);
});

export const POST = apiHandler<P>(
  async ({ req, actor, params }) => {
    const { repository, digest, rest } = imageRefFromSegments(params.ref);
    if (rest.length !== 1 || rest[0] !== "evidence") throw new AppError("NOT_FOUND", "POST to …/evidence to upload evidence");
    const image = await getImage({ actor, registry: parseQuery(req.nextUrl.searchParams, imageRegistryQuery).registry ?? null, repository, digest });
    const max = env().EVIDENCE_MAX_BYTES;
    const declared = Number(req.headers.get("content-length") ?? "NaN");
    if (Number.isFinite(declared) && declared > max) throw new AppError("PAYLOAD_TOO_LARGE", `body is ${declared} bytes, over the ${max}-byte limit`);
    // Large CycloneDX / SPDX SBOMs are streamed into the database (issue 17); everything else is read whole, capped.
    const { document, documents, created: isNew } = await ingestEvidenceUpload({ actor, imageId: image.id, body: bodyChunks(req), maxBytes: max });
    // JSON Lines: one document per statement, each judged on its own.
    const body = { created: isNew, document, ...(documents.length > 1 ? { documents } : {}) };
    return isNew ? created(body) : NextResponse.json(body, { status: 200 });
  },
  { roles: ["admin", "developer", "reviewer"], what: "uploading evidence", bodyTypes: "evidence" },
);
