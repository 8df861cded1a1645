import type { LookupFunction } from "node:net";
import { rootCertificates } from "node:tls";
import { Agent, type Dispatcher } from "undici";
import { guardedLookup } from "../ssrf";
import type { RegistryClientOptions } from "./options";

/**
 * An undici dispatcher that resolves names through the SSRF guard at connect time (a DNS answer that changes after a
 * check is still caught), for outbound calls other than registries (e.g. webhooks).
 */
export function guardedAgent(policy: { allowLinkLocal?: boolean } = {}): Agent {
  return new Agent({ connect: { lookup: guardedLookup({ allowLinkLocal: !!policy.allowLinkLocal }) as unknown as LookupFunction } });
}

/**
 * undici closes the connection after every HEAD ("to interop with misbehaving servers that may send a body",
 * undici#258), so a re-sync that HEADs every tag paid a TCP (and TLS) handshake per tag. HEADs here keep the
 * connection alive (`reset: false`), as GETs do. A registry that does send a body after a HEAD can only
 * corrupt its own next answer on that connection, which it could forge anyway: it becomes a parse error
 * (UNAVAILABLE), and manifests are still checked against their digests. The pool is per origin.
 */
export const keepAliveHeads: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) =>
  dispatch(options.method === "HEAD" && options.reset === undefined ? { ...options, reset: false } : options, handler);

/** One undici Agent per policy, shared by clients (a client is made per operation). */
const agents = new Map<string, Dispatcher>();

export function agentFor(opts: RegistryClientOptions): Dispatcher {
  const make = () =>
    new Agent({
      connect: {
        lookup: guardedLookup({ allowLinkLocal: !!opts.allowLinkLocal, ...(opts.resolve ? { resolve: opts.resolve } : {}) }) as unknown as LookupFunction,
        // In addition to the public roots: a private registry's token realm may still be a public service.
        ...(opts.ca ? { ca: [...rootCertificates, opts.ca] } : {}),
      },
    }).compose(keepAliveHeads);
  // A custom resolver is a test seam; don't let it leak into the shared agents.
  if (opts.resolve) return make();
  const key = `${opts.allowLinkLocal ? 1 : 0}|${opts.ca ?? ""}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = make();
    agents.set(key, agent);
  }
  return agent;
}
