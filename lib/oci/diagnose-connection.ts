import { OciError } from "./digest";
import type { RegistryTransport } from "./transport/transport";

export type ConnectionStage = "dns" | "tls" | "connect" | "auth" | "api" | "ssrf";

/** What `testConnection()` found. Plain data, meant to be shown to an admin as is. */
export type ConnectionTest =
  | {
      ok: true;
      /** The Docker-Distribution-API-Version header, when sent (e.g. "registry/2.0"). */
      apiVersion?: string;
      /** The Bearer token realm used, when the registry asked for one: what `onRealm` will be called with. */
      realm?: string;
    }
  | {
      ok: false;
      stage: ConnectionStage;
      detail: string;
      status?: number;
      /** The WWW-Authenticate header the registry sent. */
      challenge?: string;
      realm?: string;
      /** Whether credentials were configured and sent. */
      credentialsTried?: boolean;
    };

/**
 * Checks the registry step by step and says which step failed: DNS, the SSRF policy, TCP, TLS,
 * authentication (with the challenge seen), or the API itself. Never throws an OciError.
 */
export async function diagnoseConnection(transport: RegistryTransport): Promise<ConnectionTest> {
  const credentialsTried = transport.hasCredentials;
  const failure = (stage: ConnectionStage, detail: string, extra: { status?: number } = {}): ConnectionTest => ({
    ok: false,
    stage,
    detail,
    ...extra,
    ...(transport.challengeSeen ? { challenge: transport.challengeSeen } : {}),
    ...(transport.realmSeen ? { realm: transport.realmSeen } : {}),
    ...(stage === "auth" ? { credentialsTried } : {}),
  });
  let res: Response;
  try {
    await transport.checkHost();
    res = await transport.request("/v2/");
  } catch (e) {
    if (!(e instanceof OciError)) throw e;
    if (e.code === "BLOCKED_ADDRESS") return failure("ssrf", e.message);
    if (e.code === "UNAUTHORIZED" || e.code === "REALM_REFUSED") return failure("auth", e.message, e.status === undefined ? {} : { status: e.status });
    switch (e.reason) {
      case "dns":
        return failure("dns", e.message);
      case "tls":
        return failure("tls", e.message);
      case "connect":
      case "timeout":
        return failure("connect", e.message);
      case "ssrf":
        return failure("ssrf", e.message);
      case "realm":
        return failure("auth", e.message);
      case undefined:
        return failure(transport.realmSeen ? "auth" : "api", e.message, e.status === undefined ? {} : { status: e.status });
      default: {
        const never: never = e.reason;
        return never;
      }
    }
  }
  await res.body?.cancel().catch(() => {});
  if (res.ok) {
    const apiVersion = res.headers.get("docker-distribution-api-version");
    return { ok: true, ...(apiVersion ? { apiVersion } : {}), ...(transport.realmSeen ? { realm: transport.realmSeen } : {}) };
  }
  if (res.status === 403) return failure("auth", "GET /v2/ answered 403: the credentials are valid but access is denied", { status: 403 });
  if (res.status === 404) {
    return failure(
      "api",
      `GET ${new URL(transport.base).pathname.replace(/\/$/, "")}/v2/ answered 404: this URL does not serve the OCI distribution API (check the URL and path)`,
      { status: 404 },
    );
  }
  return failure("api", `GET /v2/ answered ${res.status}`, { status: res.status });
}
