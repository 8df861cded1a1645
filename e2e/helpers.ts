import { expect, type APIRequestContext, type Browser, type Page } from "@playwright/test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import pg from "pg";

export const base = () => process.env.E2E_BASE_URL!;
export const PUBLISHER_DIGEST = "sha256:20185a9526a2374f5af416a14a371b119e04a6e8c0f11867c07a94e1f7f32904";

export async function signIn(page: Page, email: string, password: string) {
  await page.goto(`${base()}/signin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("whoami")).toHaveText(email);
}

export async function query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/** An API token made with the CLI against the e2e database, as an operator would. */
export function token(email: string): string {
  const r = spawnSync(
    process.execPath,
    ["--conditions=react-server", "--import", "tsx", "scripts/cli.ts", "token", "create", "--email", email, "--expires", "1d"],
    {
      env: {
        ...process.env,
        DATABASE_URL: process.env.E2E_DATABASE_URL,
        REGISTRY_URL: process.env.E2E_REGISTRY_URL,
        IMPRIMATUR_MASTER_KEY: process.env.E2E_MASTER_KEY,
      },
      encoding: "utf8",
    },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim().split("\n").pop()!;
}

// ---- Promotion workflow helpers (requests, reviews, evidence, own images) ----

export const PASSWORDS: Record<string, string> = {
  "admin@example.com": "admin-demo-pass",
  "alice@example.com": "alice-demo-pass",
  "bob@example.com": "bob-demo-pass",
  "carol@example.com": "carol-demo-pass",
  "dev@example.com": "dev-demo-pass",
  "manager@example.com": "manager-demo-pass",
};

/** A fresh browser context signed in as `email`, so several users can act side by side in one test. */
export async function pageAs(browser: Browser, email: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await signIn(page, email, PASSWORDS[email]!);
  return page;
}

export const bearer = (email: string) => ({ Authorization: `Bearer ${token(email)}` });

/** Builds and pushes a small image of its own to the e2e registry (distinct content per `marker`). */
export async function pushOwnImage(repository: string, marker: string): Promise<{ digest: string; configDigest: string }> {
  const { buildImage, pushImage } = await import("../scripts/lib/oci-build");
  const { RegistryClient } = await import("../lib/oci/client");
  const image = buildImage({
    architecture: "amd64",
    layers: [{ "etc/e2e-marker": `${marker} ${Date.now()}\n` }],
    labels: { "org.opencontainers.image.title": marker },
  });
  const client = new RegistryClient({ url: process.env.E2E_REGISTRY_URL! });
  await pushImage(client, repository, image, [marker]);
  return { digest: image.digest, configDigest: image.blobs[0]!.digest };
}

/** The image page in the default registry (named: once a spec adds a second registry, a bare path is ambiguous). */
export const imageUrl = (repository: string, digest: string) => `${base()}/images/${repository}@${digest}?registry=default`;

/** Queues a sync as an admin and waits until it has finished. */
export async function syncNow(request: APIRequestContext) {
  const admin = bearer("admin@example.com");
  const res = await request.post(`${base()}/api/v1/sync`, { headers: admin, data: { registry: "default" } });
  expect(res.status()).toBe(202);
  const { id } = await res.json();
  await expect
    .poll(async () => (await (await request.get(`${base()}/api/v1/sync-runs/${id}`, { headers: admin })).json()).status, { timeout: 60_000 })
    .not.toMatch(/^(queued|running)$/);
}

/** The real Trivy report from lib/evidence/testdata (4 medium findings with a fix), re-pointed at this image; `critical` ids turn findings critical. */
export function trivyFor(repository: string, digest: string, configDigest: string, critical: string[] = []): Buffer {
  const trivy = JSON.parse(readFileSync("lib/evidence/testdata/trivy-alpine-3.10-schema2.json", "utf8"));
  trivy.Metadata.ImageID = configDigest;
  trivy.Metadata.RepoDigests = [`${repository}@${digest}`];
  for (const r of trivy.Results) for (const v of r.Vulnerabilities ?? []) if (critical.includes(v.VulnerabilityID)) v.Severity = "CRITICAL";
  return Buffer.from(JSON.stringify(trivy));
}

export async function uploadEvidence(request: APIRequestContext, email: string, repository: string, digest: string, body: Buffer) {
  const res = await request.post(`${base()}/api/v1/images/${repository}@${digest}/evidence?registry=default`, {
    headers: { ...bearer(email), "content-type": "application/json" },
    data: body,
  });
  expect([200, 201]).toContain(res.status());
}

/** Requests a promotion through the API and returns the request id. */
export async function requestPromotionApi(
  request: APIRequestContext,
  email: string,
  repository: string,
  digest: string,
  stage: string,
  note = "via API",
): Promise<string> {
  const res = await request.post(`${base()}/api/v1/requests`, { headers: bearer(email), data: { registry: "default", repository, digest, stage, note } });
  expect([200, 201]).toContain(res.status());
  return (await res.json()).id as string;
}

export async function approveApi(request: APIRequestContext, email: string, requestId: string, comment = "approved via API") {
  const res = await request.post(`${base()}/api/v1/requests/${requestId}/reviews`, { headers: bearer(email), data: { decision: "approve", comment } });
  expect(res.status(), await res.text()).toBe(201);
  return res.json();
}
