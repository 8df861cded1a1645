import { describe, expect, it, vi } from "vitest";
import { RegistryClient, type RegistryClientOptions } from "./client";
import { OciError } from "./digest";
import { json, useFakeServers, errorOf } from "./testdata/fake-server";

const serve = useFakeServers();

const basic = (u: string, p: string) => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");

/**
 * A token server (checks Basic alice:secret, or anonymous when allowed) and a registry that wants
 * `Bearer tok-<n>` from it, with the realm it advertises configurable.
 */
async function tokenSetup(opts: { realm?: (tokenUrl: string) => string; expiresIn?: number; anonymous?: boolean } = {}) {
  let issued = 0;
  const accepted = new Set<string>();
  const auth = await serve((req, res, seen) => {
    const ok = seen.authorization === basic("alice", "secret") || (opts.anonymous && !seen.authorization);
    if (!ok) return json(res, 401, { details: "bad credentials" });
    const token = `tok-${++issued}`;
    accepted.add(token);
    json(res, 200, { token, expires_in: opts.expiresIn ?? 300 });
  });
  const realm = opts.realm ? opts.realm(`${auth.url}/token`) : `${auth.url}/token`;
  const registry = await serve((req, res, seen) => {
    const t = seen.authorization?.replace(/^Bearer /, "");
    if (!t || !accepted.has(t)) {
      return json(res, 401, { errors: [{ code: "UNAUTHORIZED" }] }, { "www-authenticate": `Bearer realm="${realm}",service="test-registry"` });
    }
    json(res, 200, {}, { "docker-distribution-api-version": "registry/2.0" });
  });
  return { auth, registry, realm, revoke: () => accepted.clear() };
}

function client(url: string, extra: Partial<RegistryClientOptions> = {}) {
  return new RegistryClient({ url, retries: 0, timeoutMs: 2000, ...extra });
}

describe("Bearer token flow", () => {
  it("answers the challenge with Basic credentials at the realm, then caches the token per scope until it expires", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2030-01-01T00:00:00Z"));
    const { auth, registry } = await tokenSetup({ expiresIn: 300 });
    const c = client(registry.url, { username: "alice", password: "secret" });

    await c.ping();
    expect(auth.requests).toHaveLength(1);
    const tokenReq = new URL(auth.requests[0]!.url, auth.url);
    expect(tokenReq.pathname).toBe("/token");
    expect(tokenReq.searchParams.get("service")).toBe("test-registry");
    expect(tokenReq.searchParams.get("scope")).toBe("registry:catalog:*");
    expect(auth.requests[0]!.authorization).toBe(basic("alice", "secret"));
    // Nothing on the first request: the registry has not asked yet. The Basic credentials went to the realm only.
    expect(registry.requests.map((r) => r.authorization?.split(" ")[0])).toEqual([undefined, "Bearer"]);

    await c.ping();
    expect(auth.requests).toHaveLength(1);
    expect(registry.requests.at(-1)?.authorization).toBe("Bearer tok-1");

    vi.setSystemTime(new Date("2030-01-01T00:04:55Z")); // within 10 s of expiry: renewed
    await c.ping();
    expect(auth.requests).toHaveLength(2);
    expect(registry.requests.at(-1)?.authorization).toBe("Bearer tok-2");
  });

  it("asks for a fresh token once when the registry refuses a cached one", async () => {
    const { auth, registry, revoke } = await tokenSetup();
    const c = client(registry.url, { username: "alice", password: "secret" });
    await c.ping();
    revoke();
    await c.ping();
    expect(auth.requests).toHaveLength(2);
  });

  it("fetches an anonymous token without any Authorization header", async () => {
    const { auth, registry } = await tokenSetup({ anonymous: true });
    await client(registry.url).ping();
    expect(auth.requests).toHaveLength(1);
    expect(auth.requests[0]!.authorization).toBeUndefined();
  });

  it("reports wrong credentials at the token endpoint as UNAUTHORIZED, without retrying", async () => {
    const { auth, registry } = await tokenSetup();
    const e = await errorOf(new RegistryClient({ url: registry.url, username: "alice", password: "wrong", retries: 3, retryBaseMs: 1 }).ping());
    expect(e.code).toBe("UNAUTHORIZED");
    expect(e.message).toMatch(/token endpoint .* answered 401 with the configured credentials/);
    expect(auth.requests).toHaveLength(1);
  });
});

describe("token realm policy", () => {
  it("refuses a plain-http realm off loopback, before sending anything to it", async () => {
    const { auth, registry } = await tokenSetup({ realm: () => "http://auth.example.com/token" });
    const onRealm = vi.fn();
    const e = await errorOf(client(registry.url, { username: "alice", password: "secret", onRealm }).ping());
    expect(e.code).toBe("REALM_REFUSED");
    expect(e.message).toMatch(/http:\/\/auth\.example\.com\/token refused: it must be https/);
    expect(onRealm).not.toHaveBeenCalled();
    expect(auth.requests).toHaveLength(0);
  });

  it("accepts plain http on loopback by name (localhost)", async () => {
    const { auth, registry } = await tokenSetup({ realm: (u) => u.replace("127.0.0.1", "localhost") });
    await client(registry.url, { username: "alice", password: "secret" }).ping();
    expect(auth.requests).toHaveLength(1);
  });

  it("calls onRealm with the realm before credentials are sent; an OciError thrown there passes through", async () => {
    const { auth, registry, realm } = await tokenSetup();
    const seen: string[] = [];
    const refusal = new OciError("UNAUTHORIZED", "not the recorded realm");
    const c = client(registry.url, {
      username: "alice",
      password: "secret",
      onRealm: (r) => {
        seen.push(r);
        throw refusal;
      },
    });
    const e = await errorOf(c.ping());
    expect(e).toBe(refusal);
    expect(seen).toEqual([realm]);
    expect(auth.requests).toHaveLength(0);
  });

  it("wraps any other error thrown by onRealm as REALM_REFUSED with the original as cause", async () => {
    const { auth, registry } = await tokenSetup();
    const boom = new Error("realm changed since last test");
    const e = await errorOf(
      client(registry.url, {
        username: "alice",
        password: "secret",
        onRealm: () => {
          throw boom;
        },
      }).ping(),
    );
    expect(e.code).toBe("REALM_REFUSED");
    expect(e.message).toMatch(/realm changed since last test/);
    expect(e.cause).toBe(boom);
    expect(auth.requests).toHaveLength(0);
  });

  it("refuses a realm on the metadata address through the SSRF guard", async () => {
    const { registry } = await tokenSetup({ realm: () => "https://169.254.169.254/token" });
    const e = await errorOf(client(registry.url, { username: "alice", password: "secret" }).ping());
    expect(e.code).toBe("BLOCKED_ADDRESS");
  });
});
