// A real OpenID Connect provider on loopback for tests and local trials: `oidc-provider` (the certified Node
// implementation) with its development login page, one static confidential client, and a `groups` claim.
// The development login page accepts any password; the login name picks one of `users` (unknown names get no groups
// and the email <login>@unknown.example).
import { createSign, generateKeyPairSync, randomBytes } from "node:crypto";
import Provider from "oidc-provider";
import { freePort } from "./services.mjs";

/**
 * @param {{
 *   redirectUris: string[],
 *   clientId?: string,
 *   clientSecret?: string,
 *   users?: Record<string, { email: string, name?: string, groups?: string[] | null }>,
 *   port?: number,
 * }} opts
 */
export async function startOidcProvider({ redirectUris, clientId = "imprimatur", clientSecret = randomBytes(24).toString("base64url"), users = {}, port }) {
  const listenPort = port ?? (await freePort());
  const issuer = `http://127.0.0.1:${listenPort}`;
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test-key", use: "sig", alg: "RS256" };
  /** @type {null | ((claims: Record<string, unknown>) => Record<string, unknown>)} */
  let tamper = null;

  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris, grant_types: ["authorization_code"], response_types: ["code"] }],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    scopes: ["openid", "email", "profile", "groups"],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
    // Put the scope's claims into the ID token too, as Keycloak and Dex do.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 600, IdToken: 600 },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx, id) {
      const u = users[id] ?? { email: `${id}@unknown.example`, name: id, groups: null };
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: u.email, email_verified: true, name: u.name ?? id, ...(u.groups ? { groups: u.groups } : {}) };
        },
      };
    },
    // First-party client: no consent screen; the login page is the only interaction.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope("openid email profile groups");
      grant.addOIDCClaims(["email", "email_verified", "name", "groups"]);
      await grant.save();
      return grant;
    },
  });

  // For "bad provider" tests: rewrite the ID token's claims in the token response and sign it again with the
  // provider's own key, so only the tampered claim (issuer, audience, nonce) is wrong.
  provider.use(async (ctx, next) => {
    await next();
    if (!tamper || ctx.path !== "/token" || ctx.status !== 200 || !ctx.body || typeof ctx.body.id_token !== "string") return;
    const [h, p] = ctx.body.id_token.split(".");
    const claims = tamper(JSON.parse(Buffer.from(p, "base64url").toString("utf8")));
    const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    const input = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
    const sig = createSign("RSA-SHA256").update(input).sign(privateKey).toString("base64url");
    ctx.body = { ...ctx.body, id_token: `${input}.${sig}` };
  });

  const server = provider.listen(listenPort, "127.0.0.1");
  await new Promise((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  return {
    issuer,
    clientId,
    clientSecret,
    port: listenPort,
    /** Rewrite every ID token's claims from now on (null: stop). */
    setTamper(fn) {
      tamper = fn;
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
