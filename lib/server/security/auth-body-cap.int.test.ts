// next-auth's POST routes read their body through one capped read (64 KiB) in app/api/auth/[...nextauth]/route.ts:
// nothing in front of /api/ caps a body, and next-auth reads whatever it is given. Review findings A and B (edge).
import "../../../scripts/test-harness/next-als";
import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inRequestScope } from "../../../scripts/test-harness/routes";
import { DEMO_USERS, seedUsers } from "../../../scripts/seed";
import { disconnectDb } from "../../db";
import { readBodyCapped } from "../http/read-body";
import { GET, POST } from "../../../app/api/auth/[...nextauth]/route";

type Route = (r: NextRequest, c: { params: Promise<{ nextauth: string[] }> }) => Promise<Response>;

beforeAll(async () => {
  await seedUsers();
});
afterAll(async () => {
  await disconnectDb();
});

/** A body of `total` bytes produced on demand (chunked: no Content-Length), counting what the server pulled. */
function countingBody(total: number) {
  const chunk = new TextEncoder().encode("a=" + "x".repeat(64 * 1024 - 2));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      sent += chunk.byteLength;
      c.enqueue(chunk);
    },
  });
  return { stream, pulled: () => sent };
}

async function call(route: Route, method: "GET" | "POST", action: string[], init: { headers?: Record<string, string>; body?: BodyInit }) {
  const req = new NextRequest(`http://localhost/api/auth/${action.join("/")}`, {
    method,
    headers: init.headers,
    body: init.body,
    duplex: "half",
  } as ConstructorParameters<typeof NextRequest>[1]);
  return inRequestScope(req, "/api/auth/[...nextauth]", () => route(req, { params: Promise.resolve({ nextauth: action }) }));
}

async function postStream(action: string[], total: number) {
  const body = countingBody(total);
  const res = await call(POST as Route, "POST", action, { headers: { "content-type": "application/x-www-form-urlencoded" }, body: body.stream });
  await res.text().catch(() => "");
  return { status: res.status, pulledKiB: Math.round(body.pulled() / 1024) };
}

/** Whether `p` settles within `ms` (a hang is reported as "hung", not as a test timeout). */
function within<T>(p: Promise<T>, ms: number): Promise<T | "hung"> {
  return Promise.race([p, new Promise<"hung">((res) => setTimeout(() => res("hung"), ms))]);
}

describe("next-auth POST bodies are capped", () => {
  it("refuses a 256 MiB anonymous sign-out body with 413 after reading no more than the cap", async () => {
    const r = await postStream(["signout"], 256 * 1024 * 1024);
    // Stops at the first chunk past 64 KiB (the stream may have one more chunk queued): never the whole body.
    expect(r.status).toBe(413);
    expect(r.pulledKiB).toBeLessThanOrEqual(256);
  }, 60_000);

  it("refuses an oversized OIDC sign-in body with a declared Content-Length before reading it", async () => {
    const res = await call(POST as Route, "POST", ["signin", "oidc"], {
      headers: { "content-type": "application/x-www-form-urlencoded", "content-length": String(1024 * 1024) },
      body: "csrfToken=x",
    });
    expect(res.status).toBe(413);
  });

  it("answers an oversized chunked credentials sign-in (no Content-Length) with 413 instead of hanging", async () => {
    const r = await within(postStream(["callback", "credentials"], 1024 * 1024), 5_000);
    expect(r === "hung" ? r : r.status).toBe(413);
  }, 20_000);

  it("still signs in with the credentials form (next-auth reads the rebuilt request)", async () => {
    const csrfRes = await call(GET as Route, "GET", ["csrf"], {});
    const { csrfToken } = (await csrfRes.json()) as { csrfToken: string };
    const cookie = csrfRes.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    const user = DEMO_USERS[0]!;
    const form = new URLSearchParams({ csrfToken, email: user.email, password: user.password, json: "true" });
    const res = await call(POST as Route, "POST", ["callback", "credentials"], {
      headers: { "content-type": "application/x-www-form-urlencoded", cookie },
      body: form.toString(),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { url: string }).url).not.toMatch(/error=/);
    expect(res.headers.getSetCookie().some((c) => c.startsWith("next-auth.session-token="))).toBe(true);
  });
});

describe("readBodyCapped", () => {
  it("refuses a request clone past the cap without waiting for the tee's other branch", async () => {
    const body = countingBody(1024 * 1024);
    const req = new Request("http://localhost/x", { method: "POST", body: body.stream, duplex: "half" } as RequestInit & { duplex: "half" });
    const r = await within(
      readBodyCapped(req.clone(), 64 * 1024).then(
        () => "read",
        (e: Error) => e.message,
      ),
      5_000,
    );
    expect(r).toMatch(/exceeds the 65536-byte limit/);
  }, 20_000);
});
