import { expect, test, type Page } from "@playwright/test";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { base, pageAs, PUBLISHER_DIGEST, query, signIn } from "./helpers";

/** A page on another port of the same host (same-site, cross-origin: the session cookie goes along). */
async function evilSite(html: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

const openRequests = async (stage: string) =>
  query(`SELECT r.id FROM promotion_requests r JOIN stages s ON s.id = r.stage_id JOIN images i ON i.id = r.image_id WHERE s.name = $1 AND i.digest = $2`, [
    stage,
    PUBLISHER_DIGEST,
  ]);

test("a page on another port cannot make a signed-in user's browser create a request or queue a sync", async ({ browser }) => {
  const stage = "prod";
  const before = (await openRequests(stage)).length;
  const dev = await pageAs(browser, "dev@example.com");
  const body = JSON.stringify({ registry: "default", repository: "publisher/base", digest: PUBLISHER_DIGEST, stage, note: "csrf" });
  const evil = await evilSite(`<!doctype html><script>
    (async () => {
      const app = ${JSON.stringify(base())};
      await fetch(app + "/api/v1/requests", { method: "POST", mode: "no-cors", credentials: "include", headers: { "content-type": "text/plain; application/json" }, body: ${JSON.stringify(body)} });
      await fetch(app + "/api/v1/sync", { method: "POST", mode: "no-cors", credentials: "include" });
      document.title = "sent";
    })();
  </script>`);
  try {
    const runsBefore = Number((await query<{ n: string }>(`SELECT count(*) AS n FROM sync_runs`))[0]!.n);
    await dev.goto(evil.url);
    await expect(dev).toHaveTitle("sent");
    expect(await openRequests(stage)).toHaveLength(before);
    expect(Number((await query<{ n: string }>(`SELECT count(*) AS n FROM sync_runs`))[0]!.n)).toBe(runsBefore);
    const denied = await query<{ detail: { reason: string } }>(
      `SELECT detail FROM audit_events WHERE action = 'request.denied' AND actor_label = 'dev@example.com' UNION ALL SELECT detail FROM audit_outbox WHERE action = 'request.denied' AND actor_label = 'dev@example.com'`,
    );
    expect(denied.some((d) => d.detail.reason.includes("cross-site request refused"))).toBe(true);
  } finally {
    evil.server.close();
  }
});

test("with the session cookie: a foreign Origin gets 403, a form media type 415, the exact JSON type from our origin works", async ({ page }) => {
  await signIn(page, "dev@example.com", "dev-demo-pass");
  const data = JSON.stringify({ registry: "default", repository: "publisher/base", digest: PUBLISHER_DIGEST, stage: "build", note: "csrf-api" });
  const evil = await page.request.post(`${base()}/api/v1/requests`, { headers: { origin: "http://evil.example", "content-type": "application/json" }, data });
  expect(evil.status()).toBe(403);
  expect((await evil.json()).error.message).toContain("cross-site request refused");
  const none = await page.request.post(`${base()}/api/v1/requests`, { headers: { "content-type": "application/json" }, data });
  expect(none.status()).toBe(403);
  const sameSite = await page.request.post(`${base()}/api/v1/requests`, {
    headers: { origin: base(), "sec-fetch-site": "same-site", "content-type": "application/json" },
    data,
  });
  expect(sameSite.status()).toBe(403);
  const textPlain = await page.request.post(`${base()}/api/v1/requests`, { headers: { origin: base(), "content-type": "text/plain; application/json" }, data });
  expect(textPlain.status()).toBe(415);
  expect(await query(`SELECT 1 FROM promotion_requests WHERE note = 'csrf-api'`)).toHaveLength(0);
  const ok = await page.request.post(`${base()}/api/v1/requests`, { headers: { origin: base(), "content-type": "application/json; charset=utf-8" }, data });
  expect([200, 201]).toContain(ok.status());
  // Leave no open request behind for the other specs (withdrawing is a state change from our origin too).
  const { id } = await ok.json();
  const withdrawn = await page.request.post(`${base()}/api/v1/requests/${id}/withdraw`, {
    headers: { origin: base(), "content-type": "application/json" },
    data: JSON.stringify({ reason: "csrf test" }),
  });
  expect(withdrawn.status()).toBe(200);
});

for (const callbackUrl of ["/%5Cevil.example", "/%09/evil.example", "//evil.example", "https://evil.example/"]) {
  test(`signing in with callbackUrl=${callbackUrl} stays on this origin`, async ({ browser }) => {
    const page = await (await browser.newContext()).newPage();
    // The browser never reaches evil.example (it does not resolve here); a request to it would be the failure.
    const offsite: string[] = [];
    page.on("request", (r) => {
      if (new URL(r.url()).hostname.includes("evil")) offsite.push(r.url());
    });
    await page.goto(`${base()}/signin?callbackUrl=${callbackUrl}`);
    await page.getByLabel("Email").fill("carol@example.com");
    await page.getByLabel("Password").fill("carol-demo-pass");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(page.getByTestId("whoami")).toHaveText("carol@example.com");
    expect(new URL(page.url()).origin).toBe(base());
    expect(offsite).toEqual([]);
  });
}

async function cspOf(page: Page, path: string) {
  const res = await page.goto(`${base()}${path}`);
  return { csp: res!.headers()["content-security-policy"] ?? "", headers: res!.headers() };
}

test("pages carry a CSP with a fresh nonce on every script, and the app still runs under it", async ({ page }) => {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  const first = await cspOf(page, "/signin");
  const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(first.csp)?.[1];
  expect(nonce).toBeTruthy();
  expect(first.csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  expect(first.headers["permissions-policy"]).toContain("camera=()");
  expect(first.headers["x-content-type-options"]).toBe("nosniff");
  // Every script element Next rendered carries this response's nonce.
  const scripts = await page.locator("script").evaluateAll((els) => els.map((e) => (e as HTMLScriptElement).nonce));
  expect(scripts.length).toBeGreaterThan(0);
  expect(scripts.every((n) => n === nonce)).toBe(true);
  const second = await cspOf(page, "/signin");
  expect(second.csp).not.toContain(`'nonce-${nonce}'`);
  // Interactive pages work: sign in (client-side fetches) and load a page that queries the API.
  await signIn(page, "alice@example.com", "alice-demo-pass");
  await page.goto(`${base()}/images`);
  await expect(page.getByTestId("whoami")).toHaveText("alice@example.com");
  expect(errors).toEqual([]);
});

test("sign-in is throttled per account: 429 with Retry-After, a clear message, and the right password refused until the window ends", async ({
  page,
  request,
}) => {
  const email = "manager-throttle@example.com";
  // An account of its own, so other specs are not throttled.
  await query(
    `INSERT INTO users (id, email, name, role, password_hash) SELECT gen_random_uuid(), $1, 'Throttle', role, password_hash FROM users WHERE email = 'manager@example.com' ON CONFLICT DO NOTHING`,
    [email],
  );
  const csrf = async () => (await (await request.get(`${base()}/api/auth/csrf`)).json()).csrfToken as string;
  const attempt = async (password: string) =>
    request.post(`${base()}/api/auth/callback/credentials`, { form: { email, password, csrfToken: await csrf(), json: "true" } });
  for (let i = 0; i < 10; i++) expect((await attempt(`wrong-${i}`)).status()).toBe(401);
  const limited = await attempt("manager-demo-pass");
  expect(limited.status()).toBe(429);
  expect(Number(limited.headers()["retry-after"])).toBeGreaterThan(60);
  expect((await limited.json()).url).toContain("error=RateLimited");
  // The form says so, also for the right password.
  await page.goto(`${base()}/signin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("manager-demo-pass");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByText("Too many failed sign-ins")).toBeVisible();
  // The window ends (moved back in Postgres, which every replica reads): the right password works again.
  await query(`UPDATE signin_throttle SET window_start = window_start - interval '16 minutes' WHERE key = $1`, [`account:${email}`]);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("whoami")).toHaveText(email);
  // The sign-in's audit source is the TCP peer, not a header the client wrote.
  const src = await query<{ detail: { source: string } }>(
    `SELECT detail FROM audit_events WHERE action = 'auth.signin' AND actor_label LIKE $1 ORDER BY seq DESC LIMIT 1`,
    [`%${email}%`],
  );
  expect(src[0]!.detail.source).toBe("web 127.0.0.1");
});

test("a client's own X-Forwarded-For does not become the audit source of its sign-in", async ({ request }) => {
  const csrf = (await (await request.get(`${base()}/api/auth/csrf`)).json()).csrfToken as string;
  const res = await request.post(`${base()}/api/auth/callback/credentials`, {
    headers: { "x-forwarded-for": "203.0.113.66" },
    form: { email: "bob@example.com", password: "bob-demo-pass", csrfToken: csrf, json: "true" },
  });
  expect(res.status()).toBe(200);
  const src = await query<{ detail: { source: string } }>(
    `SELECT detail FROM audit_events WHERE action = 'auth.signin' AND actor_label LIKE '%bob@example.com%' ORDER BY seq DESC LIMIT 1`,
  );
  expect(src[0]!.detail.source).toBe("web 127.0.0.1");
});

test("a NUL in the sign-in e-mail is a plain failure; no database error reaches the URL", async ({ request }) => {
  const csrf = (await (await request.get(`${base()}/api/auth/csrf`)).json()).csrfToken as string;
  const res = await request.post(`${base()}/api/auth/callback/credentials`, {
    form: { email: "alice@example.com\u0000", password: "x", csrfToken: csrf, json: "true" },
  });
  expect(res.status()).toBe(401);
  const { url } = await res.json();
  expect(decodeURIComponent(url)).not.toMatch(/prisma|invalid byte|0x00|postgres|sequence/i);
  expect(url).toMatch(/error=CredentialsSignin/);
});
