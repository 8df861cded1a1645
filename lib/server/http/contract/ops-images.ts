// The contract's operations: images and evidence. Listed in operations.ts, which the OpenAPI document is built from.
import { IMAGE_REF, type Operation } from "./operation";
import { evidenceQuery } from "../../evidence/get-image-evidence";
import { listImagesQuery } from "../../images/list-images";
import * as s from "./schemas";

export const OPS_IMAGES: readonly Operation[] = [
  {
    method: "GET",
    path: "/api/v1/images",
    tag: "images",
    summary: "List images (filtered, sorted, paged)",
    query: listImagesQuery,
    ok: { status: 200, description: "{ images, total, page, pageSize }" },
  },
  {
    method: "GET",
    path: "/api/v1/images/[...ref]",
    tag: "images",
    summary: "An image with its signatures and stages; its evidence; a stored evidence document; the evidence pack",
    params: { ref: IMAGE_REF },
    query: evidenceQuery.extend(s.imageRegistryQuery.shape),
    ok: { status: 200, description: "JSON; `…/evidence/{id}/raw` is application/octet-stream, `…/evidence-pack` a JSON download" },
  },
  {
    method: "POST",
    path: "/api/v1/images/[...ref]",
    tag: "evidence",
    summary: "Upload a scan, SBOM, VEX or attestation to `…/evidence`",
    roles: ["admin", "developer", "reviewer"],
    params: { ref: IMAGE_REF },
    query: s.imageRegistryQuery,
    rawBody: {
      mediaTypes: ["application/json", "application/x-ndjson", "application/vnd.in-toto+json", "application/octet-stream"],
      description:
        "the document as uploaded (Trivy, Grype, CycloneDX, SPDX, OpenVEX, in-toto / DSSE; JSON Lines for several statements), up to EVIDENCE_MAX_BYTES",
    },
    ok: { status: 201, description: "{ created, document, documents? }" },
    alsoOk: { status: 200, description: "the same document was already there" },
  },
  {
    method: "GET",
    path: "/api/v1/my-images",
    tag: "images",
    summary: "Digests I requested or built, their stage, what blocks the next one",
    ok: { status: 200, description: "{ images }" },
  },
  {
    method: "GET",
    path: "/api/v1/evidence-uploaders",
    tag: "evidence",
    summary: "Which group's members may attach evidence to which repositories",
    ok: { status: 200, description: "{ rules }" },
  },
  {
    method: "PUT",
    path: "/api/v1/evidence-uploaders",
    tag: "evidence",
    summary: "Replace the evidence-uploader rules (admins)",
    body: s.evidenceUploadersBody,
    ok: { status: 200, description: "{ rules }" },
  },
  {
    method: "POST",
    path: "/api/v1/evidence/[id]/withdraw",
    tag: "evidence",
    summary: "Withdraw an evidence document (kept, shown withdrawn, no longer counted; admins)",
    body: s.withdrawEvidenceBody,
    ok: { status: 200, description: "the withdrawn document" },
  },
  {
    method: "GET",
    path: "/api/v1/search/packages",
    tag: "evidence",
    summary: "Fleet search by package and version range (JSON or CSV)",
    query: s.searchPackagesQuery,
    ok: {
      status: 200,
      description:
        "{ results, total, truncated }; text/csv with format=csv. truncated: the package has more versions than one search reads (results may be missing; the CSV says so in the X-Imprimatur-Truncated header)",
    },
  },
  {
    method: "GET",
    path: "/api/v1/advisories",
    tag: "evidence",
    summary: "Search the stored OSV advisories",
    query: s.advisoriesQuery,
    ok: { status: 200, description: "{ advisories, total, page }" },
  },
  {
    method: "POST",
    path: "/api/v1/advisories",
    tag: "evidence",
    summary: "Import OSV records (one, an array, or an osv.dev ecosystem ZIP)",
    roles: ["admin", "reviewer"],
    rawBody: {
      mediaTypes: ["application/json", "application/zip", "application/x-zip-compressed", "application/octet-stream"],
      description: "OSV JSON or a ZIP of OSV JSON files, up to ADVISORY_MAX_BYTES",
    },
    ok: { status: 201, description: "counts: created, updated, unchanged, skipped, findings, images" },
  },
];
