// The contract's operations: admission. Listed in operations.ts, which the OpenAPI document is built from.
import { ADMIN, type Operation } from "./operation";
import { imageReviewSchema } from "../../admission/review-images";
import * as s from "./schemas";

export const OPS_ADMISSION: readonly Operation[] = [
  {
    method: "GET",
    path: "/api/v1/verify",
    tag: "admission",
    summary: "May this image enter this stage? (for pipelines)",
    auth: "user-or-cert",
    query: s.verifyQuery,
    ok: { status: 200, description: "{ allowed, digest, resolvedFromTag, reasons, asOf, image, stage }" },
  },
  {
    method: "POST",
    path: "/api/v1/imagereview",
    tag: "admission",
    summary: "Kubernetes ImagePolicyWebhook backend (imagepolicy.k8s.io/v1alpha1 ImageReview)",
    auth: "user-or-cert",
    body: imageReviewSchema,
    ok: { status: 200, description: "the ImageReview with status.allowed and reason" },
  },
  {
    method: "GET",
    path: "/api/v1/admission/namespaces",
    tag: "admission",
    summary: "Which stage each namespace requires",
    ok: { status: 200, description: "{ namespaces }" },
  },
  {
    method: "PUT",
    path: "/api/v1/admission/namespaces",
    tag: "admission",
    summary: "Set a namespace's required stage or exemption",
    roles: ADMIN,
    body: s.namespacePolicyBody,
    ok: { status: 200, description: "the namespace policy" },
  },
];
