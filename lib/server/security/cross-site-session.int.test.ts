// Cookie-authenticated requests made by another site's page (review findings C and D, edge): refusals are counted per
// user and minute instead of each adding an audit row, and a GET that writes (the audit export) refuses a cross-site
// navigation while the app's own links still work.
import { encode } from "next-auth/jwt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callRoute } from "../../../scripts/test-harness/routes";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { createToken } from "../tokens/create-token";
import { GET as exportGET } from "../../../app/api/v1/audit/export/route";
import { POST as tokensPOST } from "../../../app/api/v1/tokens/route";

async function sessionCookie(email: string): Promise<string> {
  const u = await db.user.findUniqueOrThrow({ where: { email } });
  const jwt = await encode({ token: { sub: u.id, signedInAt: Date.now() }, secret: process.env.NEXTAUTH_SECRET! });
  return `next-auth.session-token=${jwt}`;
}

beforeAll(async () => {
  await seedUsers();
});
afterAll(async () => {
  await disconnectDb();
});

const deniedRows = async () =>
  (await db.auditOutbox.count({ where: { action: "request.denied" } })) + (await db.auditEvent.count({ where: { action: "request.denied" } }));
const exports = () => db.auditEvent.count({ where: { action: "audit.export" } });

describe("a foreign page cannot grow the audit trail in a signed-in user's name", () => {
  it("200 refused cross-site POSTs add one request.denied row and are counted per user and minute", async () => {
    const cookie = await sessionCookie("alice@example.com");
    const before = await deniedRows();
    // What `for (;;) fetch(url, { method: "POST", mode: "no-cors", credentials: "include" })` on any page sends.
    for (let i = 0; i < 200; i++) {
      const res = await callRoute(tokensPOST as never, {
        method: "POST",
        template: "/api/v1/tokens",
        headers: { cookie, origin: "https://evil.example", "sec-fetch-site": "cross-site", "content-type": "text/plain" },
        body: "x",
      });
      expect(res.status).toBe(403);
    }
    // One row per minute: two if the loop crossed a minute boundary.
    expect((await deniedRows()) - before).toBeGreaterThanOrEqual(1);
    expect((await deniedRows()) - before).toBeLessThanOrEqual(2);
    const counted = await db.authFailureCount.aggregate({ _sum: { count: true }, where: { kind: "cross-site", source: "alice@example.com" } });
    expect(counted._sum.count).toBe(200);
  }, 120_000);

  it("another user's first refusal in the same minute is still audited", async () => {
    const before = await deniedRows();
    const res = await callRoute(tokensPOST as never, {
      method: "POST",
      template: "/api/v1/tokens",
      headers: { cookie: await sessionCookie("manager@example.com"), origin: "https://evil.example", "sec-fetch-site": "cross-site" },
      body: { name: "csrf", scopes: ["read"] },
    });
    expect(res.status).toBe(403);
    expect((await deniedRows()) - before).toBe(1);
  });
});

describe("a GET that writes (the audit export) and cross-site navigation", () => {
  const query = () => `format=csv&from=${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}`;
  const exportAs = async (headers: Record<string, string>, token?: string) => {
    const res = await callRoute(exportGET as never, { method: "GET", template: "/api/v1/audit/export", query: query(), headers, token });
    await res.text();
    return res.status;
  };

  it("refuses a cross-site top-level GET with the manager's cookie and records no export", async () => {
    const cookie = await sessionCookie("manager@example.com");
    const before = await exports();
    // What a link or `window.open` on another site sends: a top-level navigation, so the Lax session cookie travels.
    const status = await exportAs({ cookie, "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" });
    expect({ status, recorded: (await exports()) - before }).toEqual({ status: 403, recorded: 0 });
  });

  it("refuses a same-site navigation (a sibling host) and a foreign Origin", async () => {
    const cookie = await sessionCookie("manager@example.com");
    const before = await exports();
    expect(await exportAs({ cookie, "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate" })).toBe(403);
    expect(await exportAs({ cookie, origin: "https://evil.example" })).toBe(403);
    expect((await exports()) - before).toBe(0);
  });

  it("exports for the app's own link (same-origin), the address bar (none), a client without the header and a token", async () => {
    const cookie = await sessionCookie("manager@example.com");
    const manager = await db.user.findUniqueOrThrow({ where: { email: "manager@example.com" } });
    const { token } = await createToken({
      actor: { kind: "user", id: manager.id, email: manager.email, name: manager.name, role: "manager", via: "session" },
      email: manager.email,
      name: "export",
      scopes: ["read"],
    });
    const before = await exports();
    expect(await exportAs({ cookie, "sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" })).toBe(200);
    expect(await exportAs({ cookie, "sec-fetch-site": "none", "sec-fetch-mode": "navigate" })).toBe(200);
    expect(await exportAs({ cookie })).toBe(200);
    // A token is not sent by a browser on its own: a Sec-Fetch-Site it carries does not matter.
    expect(await exportAs({ "sec-fetch-site": "cross-site" }, token)).toBe(200);
    expect((await exports()) - before).toBe(4);
  });
});
