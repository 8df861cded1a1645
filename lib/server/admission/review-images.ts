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
        // No cap here: kube-apiserver passes the pod's image strings as written, and an error status is a webhook
        // failure it may turn into an admission (defaultAllow: true). Too many containers, or a string that is no
        // reference, is a deny instead (reviewImages, parseRef), answered and audited like any other.
        containers: z.array(z.object({ image: z.string() }).loose()).default([]),
        // The pod's *.image-policy.k8s.io/* annotations, as the pod's author wrote them (line breaks included); unused.
        annotations: z.record(z.string(), z.unknown()).optional(),
        namespace: z.string().max(253).default(""),
      })
      .loose(),
  })
  .loose();

export type ImageReviewRequest = z.infer<typeof imageReviewSchema>;

/**
 * The body paths whose strings come from the pod's author through kube-apiserver untouched: the annotations, and each
 * container's image. parseBody leaves them out of its control-character refusal (a 422 there would be a webhook
 * failure, see above); an image string is judged by parseRef, and annotations are not read.
 */
export const imageReviewPodPaths = (path: readonly (string | number)[]) =>
  path[0] === "spec" && (path[1] === "annotations" || (path[1] === "containers" && path.length === 4 && path[3] === "image"));

/** Containers judged in one review; a review listing more is denied whole (no pod has that many). */
const MAX_CONTAINERS = 500;
/** An audited image string is cut here (a reference is at most 1024 characters; longer ones are denied). */
const AUDITED_IMAGE_CHARS = 1100;
const audited = (image: string) => (image.length > AUDITED_IMAGE_CHARS ? `${image.slice(0, AUDITED_IMAGE_CHARS)}…` : image);

/**
 * Kubernetes ImagePolicyWebhook: allowed when every container image is referenced by digest and carries a valid
 * signature of the stage its namespace requires. Tags are refused (the kubelet resolves a tag again later).
 * Answered from Postgres only, in one statement (the namespace policy and every container's decision, see
 * evaluateReview). Each decision is audited before it is answered.
 */
export async function reviewImages({ actor, review }: { actor: Actor; review: ImageReviewRequest }) {
  const ns = review.spec.namespace;
  const images = review.spec.containers.map((c) => c.image);
  const tooMany = images.length > MAX_CONTAINERS;
  const { requirement: req, verdicts } = tooMany ? { requirement: null, verdicts: [] } : await evaluateReview({ namespace: ns, images });
  const respond = (allowed: boolean, reason: string, audit: Record<string, string> = {}) => ({
    apiVersion: "imagepolicy.k8s.io/v1alpha1" as const,
    kind: "ImageReview" as const,
    status: { allowed, ...(allowed ? {} : { reason }), ...(Object.keys(audit).length ? { auditAnnotations: audit } : {}) },
  });
  let result;
  if (tooMany) {
    result = respond(false, `the ImageReview lists ${images.length} containers; Imprimatur judges at most ${MAX_CONTAINERS} in one review`);
  } else if (images.length === 0) {
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
      images: [...new Set(images)].slice(0, MAX_CONTAINERS).map(audited),
      containers: images.length,
      denied: req && !req.exempt ? [...new Set(verdicts.filter((v) => !v.allowed).map((v) => v.image))].map(audited) : [],
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
