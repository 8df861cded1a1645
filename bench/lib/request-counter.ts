// Counts HTTP requests by method and OCI endpoint kind, for every undici request of this process (Node's
// global fetch and the `undici` package publish on the same diagnostics channel). Read-only observation:
// it changes nothing about the requests, so the sync's own transport is measured as it is.
import dc from "node:diagnostics_channel";

const CHANNEL = "undici:request:create";
const CONNECTED = "undici:client:connected";

/** "HEAD manifests (tag)", "GET blobs", "GET referrers", … from a method and a request path. */
export function classifyRequest(method: string, path: string): string {
  const p = path.split("?")[0] ?? path;
  let kind: string;
  if (p === "/v2/" || p === "/v2") kind = "ping";
  else if (p.endsWith("/_catalog")) kind = "catalog";
  else if (p.endsWith("/tags/list")) kind = "tags/list";
  else if (/\/manifests\/sha256:[a-f0-9]+$/.test(p)) kind = "manifests (digest)";
  else if (/\/manifests\/[^/]+$/.test(p)) kind = "manifests (tag)";
  else if (/\/blobs\/uploads\//.test(p)) kind = "blob uploads";
  else if (/\/blobs\/[^/]+$/.test(p)) kind = "blobs";
  else if (/\/referrers\/[^/]+$/.test(p)) kind = "referrers";
  else kind = "other";
  return `${method.toUpperCase()} ${kind}`;
}

export type RequestCounts = Record<string, number>;

export function totalRequests(c: RequestCounts): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}

export class RequestCounter {
  private readonly counts = new Map<string, number>();
  private readonly listener = (message: unknown) => {
    const req = (message as { request?: { method?: string; path?: string; origin?: string } }).request;
    if (!req?.method || !req.path) return;
    if (this.origin && req.origin && new URL(String(req.origin)).origin !== this.origin) return;
    const key = classifyRequest(req.method, req.path);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  };
  private connections = 0;
  private readonly onConnected = (message: unknown) => {
    const p = (message as { connectParams?: { protocol?: string; hostname?: string; host?: string; port?: string | number } }).connectParams;
    if (this.origin && p?.hostname) {
      const o = new URL(this.origin);
      const port = String(p.port || (p.protocol === "https:" ? 443 : 80));
      if (o.hostname !== p.hostname || (o.port || (o.protocol === "https:" ? "443" : "80")) !== port) return;
    }
    this.connections++;
  };
  private active = false;

  /** Only requests to this origin are counted (all when omitted). */
  constructor(private readonly origin?: string) {}

  start(): this {
    if (!this.active) {
      dc.subscribe(CHANNEL, this.listener);
      dc.subscribe(CONNECTED, this.onConnected);
    }
    this.active = true;
    return this;
  }

  stop(): this {
    if (this.active) {
      dc.unsubscribe(CHANNEL, this.listener);
      dc.unsubscribe(CONNECTED, this.onConnected);
    }
    this.active = false;
    return this;
  }

  reset(): void {
    this.counts.clear();
    this.connections = 0;
  }

  /** TCP (or TLS) connections opened to the origin while counting. */
  get connectionsOpened(): number {
    return this.connections;
  }

  snapshot(): RequestCounts {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  get total(): number {
    return totalRequests(this.snapshot());
  }
}
