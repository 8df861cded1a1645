// Review finding (edge): an appending proxy (Envoy APPEND_FORWARD) leaves the client's own XFCC element first. The
// "exactly one element" check counted commas outside quotes, ignoring escapes, so a client element with an unclosed
// quote hid the comma the proxy appended: the client's element was believed, naming any registered certificate
// (certificates are public; only their keys are secret). The header is now parsed by Envoy's grammar and refused on
// any parse error or more than one element, with the reason in the 401.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { peerStamped, selfSignedClientCert } from "../../../scripts/test-harness/client-cert";
import { disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import type { Actor } from "../actor";
import { registerClientCert } from "../users/register-client-cert";
import { actorForClientCert, clientCertFingerprint, readForwardedClientCert } from "./client-cert";

const system: Actor = { kind: "system", label: "test" };
const secret = randomBytes(32);
let victim: { pem: string; fingerprint: string };
let attacker: { pem: string; fingerprint: string };
const hex = (c: { fingerprint: string }) => c.fingerprint.slice(7);
const xfcc = (header: string) => actorForClientCert(peerStamped(secret, "10.1.2.3", { "x-forwarded-client-cert": header }));

beforeAll(async () => {
  victim = selfSignedClientCert("/CN=admission-controller");
  attacker = selfSignedClientCert("/CN=some-workload");
  await seedUsers();
  process.env.IMPRIMATUR_TRUSTED_PROXIES = "10.0.0.0/8";
  resetEnvCache();
  (globalThis as { __imprimaturPeerSecret?: Buffer }).__imprimaturPeerSecret = secret;
  await registerClientCert({ actor: system, email: "carol@example.com", pem: victim.pem });
});

afterAll(async () => {
  delete (globalThis as { __imprimaturPeerSecret?: Buffer }).__imprimaturPeerSecret;
  delete process.env.IMPRIMATUR_TRUSTED_PROXIES;
  resetEnvCache();
  await disconnectDb();
});

describe("XFCC from an appending proxy", () => {
  // What Envoy appends for the attacker's own mTLS connection (default fields By and Hash, plus Cert and Subject).
  const appended = () =>
    `,By=spiffe://cluster.local/ns/imprimatur/sa/envoy;Hash=${hex(attacker)};Cert="${encodeURIComponent(attacker.pem)}";Subject="CN=some-workload"`;

  it("refuses a client element with an unclosed quote followed by the proxy's element (Hash only)", () => {
    const header = `Hash=${hex(victim)};Subject="` + `,By=spiffe://proxy;Hash=${hex(attacker)}`;
    expect(clientCertFingerprint(header)).toBeNull();
  });

  it("does not authenticate as the victim from a forged first element carrying the victim's public certificate", async () => {
    const r = await xfcc(`Cert="${encodeURIComponent(victim.pem)}";Subject="` + appended());
    expect(r).toMatchObject({ actor: null, reason: expect.stringContaining("not a well-formed x-forwarded-client-cert") });
  });

  it("refuses a well-formed client element before the proxy's (two elements), and says to sanitize", async () => {
    const r = await xfcc(`Hash=${hex(victim)}` + appended());
    expect(r).toMatchObject({ actor: null, reason: expect.stringMatching(/2 elements.*SANITIZE_SET/) });
  });

  it("refuses an escaped quote used to hide the appended element", async () => {
    // The escape keeps the quote open, so the appended comma is inside a value that never closes.
    const r = await xfcc(`Hash=${hex(victim)};Subject="x\\"` + appended());
    expect(r?.actor ?? null).toBeNull();
  });

  it("refuses a whole-header PEM (nginx form) with the proxy's element appended after it", async () => {
    const r = await xfcc(encodeURIComponent(victim.pem) + appended());
    expect(r).toMatchObject({ actor: null, reason: expect.stringContaining("client certificate header refused") });
  });

  it("refuses a Hash that is not the SHA-256 of the Cert beside it", () => {
    const r = readForwardedClientCert(`Hash=${hex(attacker)};Cert="${encodeURIComponent(victim.pem)}"`);
    expect(r).toMatchObject({ ok: false, reason: expect.stringContaining("Hash is not the SHA-256 of Cert") });
  });

  it("still authenticates the one element a sanitizing proxy writes, with an escaped quote in the subject", async () => {
    const header = `By=spiffe://proxy;Hash=${hex(victim)};Cert="${encodeURIComponent(victim.pem)}";Subject="CN=a\\"b,O=c"`;
    expect((await xfcc(header))?.actor).toMatchObject({ email: "carol@example.com", via: "certificate" });
    expect((await xfcc(`Hash=${hex(victim)}`))?.actor).toMatchObject({ email: "carol@example.com" });
    expect((await xfcc(encodeURIComponent(victim.pem)))?.actor).toMatchObject({ email: "carol@example.com" });
  });
});
