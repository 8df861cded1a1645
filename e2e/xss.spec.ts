// Standing security suite, part 3: script planted wherever outsiders write text that the UI shows (image labels and
// annotations pushed to the real registry, SBOM component fields, provenance URLs, request notes, review comments,
// waiver reasons), then every page is visited as an admin. No dialog may open, window.__xss must stay unset, and no
// link may carry a javascript: URL.
import { expect, test, type Page } from "@playwright/test";
import { readdirSync } from "node:fs";
import { sep } from "node:path";
import { fileURLToPath } from "node:url";
import { base, bearer, pageAs, syncNow } from "./helpers";

const MARK = "window.__xss=1;alert(1)";
const HTML = `<img src=x onerror="${MARK}"><script>${MARK}</script><svg onload="${MARK}">`;
const JS_URL = `javascript:${MARK}`;
const REPO = "xss/app";

/** Every page route under app/, from the files, with dynamic segments filled in by `fill`. */
function pageRoutes(fill: Record<string, string>): string[] {
  const dir = fileURLToPath(new URL("../app", import.meta.url));
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.split(sep).at(-1) === "page.tsx")
    .map((f) =>
      `/${f
        .split(sep)
        .slice(0, -1)
        .filter((s) => !/^\(.*\)$/.test(s))
        .join("/")}`.replace(/\[(?:\.\.\.)?(\w+)\]/g, (_, n: string) => {
        if (!fill[n]) throw new Error(`no value for [${n}] in ${f}`);
        return fill[n]!;
      }),
    )
    .sort();
}

async function assertNoScriptRan(page: Page, url: string, dialogs: string[]) {
  await page.goto(url);
  await page.waitForLoadState("networkidle");
  expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss), `script ran on ${url}`).toBeUndefined();
  const jsLinks = await page.$$eval("a[href], area[href], iframe[src], form[action]", (els) =>
    els.map((e) => e.getAttribute("href") ?? e.getAttribute("src") ?? e.getAttribute("action") ?? "").filter((h) => /^\s*javascript:/i.test(h)),
  );
  expect(jsLinks, `javascript: link on ${url}`).toEqual([]);
  expect(dialogs, `dialog opened on ${url}`).toEqual([]);
}

test("script planted in registry data, evidence, notes, comments and reasons never runs on any page", async ({ browser, request }) => {
  test.setTimeout(240_000);
  const { buildImage, pushImage } = await import("../scripts/lib/oci-build");
  const { RegistryClient } = await import("../lib/oci/client");
  const image = buildImage({
    architecture: "amd64",
    layers: [{ "etc/xss": `xss ${Date.now()}\n` }],
    labels: {
      "org.opencontainers.image.title": HTML,
      "org.opencontainers.image.source": JS_URL,
      "org.opencontainers.image.url": JS_URL,
      "org.opencontainers.image.description": HTML,
    },
    annotations: { "org.opencontainers.image.title": HTML, "org.opencontainers.image.source": JS_URL, "org.opencontainers.image.base.name": HTML },
  });
  await pushImage(new RegistryClient({ url: process.env.E2E_REGISTRY_URL! }), REPO, image, ["xss"]);
  await syncNow(request);
  const digest = image.digest;
  const hex = digest.slice("sha256:".length);
  const dev = bearer("dev@example.com");
  const evidenceUrl = `${base()}/api/v1/images/${REPO}@${digest}/evidence?registry=default`;

  const sbom = await request.post(evidenceUrl, {
    headers: { ...dev, "content-type": "application/json" },
    data: {
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      version: 1,
      metadata: { component: { type: "container", name: HTML }, tools: [{ name: HTML, version: HTML }] },
      components: [
        {
          type: "library",
          name: HTML,
          version: HTML,
          purl: `pkg:npm/${encodeURIComponent(HTML)}@1.0.0`,
          licenses: [{ license: { name: HTML, url: JS_URL } }],
          externalReferences: [{ type: "website", url: JS_URL }],
        },
      ],
    },
  });
  expect(sbom.status(), await sbom.text()).toBeLessThan(300);

  const provenance = await request.post(evidenceUrl, {
    headers: { ...dev, "content-type": "application/json" },
    data: {
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: HTML, digest: { sha256: hex } }],
      predicateType: "https://slsa.dev/provenance/v1",
      predicate: {
        buildDefinition: {
          buildType: JS_URL,
          externalParameters: { source: JS_URL, workflow: { repository: JS_URL, path: HTML, ref: HTML } },
          resolvedDependencies: [{ uri: JS_URL, digest: { sha1: "0".repeat(40) } }],
        },
        runDetails: { builder: { id: JS_URL }, metadata: { invocationId: JS_URL } },
      },
    },
  });
  // Unsigned provenance may be stored or refused by policy; either way it must not be a server error.
  expect(provenance.status(), await provenance.text()).toBeLessThan(500);

  const req = await request.post(`${base()}/api/v1/requests`, {
    headers: dev,
    data: { registry: "default", repository: REPO, digest, stage: "build", note: `${HTML} ${JS_URL}` },
  });
  expect(req.status(), await req.text()).toBeLessThan(300);
  const requestId = (await req.json()).id as string;
  const review = await request.post(`${base()}/api/v1/requests/${requestId}/reviews`, {
    headers: bearer("alice@example.com"),
    data: { decision: "reject", comment: `${HTML} ${JS_URL}` },
  });
  expect(review.status(), await review.text()).toBeLessThan(300);
  const waiver = await request.post(`${base()}/api/v1/waivers`, {
    headers: bearer("carol@example.com"),
    data: {
      stage: "test",
      gate: "findings",
      registry: "default",
      repository: REPO,
      digest,
      reason: `${HTML} ${JS_URL}`,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  });
  expect(waiver.status(), await waiver.text()).toBeLessThan(300);

  const page = await pageAs(browser, "admin@example.com");
  const dialogs: string[] = [];
  page.on("dialog", async (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss();
  });
  const imagePage = `${REPO}@${digest}`;
  const urls = pageRoutes({ ref: imagePage, id: requestId }).filter((u) => u !== "/signin");
  expect(urls.length).toBeGreaterThanOrEqual(12);
  const extra = ["sbom", "vulnerabilities", "provenance", "signatures", "history", "evidence"].map((t) => `/images/${imagePage}?registry=default&tab=${t}`);
  extra.push(`/search?q=${encodeURIComponent("pkg:npm/")}`, `/search?q=${encodeURIComponent(HTML)}`, `/images?q=${encodeURIComponent(HTML)}`);
  for (const u of [...urls.map((u) => (u.startsWith("/images/") ? `${u}?registry=default` : u)), ...extra])
    await assertNoScriptRan(page, `${base()}${u}`, dialogs);
  // The payload is shown as text somewhere, so the test exercised the rendering (it did not just miss the data).
  await page.goto(`${base()}/requests/${requestId}`);
  await expect(page.getByText(HTML, { exact: false }).first()).toBeVisible();
});
