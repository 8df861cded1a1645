import { createHmac, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { clientAddress, headersFromRecord, throttleSource } from "./client-address";

const g = globalThis as { __imprimaturPeerSecret?: Buffer };
const secret = randomBytes(32);
/** Headers as scripts/server.mjs stamps them for a TCP peer, plus whatever the client sent. */
const stamped = (peer: string, extra: Record<string, string> = {}) =>
  new Headers({ ...extra, "x-imprimatur-peer": peer, "x-imprimatur-peer-mac": createHmac("sha256", secret).update(peer).digest("hex") });

afterEach(() => {
  delete g.__imprimaturPeerSecret;
});

describe("clientAddress", () => {
  it("is the stamped TCP peer, whatever X-Forwarded-For the client wrote", () => {
    g.__imprimaturPeerSecret = secret;
    expect(clientAddress(stamped("127.0.0.1", { "x-forwarded-for": "203.0.113.5" }), [])).toBe("127.0.0.1");
  });

  it("believes the address a trusted proxy appended, never the entries the client wrote before it", () => {
    g.__imprimaturPeerSecret = secret;
    // The client sent "X-Forwarded-For: 1.2.3.4"; the proxy (10.0.0.2) appended the real client 198.51.100.9.
    expect(clientAddress(stamped("10.0.0.2", { "x-forwarded-for": "1.2.3.4, 198.51.100.9" }), ["10.0.0.0/8"])).toBe("198.51.100.9");
    // Two trusted hops: the last untrusted entry counts.
    expect(clientAddress(stamped("10.0.0.2", { "x-forwarded-for": "1.2.3.4, 198.51.100.9, 10.0.0.7" }), ["10.0.0.0/8"])).toBe("198.51.100.9");
    // Garbage where the proxy's entry should be: the proxy itself.
    expect(clientAddress(stamped("10.0.0.2", { "x-forwarded-for": "not-an-ip" }), ["10.0.0.0/8"])).toBe("10.0.0.2");
  });

  it("is unknown without a verified stamp: a forged peer header or plain next start", () => {
    expect(clientAddress(new Headers({ "x-forwarded-for": "203.0.113.5" }), [])).toBe("unknown");
    g.__imprimaturPeerSecret = secret;
    expect(clientAddress(new Headers({ "x-imprimatur-peer": "10.0.0.2", "x-imprimatur-peer-mac": "0".repeat(64) }), [])).toBe("unknown");
  });

  it("reads next-auth's plain header object", () => {
    expect(headersFromRecord({ "x-forwarded-for": "a", list: ["b", "c"], n: 3 }).get("list")).toBe("b, c");
  });
});

describe("throttleSource", () => {
  it("counts an IPv6 address as its /64, an IPv4-mapped one as IPv4, anything else as itself", () => {
    expect(throttleSource("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(throttleSource("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(throttleSource("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(throttleSource("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(throttleSource("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(throttleSource("::1")).toBe("0:0:0:0::/64");
    expect(throttleSource("64:ff9b::192.0.2.1")).toBe("64:ff9b:0:0::/64");
    expect(throttleSource("::ffff:198.51.100.9")).toBe("198.51.100.9");
    expect(throttleSource("::ffff:c633:6409")).toBe("198.51.100.9");
    expect(throttleSource("198.51.100.9")).toBe("198.51.100.9");
    expect(throttleSource("unknown")).toBe("unknown");
    expect(throttleSource("2001:db8::1::2")).toBe("2001:db8::1::2");
  });
});
