import { expect, test } from "@playwright/test";
import { base, PASSWORDS, signIn } from "./helpers";

test("the API reference renders the generated document under the strict CSP, offline, and expands an operation", async ({ page, request }) => {
  // The document is public and cacheable.
  const doc = await request.get(`${base()}/api/v1/openapi.json`);
  expect(doc.status()).toBe(200);
  expect(doc.headers()["cache-control"]).toContain("public");
  const json = (await doc.json()) as { openapi: string; paths: Record<string, unknown> };
  expect(json.openapi).toBe("3.1.0");
  expect(Object.keys(json.paths)).toContain("/api/v1/requests");

  // No request may leave the app's origin (the viewer is bundled), and the page must not trip its own CSP.
  const foreign: string[] = [];
  const cspViolations: string[] = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (!["http:", "https:"].includes(u.protocol)) return;
    if (u.origin !== new URL(base()).origin) foreign.push(r.url());
  });
  page.on("pageerror", (e) => cspViolations.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.log("[browser]", m.text().slice(0, 300));
    if (/Content Security Policy|Refused to (execute|load|evaluate)/i.test(m.text())) cspViolations.push(m.text());
  });

  await signIn(page, "bob@example.com", PASSWORDS["bob@example.com"]!);
  const res = await page.goto(`${base()}/api-docs`);
  expect(res!.headers()["content-security-policy"]).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/);
  await expect(page.getByRole("heading", { name: "API reference" })).toBeVisible();
  // Swagger UI breaks paths with zero-width spaces after each "/"; the data-path attribute holds the path as is.
  const op = page.locator('.opblock-summary-path[data-path="/api/v1/requests/{id}/reviews"]').first();
  await expect(op).toBeVisible({ timeout: 30_000 });
  // Once rendered, the reference no longer tells assistive technology to wait.
  await expect(page.getByTestId("api-reference")).toHaveAttribute("aria-busy", "false", { timeout: 30_000 });
  await op.click();
  // The expanded operation shows the body schema generated from zod (decision: approve | reject) and the error envelope.
  const block = page.locator(".opblock.is-open").first();
  await expect(block).toContainText("Approve or reject a request");
  await expect(block.locator(".opblock-body")).toContainText("422", { timeout: 45_000 });
  await expect(block).toContainText("Roles: reviewer, admin");
  expect(foreign).toEqual([]);
  expect(cspViolations).toEqual([]);
});
