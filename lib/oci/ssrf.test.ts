import { afterEach, describe, expect, it, vi } from "vitest";
import { RegistryClient } from "./client";
import { OciError } from "./digest";
import { fakeServer, json, type FakeServer } from "./testdata/fake-server";
import { assertHostAllowed, blockedAddressReason, blockedHostReason, classifyIp, isLoopbackHost } from "./ssrf";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OciError) return e.code;
    throw e;
  }
  return "no error";
}

describe("classifyIp (pure)", () => {
  it.each([
    ["169.254.169.254", "metadata"],
    ["100.100.100.200", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["[fd00:ec2::254]", "metadata"],
    ["::ffff:169.254.169.254", "metadata"],
    ["::ffff:a9fe:a9fe", "metadata"],
    ["64:ff9b::a9fe:a9fe", "metadata"],
    ["169.254.1.1", "link-local"],
    ["169.254.170.2", "link-local"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["febf::1", "link-local"],
    ["127.0.0.1", "loopback"],
    ["127.9.9.9", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["fd12:3456::1", "private"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["8.8.8.8", "public"],
    ["172.32.0.1", "public"],
    ["169.253.255.255", "public"],
    ["2001:db8::1", "public"],
    ["fec0::1", "public"],
  ])("%s is %s", (ip, cls) => {
    expect(classifyIp(ip)).toBe(cls);
  });

  it("returns null for things that are not IP literals", () => {
    for (const s of ["registry.example.com", "1.2.3", "256.1.1.1", "1::2::3", "gggg::1", "1:2:3:4:5:6:7:8:9", ""]) expect(classifyIp(s)).toBeNull();
  });

  it("blocks link-local and metadata only, unless allowLinkLocal", () => {
    expect(blockedAddressReason("169.254.169.254")).toMatch(/metadata/);
    expect(blockedAddressReason("fe80::abcd")).toMatch(/link-local/);
    expect(blockedAddressReason("127.0.0.1")).toBeNull();
    expect(blockedAddressReason("10.0.0.5")).toBeNull();
    expect(blockedAddressReason("169.254.169.254", { allowLinkLocal: true })).toBeNull();
    expect(blockedHostReason("Metadata.Google.Internal.")).toMatch(/metadata/);
    expect(blockedHostReason("metadata.google.internal", { allowLinkLocal: true })).toBeNull();
    expect(blockedHostReason("registry.example.com")).toBeNull();
  });

  it("knows loopback hosts without resolving", () => {
    expect(isLoopbackHost("localhost")).toBe(true);
    expect(isLoopbackHost("127.0.0.1")).toBe(true);
    expect(isLoopbackHost("[::1]")).toBe(true);
    expect(isLoopbackHost("10.0.0.1")).toBe(false);
    expect(isLoopbackHost("auth.example.com")).toBe(false);
  });
});

describe("assertHostAllowed", () => {
  it("refuses a name when any of its addresses is link-local", async () => {
    const resolve = async () => [
      { address: "10.0.0.7", family: 4 as const },
      { address: "169.254.169.254", family: 4 as const },
    ];
    expect(await codeOf(assertHostAllowed("registry.internal", { resolve }))).toBe("BLOCKED_ADDRESS");
    await expect(assertHostAllowed("registry.internal", { resolve, allowLinkLocal: true })).resolves.toHaveLength(2);
  });

  it("reports a name that does not resolve as UNAVAILABLE with reason dns", async () => {
    const resolve = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" });
    };
    const err = await assertHostAllowed("nope.invalid", { resolve }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OciError);
    expect((err as OciError).code).toBe("UNAVAILABLE");
    expect((err as OciError).reason).toBe("dns");
  });
});

describe("RegistryClient SSRF guard (no network)", () => {
  const neverFetch = () => vi.fn<typeof fetch>(async () => new Response("should not be called"));

  it("refuses the metadata IP as registry URL before any request", async () => {
    const f = neverFetch();
    const c = new RegistryClient({ url: "http://169.254.169.254", fetch: f, retries: 0 });
    const err = await c.ping().catch((e: unknown) => e);
    expect((err as OciError).code).toBe("BLOCKED_ADDRESS");
    expect((err as OciError).message).toMatch(/169\.254\.169\.254.*metadata/);
    expect(f).not.toHaveBeenCalled();
  });

  it("refuses obfuscated spellings that the URL parser normalizes to the metadata IP", async () => {
    for (const url of ["http://0xa9.0xfe.0xa9.0xfe", "http://2852039166", "http://[::ffff:169.254.169.254]", "http://metadata.google.internal"]) {
      const f = neverFetch();
      expect(await codeOf(new RegistryClient({ url, fetch: f, retries: 0 }).ping())).toBe("BLOCKED_ADDRESS");
      expect(f).not.toHaveBeenCalled();
    }
  });

  it("refuses a hostname that resolves to a link-local address", async () => {
    const f = neverFetch();
    const c = new RegistryClient({ url: "https://evil.example", fetch: f, retries: 0, resolve: async () => [{ address: "fe80::1", family: 6 }] });
    expect(await codeOf(c.ping())).toBe("BLOCKED_ADDRESS");
    expect(f).not.toHaveBeenCalled();
  });

  it("lets allowLinkLocal through", async () => {
    const f = vi.fn<typeof fetch>(async () => new Response(null, { status: 200 }));
    await new RegistryClient({ url: "http://169.254.169.254", fetch: f, allowLinkLocal: true }).ping();
    expect(f).toHaveBeenCalledTimes(1);
  });

  it("testConnection reports stage ssrf", async () => {
    const r = await new RegistryClient({ url: "http://169.254.169.254:5000", fetch: neverFetch() }).testConnection();
    expect(r).toMatchObject({ ok: false, stage: "ssrf" });
  });
});

describe("connect-time guard in the built-in transport", () => {
  let server: FakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("connects through the guarded resolver for an allowed address", async () => {
    server = await fakeServer((_req, res) => json(res, 200, {}));
    const resolve = vi.fn(async () => [{ address: "127.0.0.1", family: 4 as const }]);
    await new RegistryClient({ url: `http://registry.test:${server.port}`, resolve, retries: 0 }).ping();
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.headers.host).toBe(`registry.test:${server.port}`);
  });

  it("refuses a name that rebinds to the metadata address between the check and the connection", async () => {
    server = await fakeServer((_req, res) => json(res, 200, {}));
    let calls = 0;
    const resolve = async () => [{ address: calls++ === 0 ? "127.0.0.1" : "169.254.169.254", family: 4 as const }];
    const err = await new RegistryClient({ url: `http://rebind.test:${server.port}`, resolve, retries: 0 }).ping().catch((e: unknown) => e);
    expect((err as OciError).code).toBe("BLOCKED_ADDRESS");
    expect((err as OciError).message).toMatch(/169\.254\.169\.254/);
    expect(calls).toBe(2);
    expect(server.requests).toHaveLength(0);
  });
});
