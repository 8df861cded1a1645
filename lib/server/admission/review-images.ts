import "server-only";
import { z } from "zod";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { stageAuditEventGrouped } from "../audit/stage-audit-event-grouped";
import { db } from "../../db";
import { evaluateReview } from "./evaluate-image";

export const imageReviewSchema = z
  .object({
    apiVersion: z.literal("imagepolicy.k8s.io/v1alpha1"),
    kind: z.literal("ImageReview"),
    spec: z
      .object({
        containers: z
          .array(z.object({ image: z.string().max(1024) }).loose())
          .max(500)
          .default([]),
        annotations: z.record(z.string(), z.string()).optional(),
        namespace: z.string().max(253).default(""),
      })
      .loose(),
  })
  .loose();

export type ImageReviewRequest = z.infer<typeof imageReviewSchema>;

/**
 * Kubernetes ImagePolicyWebhook: allowed when every container image is referenced by digest and carries a valid
 * signature of the stage its namespace requires. Tags are refused (the kubelet resolves a tag again later).
 * Answered from Postgres only, in one statement (the namespace policy and every container's decision, see
 * evaluateReview). Each decision is audited before it is answered.
 */
export async function reviewImages({ actor, review }: { actor: Actor; review: ImageReviewRequest }) {
  const ns = review.spec.namespace;
  const { requirement: req, verdicts } = await evaluateReview({ namespace: ns, images: review.spec.containers.map((c) => c.image) });
  const respond = (allowed: boolean, reason: string, audit: Record<string, string> = {}) => ({
    apiVersion: "imagepolicy.k8s.io/v1alpha1" as const,
    kind: "ImageReview" as const,
    status: { allowed, ...(allowed ? {} : { reason }), ...(Object.keys(audit).length ? { auditAnnotations: audit } : {}) },
  });
  let result;
  const images = review.spec.containers.map((c) => c.image);
  if (images.length === 0) {
    // Kubernetes never asks about a pod without images; an empty review vouches for nothing, so it admits nothing.
    result = respond(false, "the ImageReview lists no containers: there is nothing to admit");
  } else if (!req) {
    result = respond(false, `namespace ${ns || "(none)"} has no image policy in Imprimatur and there is no default ("*")`);
  } else if (req.exempt) {
    result = respond(true, "", { "imprimatur.dev/exempt-namespace": ns });
  } else {
    const denied = verdicts.filter((v) => !v.allowed).map((v) => `${v.image}: ${v.reasons.join("; ")}`);
    result = denied.length ? respond(false, denied.join(" | ").slice(0, 2000)) : respond(true, "", { "imprimatur.dev/stage": req.stage });
  }
  // Staged, not chained inline: admission runs at cluster request rates (see stage-audit-event.ts). Concurrent
  // reviews share one INSERT (group commit); this answer waits for its own row to be committed.
  await stageAuditEventGrouped({
    actor,
    action: "admission.review",
    outcome: result.status.allowed ? "success" : "denied",
    target: `namespace ${ns}`,
    // Every distinct image, so the trail answers "when did this digest enter the cluster" for each (at most 500).
    detail: {
      images: [...new Set(images)],
      containers: images.length,
      denied: req && !req.exempt ? [...new Set(verdicts.filter((v) => !v.allowed).map((v) => v.image))] : [],
      allowed: result.status.allowed,
      reason: result.status.reason ?? null,
    },
  });
  return result;
}

export async function setNamespacePolicy({ actor, namespace, stage, exempt }: { actor: Actor; namespace: string; stage?: string | null; exempt?: boolean }) {
  if (actor.kind === "user" && actor.role !== "admin") throw new AppError("FORBIDDEN", "setting admission policies needs role admin");
  if (!/^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/.test(namespace))
    throw new AppError("INVALID_INPUT", "namespace must be a Kubernetes namespace name or *", "namespace");
  if (!exempt && !stage) throw new AppError("INVALID_INPUT", "give a stage, or exempt", "stage");
  const stageRow = stage ? await db.stage.findUnique({ where: { name: stage } }) : null;
  if (stage && !stageRow) throw new AppError("NOT_FOUND", `unknown stage ${stage}`, "stage");
  return db.$transaction(async (tx) => {
    const row = await tx.namespacePolicy.upsert({
      where: { namespace },
      create: { namespace, stageId: stageRow?.id ?? null, exempt: Boolean(exempt) },
      update: { stageId: stageRow?.id ?? null, exempt: Boolean(exempt), updatedAt: new Date() },
    });
    await appendAuditEvent(tx, {
      actor,
      action: "admission.policy.set",
      target: `namespace ${namespace}`,
      detail: { stage: stage ?? null, exempt: Boolean(exempt) },
    });
    return row;
  });
}
