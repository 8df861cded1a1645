import "server-only";
import { createHash } from "node:crypto";
import { auditSentence } from "../../audit-catalogue";
import { db } from "../../db";
import type { Digest } from "../../oci/digest";
import { requireRole, type Actor } from "../actor";
import { trustedAuditKeys } from "../audit/audit-key";
import { foldStagedAuditEvents } from "../audit/fold-staged-audit-events";
import { getImage } from "../images/get-image";
import { getImageEvidence, parseEvidenceQuery } from "./get-image-evidence";
import { readEvidenceRaw } from "./read-evidence-raw";

export interface BuildEvidencePackOptions {
  actor: Actor;
  registry?: string | null;
  repository: string;
  digest: Digest;
  /** Raw evidence documents are embedded up to this many bytes in total; the rest are listed with their raw URL. */
  maxDocumentBytes?: number;
}

const MAX_AUDIT_EVENTS = 10_000;

type EvidenceRow = Awaited<ReturnType<typeof loadDocuments>>[number];

/** Metadata only: the bytes are read per document while the budget lasts (a streamed one from its chunks). */
function loadDocuments(imageId: string) {
  return db.evidenceDocument.findMany({ where: { imageId }, orderBy: { uploadedAt: "asc" }, omit: { raw: true } });
}

/** The pack's documents: each one's metadata, and its raw bytes (base64) while the pack's byte budget lasts. */
async function packDocuments(docs: EvidenceRow[], { maxDocumentBytes, repository, digest }: { maxDocumentBytes: number; repository: string; digest: Digest }) {
  let budget = maxDocumentBytes;
  const out = [];
  for (const d of docs) {
    // size is the stored byte count for both storages (raw, or chunks for a streamed document).
    const embed = d.size <= budget;
    if (embed) budget -= d.size;
    const raw = embed ? await readEvidenceRaw(db, d) : null;
    out.push({
      id: d.id,
      format: d.format,
      kind: d.kind,
      predicateType: d.predicateType,
      source: d.source,
      artifactDigest: d.artifactDigest,
      uploadedBy: d.uploadedBy,
      uploadedAt: d.uploadedAt.toISOString(),
      scannedAt: d.scannedAt?.toISOString() ?? null,
      tool: d.toolName ? `${d.toolName}${d.toolVersion ? ` ${d.toolVersion}` : ""}` : null,
      subjectDigest: d.subjectDigest,
      signature: { status: d.signatureStatus, by: d.signedBy, detail: d.signatureDetail },
      // Every document is packed, byte for byte; these say which ones the gates counted, and why not the others.
      counted: d.withdrawnAt === null && d.notCounted === null,
      notCounted: d.notCounted,
      withdrawnAt: d.withdrawnAt?.toISOString() ?? null,
      withdrawReason: d.withdrawReason,
      contentDigest: d.contentDigest,
      size: d.size,
      ...(raw
        ? { rawBase64: raw.toString("base64") }
        : { omitted: `larger than what is left of the pack's ${maxDocumentBytes} bytes; GET /api/v1/images/${repository}@${digest}/evidence/${d.id}/raw` }),
    });
  }
  return out;
}

function loadApprovals(imageId: string) {
  return db.approval.findMany({
    where: { imageId: imageId },
    orderBy: { createdAt: "asc" },
    include: { stage: { select: { name: true } }, approver: { select: { email: true, name: true } }, signingKey: true },
  });
}

function loadRequests(imageId: string) {
  return db.promotionRequest.findMany({
    where: { imageId: imageId },
    orderBy: { createdAt: "asc" },
    include: {
      stage: { select: { name: true } },
      requester: { select: { email: true } },
      reviews: { orderBy: { createdAt: "asc" }, include: { reviewer: { select: { email: true } } } },
    },
  });
}

function loadWaivers(registry: string, repository: string, digest: string) {
  return db.waiver.findMany({
    where: { repository: { name: repository, registry: { name: registry } }, OR: [{ digest: null }, { digest }] },
    orderBy: { createdAt: "asc" },
    include: { stage: { select: { name: true } }, grantedBy: { select: { email: true } } },
  });
}

type Approvals = Awaited<ReturnType<typeof loadApprovals>>;

function approvalsView(approvals: Approvals) {
  return approvals.map((a) => ({
    id: a.id,
    stage: a.stage.name,
    approver: a.approver.email,
    status: a.status,
    createdAt: a.createdAt.toISOString(),
    signedAt: a.signedAt?.toISOString() ?? null,
    requestId: a.requestId,
    key: { name: a.signingKey.name, fingerprint: a.signingKey.fingerprint },
    // The simple-signing payload exactly as signed, and the signature over it (cosign's layer and annotation).
    payloadBase64: Buffer.from(a.payload).toString("base64"),
    signature: a.signature,
    layerDigest: a.layerDigest,
  }));
}

function requestsView(requests: Awaited<ReturnType<typeof loadRequests>>) {
  return requests.map((r) => ({
    id: r.id,
    stage: r.stage.name,
    requester: r.requester?.email ?? null,
    note: r.note,
    status: r.status,
    breakGlass: r.breakGlass,
    createdAt: r.createdAt.toISOString(),
    decidedAt: r.decidedAt?.toISOString() ?? null,
    gateResults: r.gateResults,
    reviews: r.reviews.map((v) => ({
      reviewer: v.reviewer.email,
      decision: v.decision,
      comment: v.comment,
      breakGlass: v.breakGlass,
      waiverIds: v.waiverIds,
      gateResults: v.gateResults,
      createdAt: v.createdAt.toISOString(),
    })),
  }));
}

function waiversView(waivers: Awaited<ReturnType<typeof loadWaivers>>) {
  return waivers.map((w) => ({
    id: w.id,
    stage: w.stage.name,
    gate: w.gate,
    vulnIds: w.vulnIds,
    scope: w.digest ? "digest" : "repository",
    reason: w.reason,
    grantedBy: w.grantedBy.email,
    createdAt: w.createdAt.toISOString(),
    expiresAt: w.expiresAt.toISOString(),
    revokedAt: w.revokedAt?.toISOString() ?? null,
  }));
}

/** The image's audit events (at most MAX_AUDIT_EVENTS) with their sentences, and the last checkpoint pushed. */
async function auditPart(digests: string[]) {
  await foldStagedAuditEvents();
  const events = await db.auditEvent.findMany({ where: { targetDigest: { in: digests } }, orderBy: { seq: "asc" }, take: MAX_AUDIT_EVENTS });
  const checkpoint = await db.auditCheckpoint.findFirst({ where: { pushedAt: { not: null } }, orderBy: { number: "desc" } });
  return {
    events: events.map((e) => ({
      seq: e.seq.toString(),
      at: e.at.toISOString(),
      actorType: e.actorType,
      actorId: e.actorId,
      actorLabel: e.actorLabel,
      action: e.action,
      outcome: e.outcome,
      targetDigest: e.targetDigest,
      target: e.target,
      detail: e.detail,
      prevHash: e.prevHash,
      hash: e.hash,
      sentence: auditSentence({
        seq: e.seq.toString(),
        at: e.at.toISOString(),
        actorType: e.actorType,
        actor: e.actorLabel,
        action: e.action,
        outcome: e.outcome,
        targetDigest: e.targetDigest,
        target: e.target,
        detail: e.detail,
      }),
    })),
    truncated: events.length === MAX_AUDIT_EVENTS,
    lastCheckpoint: checkpoint
      ? {
          number: checkpoint.number,
          seq: checkpoint.headSeq.toString(),
          hash: checkpoint.headHash,
          reference: checkpoint.reference,
          payload: checkpoint.payload,
          signature: checkpoint.signature,
        }
      : null,
  };
}

/** Every key that signed something in this pack, plus each stage's key history and the trust anchors. */
async function keysPart(approvals: Approvals) {
  const keyIds = new Set(approvals.map((a) => a.signingKeyId));
  const [stageKeys, trust, auditKeys] = await Promise.all([
    db.signingKey.findMany({
      where: { OR: [{ id: { in: [...keyIds] } }, { stageId: { not: null } }] },
      orderBy: { createdAt: "asc" },
      include: { stage: { select: { name: true } } },
    }),
    db.trustIdentity.findMany({ orderBy: { name: "asc" } }),
    trustedAuditKeys().catch(() => []),
  ]);
  return {
    signing: stageKeys.map((k) => ({
      name: k.name,
      stage: k.stage?.name ?? null,
      fingerprint: k.fingerprint,
      algorithm: k.algorithm,
      publicKeyPem: k.publicKeyPem,
      notBefore: k.notBefore.toISOString(),
      notAfter: k.notAfter?.toISOString() ?? null,
      revokedAt: k.revokedAt?.toISOString() ?? null,
    })),
    trust: trust.map((t) => ({
      name: t.name,
      kind: t.kind,
      role: t.role,
      scope: t.scope,
      // A builder's provenance counts only for these builder ids (the provenance gate): an auditor re-checks with them.
      builderIds: t.builderIds,
      fingerprint: t.fingerprint,
      publicKeyPem: t.publicKeyPem,
      certificates: t.certificates,
      subject: t.subject,
      san: t.san,
      oidcIssuer: t.oidcIssuer,
      sigstore: t.sigstore,
    })),
    audit: auditKeys,
  };
}

/**
 * Everything about one image an auditor needs, in one JSON document: the manifest as the registry served it, the
 * signature chain with each check, the stage approvals with their exact signed payloads and signatures, requests and
 * reviews, waivers that applied, scans / SBOM / provenance byte for byte (base64, with their sha256), the audit events
 * about the image, and the public keys to check the signatures offline.
 */
export async function buildEvidencePack({ actor, registry, repository, digest, maxDocumentBytes = 64 * 1024 * 1024 }: BuildEvidencePackOptions) {
  requireRole(actor, ["admin", "manager"], "downloading an evidence pack");
  const { canApprove: _c, ...image } = await getImage({ actor, registry, repository, digest });
  const [summary, docs, approvals, requests, waivers] = await Promise.all([
    getImageEvidence({ actor, imageId: image.id, query: parseEvidenceQuery({}) }),
    loadDocuments(image.id),
    loadApprovals(image.id),
    loadRequests(image.id),
    loadWaivers(image.registry, repository, digest),
  ]);
  const audit = await auditPart([digest, ...(image.parentDigest ? [image.parentDigest] : [])]);
  const documents = await packDocuments(docs, { maxDocumentBytes, repository, digest });
  const keys = await keysPart(approvals);

  return {
    kind: "dev.imprimatur.evidence-pack.v1",
    generatedAt: new Date().toISOString(),
    generatedBy: actor.kind === "user" ? actor.email : actor.label,
    image: {
      ...image,
      rawManifest: undefined,
      manifestBytes: image.rawManifest,
      manifestSha256: `sha256:${createHash("sha256").update(image.rawManifest).digest("hex")}`,
    },
    evidence: { summary, documents },
    approvals: approvalsView(approvals),
    requests: requestsView(requests),
    waivers: waiversView(waivers),
    audit,
    keys,
  };
}
