import "server-only";
import { db } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { pullReference } from "../../oci/reference";
import {
  generateStagePolicy,
  isPolicyFormat,
  POLICY_FORMATS,
  PolicyInputError,
  repositoryGlobs,
  type GeneratedPolicy,
  type PolicyKey,
} from "../../policy/admission/generate-policy";
import type { Actor } from "../actor";

export interface ExportStagePolicyOptions {
  actor: Actor;
  stage: string;
  /** kyverno | kyverno-clusterpolicy | policy-controller | cosign; anything else is refused listing these. */
  format: string;
  /**
   * Image patterns the admin sets (globs, e.g. `registry.example/team/*`). When absent, the repositories that have
   * promotion requests for the stage, each matched by tag and by digest.
   */
  images?: string[];
  /** Also require the signed SLSA verification summary with verificationResult PASSED. */
  requireVerificationSummary?: boolean;
}

/** What identifies this instance in generated policies and verification summaries. */
export function instanceId(): string {
  return env().NEXTAUTH_URL?.replace(/\/+$/, "") || "imprimatur";
}

/**
 * The admission policy for one stage in the format a cluster (or pipeline) uses, generated from the stage's current
 * key and its earlier unrevoked keys, the namespaces the admission settings map to it, and the images it covers.
 * Only public material goes in, so any signed-in user may export it. A stage with no usable current key is a 409:
 * a policy without the key would admit nothing, and one without keys at all everything.
 */
export async function exportStagePolicy({
  actor: _actor,
  stage: name,
  format,
  images,
  requireVerificationSummary = false,
}: ExportStagePolicyOptions): Promise<GeneratedPolicy> {
  if (!isPolicyFormat(format))
    throw new AppError("INVALID_INPUT", `unknown format ${JSON.stringify(format.slice(0, 64))}; formats: ${POLICY_FORMATS.join(", ")}`, "format");
  const stage = await db.stage.findUnique({
    where: { name },
    select: { id: true, name: true, requiredApprovals: true, emitBundle: true, approvalTtlDays: true },
  });
  if (!stage) throw new AppError("NOT_FOUND", `no stage ${name}`);

  const now = new Date();
  const rows = await db.signingKey.findMany({
    where: { stageId: stage.id },
    select: { name: true, publicKeyPem: true, fingerprint: true, retiredAt: true, revokedAt: true, notBefore: true, notAfter: true },
    orderBy: { createdAt: "asc" },
  });
  // A revoked key's signatures are void; a retired key's signatures made before its not_after stay valid, so
  // images approved before a rotation keep being admitted.
  const usable = rows.filter((k) => !k.revokedAt && k.notBefore <= now);
  const keys: PolicyKey[] = usable.map((k) => ({
    name: k.name,
    publicKeyPem: k.publicKeyPem,
    fingerprint: k.fingerprint,
    current: !k.retiredAt,
    notAfter: k.notAfter,
  }));
  if (!keys.some((k) => k.current)) {
    if (rows.length === 0) throw new AppError("CONFLICT", `stage ${stage.name} has no signing key; create or import one before exporting a policy`);
    throw new AppError(
      "CONFLICT",
      `stage ${stage.name} has no current signing key, only ${usable.length ? "retired" : "revoked"} ones (${rows.map((k) => k.name).join(", ")}); rotate or import a key before exporting a policy`,
    );
  }

  const mappings = await db.namespacePolicy.findMany({ select: { namespace: true, stageId: true, exempt: true } });
  const mine = mappings.filter((m) => m.stageId === stage.id && !m.exempt).map((m) => m.namespace);
  const clusterWide = mine.includes("*") || mine.length === 0;
  const namespaces = clusterWide ? [] : mine;
  // Cluster-wide (the "*" default, or no mapping at all): leave out namespaces that are exempt or require another stage.
  const excludeNamespaces = clusterWide ? mappings.filter((m) => m.namespace !== "*" && (m.exempt || m.stageId !== stage.id)).map((m) => m.namespace) : [];

  let patterns = images?.map((i) => i.trim()).filter(Boolean);
  if (!patterns?.length) {
    const repos = await db.repository.findMany({
      where: { images: { some: { requests: { some: { stageId: stage.id } } } } },
      select: { name: true, registry: { select: { url: true, pullName: true } } },
      orderBy: { name: "asc" },
    });
    patterns = repos.flatMap((r) => repositoryGlobs(pullReference(r.registry.url, r.registry.pullName, r.name)));
    if (!patterns.length)
      throw new AppError(
        "CONFLICT",
        `no repository has a promotion request for stage ${stage.name} yet; pass the image patterns the policy applies to (images)`,
        "images",
      );
  }

  try {
    return generateStagePolicy(format, {
      stage: { name: stage.name, requiredApprovals: stage.requiredApprovals, emitBundle: stage.emitBundle, approvalTtlDays: stage.approvalTtlDays },
      keys,
      namespaces,
      excludeNamespaces,
      images: patterns,
      requireVerificationSummary,
      generatedBy: instanceId(),
      now,
    });
  } catch (e) {
    if (e instanceof PolicyInputError) throw new AppError("INVALID_INPUT", e.message, e.field);
    throw e;
  }
}
