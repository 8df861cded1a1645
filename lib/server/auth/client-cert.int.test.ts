import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { peerStamped, selfSignedClientCert } from "../../../scripts/test-harness/client-cert";
import { disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import type { Actor } from "../actor";
import { registerClientCert, revokeClientCert } from "../users/register-client-cert";
import { actorForClientCert, clientCertFingerprint, isTrustedProxy, verifiedPeer } from "./client-cert";

const system: Actor = { kind: "system", label: "test" };
let pem: string;
let fingerprint: string;
const secret = randomBytes(32);

const stamped = (peer: string, extra: Record<string, string>) => peerStamped(secret, peer, extra);

beforeAll(async () => {
  ({ pem, fingerprint } = selfSignedClientCert("/CN=ci-pipeline/O=Example"));
  await seedUsers();
  process.env.IMPRIMATUR_TRUSTED_PROXIES = "10.0.0.0/8,127.0.0.2";
  resetEnvCache();
  (globalThis as { __imprimaturPeerSecret?: Buffer }).__imprimaturPeerSecret = secret;
});

afterAll(async () => {
  delete (globalThis as { __imprimaturPeerSecret?: Buffer }).__imprimaturPeerSecret;
  delete process.env.IMPRIMATUR_TRUSTED_PROXIES;
  resetEnvCache();
  await disconnectDb();
});

describe("trusted proxies", () => {
  it("matches exact addresses and IPv4 CIDRs only", () => {
    expect(isTrustedProxy("10.1.2.3", ["10.0.0.0/8"])).toBe(true);
    expect(isTrustedProxy("11.1.2.3", ["10.0.0.0/8"])).toBe(false);
    expect(isTrustedProxy("127.0.0.2", ["127.0.0.2"])).toBe(true);
    expect(isTrustedProxy("127.0.0.1", ["127.0.0.2"])).toBe(false);
    expect(isTrustedProxy("::1", ["10.0.0.0/8"])).toBe(false);
  });

  it("believes the peer header only with the server's MAC", () => {
    expect(verifiedPeer(stamped("10.0.0.5", {}))).toBe("10.0.0.5");
    expect(verifiedPeer(new Headers({ "x-imprimatur-peer": "10.0.0.5", "x-imprimatur-peer-mac": "0".repeat(64) }))).toBeNull();
    expect(verifiedPeer(new Headers({ "x-imprimatur-peer": "10.0.0.5" }))).toBeNull();
  });
});

describe("forwarded client certificates", () => {
  it("reads Envoy XFCC (Cert= or Hash=) and nginx's escaped PEM; garbage is no certificate", () => {
    const enc = encodeURIComponent(pem);
    expect(clientCertFingerprint(`By=spiffe://x;Hash=${fingerprint.slice(7)};Cert="${enc}";Subject="CN=ci-pipeline"`)?.fingerprint).toBe(fingerprint);
    expect(clientCertFingerprint(`Hash=${fingerprint.slice(7)}`)?.fingerprint).toBe(fingerprint);
    expect(clientCertFingerprint(enc)?.fingerprint).toBe(fingerprint);
    expect(clientCertFingerprint('Cert="%2D%2D%2D%2D%2Dgarbage"')).toBeNull();
    expect(clientCertFingerprint("hello")).toBeNull();
    // Two hops (a client-supplied element first, as an appending proxy leaves it): refused, not the first one believed.
    expect(clientCertFingerprint(`Hash=${"0".repeat(64)},By=spiffe://proxy;Hash=${fingerprint.slice(7)};Cert="${enc}"`)).toBeNull();
  });

  it("authenticates a registered certificate from a trusted proxy, and nothing else", async () => {
    await registerClientCert({ actor: system, email: "carol@example.com", pem });
    await expect(registerClientCert({ actor: system, email: "carol@example.com", pem })).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(registerClientCert({ actor: system, email: "carol@example.com", pem: "nope" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    const xfcc = { "x-forwarded-client-cert": `Cert="${encodeURIComponent(pem)}"` };
    const ok = await actorForClientCert(stamped("10.9.8.7", xfcc));
    expect(ok?.actor).toMatchObject({ kind: "user", email: "carol@example.com", via: "certificate" });
    const untrusted = await actorForClientCert(stamped("192.168.1.1", xfcc));
    expect(untrusted).toMatchObject({ actor: null, reason: expect.stringContaining("not a trusted proxy") });
    const forged = await actorForClientCert(new Headers({ "x-imprimatur-peer": "10.9.8.7", "x-imprimatur-peer-mac": "f".repeat(64), ...xfcc }));
    expect(forged?.actor).toBeNull();
    expect(await actorForClientCert(stamped("10.9.8.7", {}))).toBeNull();
    await revokeClientCert({ actor: system, fingerprint });
    expect((await actorForClientCert(stamped("10.9.8.7", xfcc)))?.actor).toBeNull();
  });
});
