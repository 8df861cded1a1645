import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { imageReviewPodPaths, imageReviewSchema, reviewImages } from "@/lib/server/admission/review-images";

export const dynamic = "force-dynamic";

/** Kubernetes ImagePolicyWebhook backend (imagepolicy.k8s.io/v1alpha1 ImageReview). */
export const POST = apiHandler(
  async ({ req, actor }) => reviewImages({ actor, review: await parseBody(req, imageReviewSchema, { uncheckedPaths: imageReviewPodPaths }) }),
  { allowClientCert: true },
);
