import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { approvedImage, auth, requestPromotion, syncNow, tabTo, type ApprovedImage } from "./a11y-setup";
import { base, pageAs, pushOwnImage, query } from "./helpers";

/** Every page of the app, read from the file system (route groups like "(app)" are not part of the URL). */
function pageRoutes(dir = "app"): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...pageRoutes(p));
    else if (/^page\.(tsx|ts|jsx|js|mdx)$/.test(e.name)) {
      const segs = relative("app", dir)
        .split(sep)
        .filter((s) => s && !/^\(.*\)$/.test(s));
      out.push(`/${segs.join("/")}`);
    }
  }
  return out.sort();
}

type Email = "admin@example.com" | "alice@example.com" | "dev@example.com" | "manager@example.com" | "carol@example.com";
interface Data {
  approved: ApprovedImage;
  openRequestId: string;
  revocationId: string;
}
interface Visit {
  /** Who looks at it: the roles that use the page (admin, reviewer, manager, developer); null = signed out. */
  as: Email | null;
  url: (d: Data) => string;
  /** Something that must be on the page, so an error page cannot pass as accessible. */
  expect: string | RegExp;
  /** Optional: open something (a dialog) before the scan. */
  then?: (page: Page) => Promise<void>;
}

const imagePath = (i: ApprovedImage) => `/images/${i.repo}@${i.digest}?registry=default`;

// One entry per page file; a page without an entry fails the first test. Dynamic pages are visited with real data.
const VISITS: Record<string, Visit[]> = {
  "/": [{ as: "dev@example.com", url: () => "/", expect: "Images" }],
  "/signin": [{ as: null, url: () => "/signin", expect: "Sign in to Imprimatur" }],
  "/images": [
    { as: "admin@example.com", url: () => "/images", expect: "Images" },
    { as: "dev@example.com", url: () => "/images?q=e2e", expect: "Images" },
  ],
  "/images/[...ref]": [
    { as: "alice@example.com", url: (d) => imagePath(d.approved), expect: "Stages" },
    { as: "admin@example.com", url: (d) => `${imagePath(d.approved)}&tab=vulnerabilities`, expect: "Evidence documents" },
    { as: "dev@example.com", url: (d) => `${imagePath(d.approved)}&tab=sbom`, expect: "Evidence documents" },
    {
      as: "admin@example.com",
      url: (d) => imagePath(d.approved),
      expect: "Stages",
      then: async (page) => {
        await page.getByTestId("revoke-approval").first().click();
        await expect(page.getByRole("dialog")).toBeVisible();
      },
    },
  ],
  "/requests": [
    { as: "alice@example.com", url: () => "/requests", expect: "Promotion requests" },
    { as: "dev@example.com", url: () => "/requests?view=mine", expect: "Promotion requests" },
  ],
  "/requests/[id]": [
    { as: "alice@example.com", url: (d) => `/requests/${d.openRequestId}`, expect: "Your review" },
    { as: "admin@example.com", url: (d) => `/requests/${d.openRequestId}`, expect: "Break glass" },
    { as: "dev@example.com", url: (d) => `/requests/${d.approved.requestId}`, expect: "Promote to" },
  ],
  "/revocations/[id]": [{ as: "alice@example.com", url: (d) => `/revocations/${d.revocationId}`, expect: "Bulk revocation" }],
  "/advisories": [{ as: "admin@example.com", url: () => "/advisories", expect: "Advisories" }],
  "/audit": [
    { as: "manager@example.com", url: () => "/audit", expect: "Audit trail" },
    { as: "admin@example.com", url: () => "/audit", expect: "Audit trail" },
  ],
  "/keys": [
    { as: "admin@example.com", url: () => "/keys", expect: "Rotate key of build" },
    {
      as: "admin@example.com",
      url: () => "/keys",
      expect: "Rotate key of build",
      then: async (page) => {
        await page.getByRole("button", { name: "Rotate key of build" }).click();
        await expect(page.getByRole("dialog")).toContainText("retired now");
      },
    },
    { as: "dev@example.com", url: () => "/keys", expect: "Keys and trust" },
  ],
  "/my": [{ as: "dev@example.com", url: () => "/my", expect: "My images" }],
  "/registries": [{ as: "admin@example.com", url: () => "/registries", expect: "Registries" }],
  "/search": [{ as: "alice@example.com", url: (d) => `/search?q=${encodeURIComponent(d.approved.pkg)}`, expect: "Revoke approvals of these images" }],
  "/stages": [{ as: "admin@example.com", url: () => "/stages", expect: "Stages" }],
  "/tokens": [
    { as: "dev@example.com", url: () => "/tokens", expect: "Create a token" },
    { as: "admin@example.com", url: () => "/tokens", expect: "Create a token" },
  ],
  "/users": [{ as: "admin@example.com", url: () => "/users", expect: "Users" }],
  "/reports": [
    { as: "manager@example.com", url: () => "/reports", expect: "Reports" },
    { as: "admin@example.com", url: () => "/reports", expect: "Reports" },
  ],
  "/api-docs": [{ as: "dev@example.com", url: () => "/api-docs", expect: "API reference" }],
  "/waivers": [{ as: "carol@example.com", url: () => "/waivers", expect: "Waivers" }],
};

/** Serious and critical axe violations (WCAG 2.1 A and AA), as readable lines. */
async function violations(page: Page): Promise<string[]> {
  const r = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} — ${v.nodes
          .slice(0, 5)
          .map((n) => n.target.join(" "))
          .join(" | ")}${v.nodes.length > 5 ? ` (+${v.nodes.length - 5})` : ""}`,
    );
}

// Not serial: one page's violations must not hide the next page's. The data is made once per server (a worker that
// restarts after a failure reads it back from a file named after the server's URL).
test.describe("accessibility", () => {
  let data: Data;
  const dataFile = () => join(tmpdir(), `imprimatur-a11y-${new URL(base()).port}.json`);
  test.beforeEach(() => {
    if (!data && existsSync(dataFile())) data = JSON.parse(readFileSync(dataFile(), "utf8")) as Data;
  });
  const pages = new Map<string, Page>();
  async function pageFor(browser: Browser, email: Email | null): Promise<Page> {
    const key = email ?? "anonymous";
    if (!pages.has(key)) pages.set(key, email ? await pageAs(browser, email) : await (await browser.newContext()).newPage());
    return pages.get(key)!;
  }

  test("every page file has a visit in this spec (the list is read from app/**/page.tsx)", () => {
    const routes = pageRoutes();
    expect(routes.length).toBeGreaterThan(10);
    expect(
      routes.filter((r) => !VISITS[r]),
      "pages with no accessibility visit",
    ).toEqual([]);
    expect(
      Object.keys(VISITS).filter((r) => !routes.includes(r)),
      "visits of pages that no longer exist",
    ).toEqual([]);
  });

  test("real data for the detail pages: an approved image with a scan and an SBOM, an open request, a bulk revocation", async ({ request }) => {
    test.setTimeout(600_000);
    const approved = await approvedImage(request, "e2e/a11y-approved", "a11y-approved");
    const { digest } = await pushOwnImage("e2e/a11y-open", "a11y-open");
    await syncNow(request);
    const openRequestId = await requestPromotion(request, "e2e/a11y-open", digest, "build", "keyboard review please");
    // A waiver for the waivers page, granted by carol (waiver group of stage test).
    const waiver = await request.post(`${base()}/api/v1/waivers`, {
      headers: auth("carol@example.com"),
      data: {
        stage: "test",
        gate: "findings",
        registry: "default",
        repository: approved.repo,
        digest: approved.digest,
        reason: "not reachable in this image",
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      },
    });
    expect(waiver.status(), await waiver.text()).toBeLessThan(300);
    // A bulk revocation of another approved image, so /revocations/{id} shows a finished job.
    const doomed = await approvedImage(request, "e2e/a11y-bulk", "a11y-bulk");
    const rev = await request.post(`${base()}/api/v1/revocations`, {
      headers: auth("alice@example.com"),
      data: { query: `${doomed.pkg} < 2.0.0`, stages: ["build"], reason: "a11y test revocation", dryRun: false },
    });
    expect(rev.status(), await rev.text()).toBeLessThan(300);
    const revocationId = (await rev.json()).id as string;
    expect(revocationId).toBeTruthy();
    data = { approved, openRequestId, revocationId };
    writeFileSync(dataFile(), JSON.stringify(data));
  });

  for (const [route, visits] of Object.entries(VISITS)) {
    test(`${route} has no serious or critical axe violation (${visits.map((v) => v.as?.split("@")[0] ?? "signed out").join(", ")})`, async ({ browser }) => {
      test.setTimeout(120_000);
      for (const v of visits) {
        const page = await pageFor(browser, v.as);
        await page.goto(`${base()}${v.url(data)}`);
        await expect(page.locator("main")).toContainText(v.expect);
        if (v.then) await v.then(page);
        expect.soft(await violations(page), `${v.url(data)} as ${v.as ?? "signed out"}`).toEqual([]);
        if (v.then) await page.keyboard.press("Escape");
      }
    });
  }

  test("keyboard only: sign in", async ({ browser }) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base()}/signin`);
    await tabTo(page, page.getByLabel("Email"));
    await page.keyboard.type("dev@example.com");
    await tabTo(page, page.getByLabel("Password"), 3);
    await page.keyboard.type("dev-demo-pass");
    await page.keyboard.press("Enter");
    await expect(page.getByTestId("whoami")).toHaveText("dev@example.com");
  });

  test("keyboard only: a reviewer approves with a comment; the approval is recorded and signed", async ({ browser }) => {
    const page = await pageAs(browser, "alice@example.com");
    await page.goto(`${base()}/requests/${data.openRequestId}`);
    await tabTo(page, page.getByLabel("Comment"));
    await page.keyboard.type("checked from the keyboard");
    await tabTo(page, page.getByRole("button", { name: "Approve", exact: true }), 3);
    await page.keyboard.press("Enter");
    await expect(page.getByTestId("review-outcome")).toContainText("Approved and signed");
    const rows = await query<{ comment: string }>(`SELECT comment FROM approvals WHERE request_id = $1`, [data.openRequestId]);
    expect(rows.map((r) => r.comment)).toEqual(["checked from the keyboard"]);
  });

  test("keyboard only: a confirmation dialog opens, traps the focus, and Esc cancels without a change", async ({ browser, request }) => {
    const page = await pageAs(browser, "admin@example.com");
    const keyBefore = (await (await request.get(`${base()}/api/v1/keys/stages/build`, { headers: auth("admin@example.com") })).json()) as unknown;
    await page.goto(`${base()}/keys`);
    const opener = page.getByRole("button", { name: "Rotate key of build" });
    await tabTo(page, opener);
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Rotate the key of stage build?" });
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText(data.approved.repo);
    // Focus starts on Cancel (never on the destructive button) and stays inside however often Tab is pressed.
    await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Tab");
      expect(await page.evaluate(() => Boolean(document.activeElement?.closest("dialog[open]")) || document.activeElement === document.body)).toBe(true);
    }
    await page.keyboard.press("Escape");
    await expect(dialog).toBeHidden();
    await expect(opener).toBeFocused();
    expect(await (await request.get(`${base()}/api/v1/keys/stages/build`, { headers: auth("admin@example.com") })).json()).toEqual(keyBefore);
  });

  test("status is never told by colour alone: every badge on the image and request pages has text", async ({ browser }) => {
    const page = await pageFor(browser, "alice@example.com");
    for (const url of [imagePath(data.approved), `/requests/${data.approved.requestId}`, "/images"]) {
      await page.goto(`${base()}${url}`);
      // Coloured pills (rounded, with a background) must carry words or an accessible name.
      const empty = await page.$$eval("span.rounded[class*='bg-']", (els) =>
        els
          .filter((e) => !(e.textContent ?? "").trim() && !e.getAttribute("aria-label") && !e.getAttribute("title") && !e.closest("[aria-hidden='true']"))
          .map((e) => e.outerHTML.slice(0, 120)),
      );
      expect(empty, url).toEqual([]);
    }
  });
});
