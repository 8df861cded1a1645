// The registry client in layers, as go-containerregistry separates them:
//   transport/      HTTP: SSRF guard, auth challenges and token cache, redirects, retries, timeouts, errors
//   registry-api/   the Distribution API: manifests, blobs, tags, catalog (referrers: ../referrers.ts)
//   diagnose-connection.ts   "test connection": which step fails (DNS, SSRF, TCP, TLS, auth, API)
// This file keeps the public surface callers import.
export { DEFAULT_LIMITS, type RegistryClientOptions } from "./transport/options";
export { parseWwwAuthenticate } from "./transport/www-authenticate";
export { nextLink, nextPageUrl } from "./transport/pagination";
export { readCapped } from "./transport/body";
export { networkErrorMessage } from "./transport/network-errors";
export { guardedAgent, keepAliveHeads } from "./transport/agent";
export { RegistryTransport } from "./transport/transport";
export { RegistryClient, type FetchedManifest } from "./registry-api/registry-client";
export type { ConnectionStage, ConnectionTest } from "./diagnose-connection";
