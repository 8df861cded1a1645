// Repro (security review, decisions): ImageReview bodies that kube-apiserver really sends for a pod whose author
// chose its annotations or image strings must be answered 200 with allowed:false, never with an error status.
// Any non-2xx answer is a webhook failure to kube-apiserver, which then admits the whole pod when the
// ImagePolicyWebhook is configured with defaultAllow: true (the Kubernetes docs' own example).
import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import * as imageReviewRoute from "../../../app/api/v1/imagereview/route";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { createToken } from "../tokens/create-token";
import { setNamespacePolicy } from "./review-images";

const system: Actor = { kind: "system", label: "repro" };
const cli: Actor = { kind: "cli", label: "repro" };
let host: string;
let unapproved: string;
let token: string;

type Handler = (req: NextRequest, ctx: { params: Promise<never> }) => Promise<Response>;
async function review(spec: unknown) {
  const req = new NextRequest("http://127.0.0.1/api/v1/imagereview", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec }),
  });
  const res = await (imageReviewRoute.POST as unknown as Handler)(req, { params: Promise.resolve({}) as Promise<never> });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  const b = buildImage({ architecture: "amd64", layers: [{ "evil.txt": "never approved" }] });
  await pushImage(client, "podinput/app", b, ["evil"]);
  await syncRegistry({ actor: system });
  unapproved = b.digest;
  await setNamespacePolicy({ actor: system, namespace: "prod-apps", stage: "prod" });
  token = (await createToken({ actor: cli, email: "dev@example.com", scopes: ["admission"], expires: "1d" })).token;
});

afterAll(async () => {
  await disconnectDb();
});

describe("ImageReview answers every pod kube-apiserver can send with a verdict, not an error", () => {
  it("baseline: the unapproved image alone is denied with 200", async () => {
    const r = await review({ containers: [{ image: `${host}/podinput/app@${unapproved}` }], namespace: "prod-apps" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: { allowed: false } });
  });

  it("a pod annotation *.image-policy.k8s.io/* whose value has a line break (legal in Kubernetes) still gets a 200 deny", async () => {
    const r = await review({
      containers: [{ image: `${host}/podinput/app@${unapproved}` }],
      annotations: { "note.image-policy.k8s.io/ticket": "line one\nline two" },
      namespace: "prod-apps",
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: { allowed: false } });
  });

  it("a pod with a second container whose image string carries a control character still gets a 200 deny", async () => {
    const r = await review({
      containers: [{ image: `${host}/podinput/app@${unapproved}` }, { image: "busybox\u0085" }],
      namespace: "prod-apps",
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: { allowed: false } });
  });

  it("a pod with an image string over 1024 characters still gets a 200 deny", async () => {
    const r = await review({
      containers: [{ image: `${host}/podinput/app@${unapproved}` }, { image: `${host}/${"a".repeat(1100)}:x` }],
      namespace: "prod-apps",
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: { allowed: false } });
  });

  it("a NUL in an image string, a control character in an annotation key, or 501 containers: each a 200 deny, audited", async () => {
    const before = await db.auditOutbox.count({ where: { action: "admission.review" } });
    const nul = await review({ containers: [{ image: `${host}/podinput/app@${unapproved}` }, { image: "reg\u0000.io/x:1" }], namespace: "prod-apps" });
    expect(nul.status).toBe(200);
    expect(nul.body).toMatchObject({ status: { allowed: false } });
    expect(String((nul.body.status as { reason: string }).reason)).toContain("control character U+0000");
    const key = await review({
      containers: [{ image: `${host}/podinput/app@${unapproved}` }],
      annotations: { "a\u0001.image-policy.k8s.io/x": "y" },
      namespace: "prod-apps",
    });
    expect(key).toMatchObject({ status: 200, body: { status: { allowed: false } } });
    const many = await review({ containers: Array.from({ length: 501 }, () => ({ image: `${host}/podinput/app@${unapproved}` })), namespace: "prod-apps" });
    expect(many.status).toBe(200);
    expect(many.body).toMatchObject({ status: { allowed: false, reason: expect.stringContaining("at most 500") } });
    const rows = await db.auditOutbox.findMany({ where: { action: "admission.review" }, orderBy: { id: "desc" }, take: 3 });
    expect(await db.auditOutbox.count({ where: { action: "admission.review" } })).toBe(before + 3);
    expect(rows.map((r) => (r.detail as { allowed: boolean }).allowed)).toEqual([false, false, false]);
    expect((rows[0]!.detail as { containers: number }).containers).toBe(501);
  });

  it("still refuses what is not an ImageReview, and control characters outside the pod's strings", async () => {
    const req = (body: unknown) =>
      new NextRequest("http://127.0.0.1/api/v1/imagereview", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const call = async (body: unknown) =>
      (await (imageReviewRoute.POST as unknown as Handler)(req(body), { params: Promise.resolve({}) as Promise<never> })).status;
    expect(await call({ apiVersion: "v1", kind: "ImageReview", spec: { containers: [] } })).toBe(422);
    expect(await call({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { namespace: "a\u0001", containers: [] } })).toBe(422);
  });
});
