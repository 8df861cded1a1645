import { describe, expect, it } from "vitest";
import { RegistryClient, type RegistryClientOptions } from "./client";
import { closedPort, json, useFakeServers } from "./testdata/fake-server";
import { TEST_CERT_PEM } from "./testdata/tls-fixture";

const serve = useFakeServers();

function client(url: string, extra: Partial<RegistryClientOptions> = {}) {
  return new RegistryClient({ url, retries: 0, timeoutMs: 2000, ...extra });
}

describe("testConnection", () => {
  it("reports ok with the API version", async () => {
    const s = await serve((_req, res) => json(res, 200, {}, { "docker-distribution-api-version": "registry/2.0" }));
    expect(await client(s.url).testConnection()).toEqual({ ok: true, apiVersion: "registry/2.0" });
  });

  it("reports the realm after a Bearer exchange, so the caller can record it", async () => {
    const auth = await serve((_req, res) => json(res, 200, { token: "t" }));
    const s = await serve((_req, res, seen) =>
      seen.authorization === "Bearer t" ? json(res, 200, {}) : json(res, 401, {}, { "www-authenticate": `Bearer realm="${auth.url}/token",service="r"` }),
    );
    expect(await client(s.url).testConnection()).toEqual({ ok: true, realm: `${auth.url}/token` });
  });

  it("reports DNS failure", async () => {
    const resolve = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND registry.nowhere.invalid"), { code: "ENOTFOUND" });
    };
    const r = await client("https://registry.nowhere.invalid", { resolve }).testConnection();
    expect(r).toMatchObject({ ok: false, stage: "dns" });
    expect(r.ok === false && r.detail).toMatch(/cannot resolve host registry\.nowhere\.invalid \(ENOTFOUND\)/);
  });

  it("reports a refused connection", async () => {
    const r = await client(`http://127.0.0.1:${await closedPort()}`).testConnection();
    expect(r).toMatchObject({ ok: false, stage: "connect" });
    expect(r.ok === false && r.detail).toMatch(/ECONNREFUSED/);
  });

  it("reports a certificate the client does not trust, and succeeds with the CA bundle", async () => {
    const s = await serve((_req, res) => json(res, 200, {}), { tls: true });
    const untrusted = await client(s.url).testConnection();
    expect(untrusted).toMatchObject({ ok: false, stage: "tls" });
    expect(untrusted.ok === false && untrusted.detail).toMatch(
      /TLS with 127\.0\.0\.1:\d+ failed: .*\((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/,
    );
    expect(await client(s.url, { ca: TEST_CERT_PEM }).testConnection()).toEqual({ ok: true });
  });

  it("reports a 401 with the challenge and whether credentials were tried", async () => {
    const s = await serve((_req, res) => json(res, 401, {}, { "www-authenticate": 'Basic realm="Registry Realm"' }));
    expect(await client(s.url).testConnection()).toMatchObject({
      ok: false,
      stage: "auth",
      status: 401,
      challenge: 'Basic realm="Registry Realm"',
      credentialsTried: false,
    });
    const withCreds = await client(s.url, { username: "u", password: "p" }).testConnection();
    expect(withCreds).toMatchObject({ ok: false, stage: "auth", status: 401, credentialsTried: true });
    expect(withCreds.ok === false && withCreds.detail).toMatch(/refused the credentials/);
  });

  it("reports a refused token realm as an auth failure, with the realm", async () => {
    const s = await serve((_req, res) => json(res, 401, {}, { "www-authenticate": 'Bearer realm="http://auth.example.com/token"' }));
    const r = await client(s.url, { username: "u", password: "p" }).testConnection();
    expect(r).toMatchObject({ ok: false, stage: "auth", realm: "http://auth.example.com/token", challenge: 'Bearer realm="http://auth.example.com/token"' });
  });

  it("reports a 404 on /v2/ as not a registry API", async () => {
    const s = await serve((_req, res) => json(res, 404, "<html>not here</html>"));
    const r = await client(`${s.url}/some/prefix`).testConnection();
    expect(r).toMatchObject({ ok: false, stage: "api", status: 404 });
    expect(r.ok === false && r.detail).toMatch(/\/some\/prefix\/v2\/ answered 404/);
    expect(s.requests[0]?.url).toBe("/some/prefix/v2/");
  });
});
