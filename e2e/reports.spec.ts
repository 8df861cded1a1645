import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { base, bearer, pushOwnImage, query, signIn } from "./helpers";

test("a manager opens the reports, sees a chart with its table, and downloads the approvals as CSV", async ({ page, request }) => {
  // Each token is made by the CLI (a process start): make the three once. The machine is shared, so be patient.
  test.setTimeout(240_000);
  const dev = bearer("dev@example.com");
  const alice = bearer("alice@example.com");
  const admin = bearer("admin@example.com");
  // A request of our own that alice rejects: the test stage's row for team "rptspec" must show it.
  const repo = "rptspec/api";
  const { digest } = await pushOwnImage(repo, "reports");
  const sync = await request.post(`${base()}/api/v1/sync`, { headers: admin, data: { registry: "default" } });
  expect(sync.status()).toBe(202);
  const runId = (await sync.json()).id as string;
  await expect
    .poll(async () => (await (await request.get(`${base()}/api/v1/sync-runs/${runId}`, { headers: admin })).json()).status, { timeout: 120_000 })
    .not.toMatch(/^(queued|running)$/);
  const created = await request.post(`${base()}/api/v1/requests`, {
    headers: dev,
    data: { registry: "default", repository: repo, digest, stage: "test", note: "for the report" },
  });
  expect([200, 201]).toContain(created.status());
  const id = (await created.json()).id as string;
  const res = await request.post(`${base()}/api/v1/requests/${id}/reviews`, { headers: alice, data: { decision: "reject", comment: "not this one" } });
  expect(res.status(), await res.text()).toBe(201);

  await signIn(page, "manager@example.com", "manager-demo-pass");
  await page.getByRole("link", { name: "Reports", exact: true }).click();
  await expect(page).toHaveURL(/\/reports$/);
  await expect(page.getByTestId("report-period")).toContainText("generated");
  const section = page.getByTestId("report-approvals");
  // The chart is an SVG image with a text alternative naming the values; the same numbers are in the table.
  const chart = section.getByRole("img", { name: /Approvals and rejections/ });
  await expect(chart).toBeVisible();
  await expect(section.locator("svg desc")).toContainText("test · rptspec: approved 0, rejected 1");
  const row = section.getByTestId("table-approvals").locator("tr", { hasText: "rptspec" });
  await expect(row.locator("td")).toHaveText(["test", "rptspec", "1", "0", "1", "0", "0"]);

  // The period is in the URL and the export link carries it.
  await page.getByLabel("From", { exact: true }).fill(new Date(Date.now() - 86_400_000).toISOString().slice(0, 10));
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await expect(page).toHaveURL(/from=\d{4}-\d{2}-\d{2}/);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-approvals-csv").click()]);
  expect(download.suggestedFilename()).toMatch(/^imprimatur-approvals-\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = readFileSync((await download.path())!, "utf8").split("\r\n");
  expect(csv[0]).toBe("stage,team,requested,approved,rejected,withdrawn,break_glass");
  expect(csv).toContain("test,rptspec,1,0,1,0,0");
  const rejected = await query(`SELECT status FROM promotion_requests WHERE id = $1`, [id]);
  expect(rejected).toEqual([{ status: "rejected" }]);
});

test("a developer has no reports", async ({ page }) => {
  await signIn(page, "dev@example.com", "dev-demo-pass");
  await expect(page.getByRole("link", { name: "Reports", exact: true })).toHaveCount(0);
  await page.goto(`${base()}/reports`);
  await expect(page.getByText("Reports are open to managers and admins.")).toBeVisible();
  expect((await page.request.get(`${base()}/api/v1/reports/approvals`)).status()).toBe(403);
});
