import { expect, test } from "@playwright/test";
import { base, query } from "./helpers";

// Sign-in through a real OpenID provider (oidc-provider on loopback, started by global-setup) and its login page.

test("signs in with OpenID Connect, lands with the mapped role and groups, and signs out", async ({ page }) => {
  await page.goto(`${base()}/signin`);
  await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
  // The provider's development login page (any password; the login picks the account).
  await expect(page).toHaveURL(new RegExp(`^${process.env.E2E_OIDC_ISSUER}/interaction/`));
  await page.locator('input[name="login"]').fill("sso-sam");
  await page.locator('input[name="password"]').fill("whatever-the-idp-wants");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await expect(page.getByTestId("whoami")).toHaveText("sso-sam@corp.example");
  await expect(page).toHaveURL(/\/images/);
  await expect(page.getByRole("banner")).toContainText("reviewer");

  const [user] = await query<{ id: string; role: string; oidc_subject: string }>("SELECT id, role::text AS role, oidc_subject FROM users WHERE email = $1", [
    "sso-sam@corp.example",
  ]);
  expect(user).toMatchObject({ role: "reviewer", oidc_subject: `${process.env.E2E_OIDC_ISSUER} sso-sam` });
  const groups = await query<{ name: string }>("SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = $1 ORDER BY g.name", [
    user!.id,
  ]);
  expect(groups.map((g) => g.name)).toEqual(["app-team", "security"]);
  const audit = await query<{ outcome: string; detail: { method: string; role: string } }>(
    "SELECT outcome, detail FROM audit_events WHERE action = 'auth.signin' AND actor_id = $1 ORDER BY seq DESC LIMIT 1",
    [user!.id],
  );
  expect(audit[0]).toMatchObject({ outcome: "success", detail: { method: "oidc", role: "reviewer" } });

  // The session is Imprimatur's own: pages and the API work with it.
  const me = await page.request.get(`${base()}/api/v1/tokens`);
  expect(me.status()).toBe(200);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin/);
  await page.goto(`${base()}/images`);
  await expect(page).toHaveURL(/\/signin\?callbackUrl=/);
});

test("a user whose groups map to no role sees why on the sign-in page, and the failure is audited", async ({ page }) => {
  await page.goto(`${base()}/signin`);
  await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
  await page.locator('input[name="login"]').fill("sso-outsider");
  await page.locator('input[name="password"]').fill("x");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await expect(page).toHaveURL(/\/signin\?.*error=OidcNoRole/);
  await expect(page.getByTestId("signin-error")).toContainText("none of your groups gives access");
  expect(await query("SELECT 1 FROM users WHERE email = 'sso-outsider@corp.example'")).toHaveLength(0);
  const failed = await query<{ detail: { reason: string } }>(
    "SELECT detail FROM audit_events WHERE action = 'auth.signin' AND outcome = 'failure' AND target = 'sso-outsider@corp.example'",
  );
  expect(failed[0]?.detail.reason).toContain("marketing");
});

test("an admin disables an SSO user on the Users page; their open session ends at the next request", async ({ browser }) => {
  const { pageAs } = await import("./helpers");
  const sam = await (await browser.newContext()).newPage();
  await sam.goto(`${base()}/signin`);
  await sam.getByRole("button", { name: "Sign in with Test IdP" }).click();
  await sam.locator('input[name="login"]').fill("sso-sam");
  await sam.locator('input[name="password"]').fill("x");
  await sam.getByRole("button", { name: "Sign-in" }).click();
  await expect(sam.getByTestId("whoami")).toHaveText("sso-sam@corp.example");

  const admin = await pageAs(browser, "admin@example.com");
  await admin.goto(`${base()}/users`);
  const row = admin.getByTestId("user-row").filter({ hasText: "sso-sam@corp.example" });
  await expect(row).toContainText("oidc");
  await expect(row).toContainText("app-team, security");
  await row.getByRole("button", { name: "Disable" }).click();
  await expect(row).toContainText("(disabled)");
  // Same cookie, next request: the session is gone.
  await sam.goto(`${base()}/images`);
  await expect(sam).toHaveURL(/\/signin/);
  const events = await query(
    "SELECT 1 FROM audit_events WHERE action = 'user.disable' AND target = 'sso-sam@corp.example' AND actor_label = 'admin@example.com'",
  );
  expect(events).toHaveLength(1);
  // Signing in again through the provider is refused while disabled, with its own message.
  await sam.getByRole("button", { name: "Sign in with Test IdP" }).click();
  await expect(sam).toHaveURL(/error=OidcDisabled/);
  await expect(sam.getByTestId("signin-error")).toContainText("disabled");
});
