// The state and requests shared by the admission CPU tools (bench/admission-cpu.ts, one request at a time;
// bench/admission-load-cpu.ts, under load): two pushed and synced images (neither approved, so the decision is
// computed by stage_decision(), the heavier path), namespace "ab" requiring stage build, and one request maker per
// route: the baseline route, verify (two digests and a tag, round robin) and a 3-container ImageReview.
import { RegistryClient } from "../../lib/oci/client";
import { pushImage } from "../../scripts/lib/oci-build";
import { benchImage, type AppStack } from "../admission";
import type { LoadRequest } from "./load";

export interface AbRoutes {
  baseline: (i: number) => LoadRequest;
  verify: (i: number) => LoadRequest;
  imagereview: (i: number) => LoadRequest;
}

export async function prepareAbRoutes(stack: AppStack): Promise<AbRoutes> {
  const admin = stack.token("admin@example.com");
  const host = new URL(stack.registryUrl).host;
  const client = new RegistryClient({ url: stack.registryUrl, timeoutMs: 30_000 });
  const imgs = [benchImage("ab/app:1"), benchImage("ab/app:2")];
  await pushImage(client, "ab/app", imgs[0]!, ["1"]);
  await pushImage(client, "ab/app", imgs[1]!, ["2"]);
  stack.cli(["sync"]);
  const ns = await stack.api("PUT", "/api/v1/admission/namespaces", admin, { namespace: "ab", stage: "build" });
  if (ns.status !== 200) throw new Error(`PUT /api/v1/admission/namespaces: HTTP ${ns.status}`);
  const refs = [`${host}/ab/app@${imgs[0]!.digest}`, `${host}/ab/app@${imgs[1]!.digest}`, `${host}/ab/app:1`];
  const auth = { authorization: `Bearer ${admin}` };
  const ok = (s: number) => (s === 200 ? null : `HTTP ${s}`);
  return {
    baseline: () => ({ method: "GET", path: "/api/auth/providers", label: "b", check: ok }),
    verify: (i) => ({ method: "GET", path: `/api/v1/verify?image=${encodeURIComponent(refs[i % 3]!)}&stage=build`, headers: auth, label: "v", check: ok }),
    imagereview: () => ({
      method: "POST",
      path: "/api/v1/imagereview",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        apiVersion: "imagepolicy.k8s.io/v1alpha1",
        kind: "ImageReview",
        spec: { containers: [refs[0], refs[1], refs[0]].map((image) => ({ image })), namespace: "ab" },
      }),
      label: "r",
      check: ok,
    }),
  };
}
