import { afterEach, vi } from "vitest";
import { OciError } from "../digest";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { TEST_CERT_PEM, TEST_KEY_PEM } from "./tls-fixture";

/** What the fake server saw: one entry per request, in order. */
export interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  headers: IncomingMessage["headers"];
}

export interface FakeServer {
  url: string;
  port: number;
  requests: SeenRequest[];
  /** Requests whose path (without query) equals `path`. */
  count(path: string, method?: string): number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => unknown;

/**
 * A deliberately misbehaving registry on 127.0.0.1 and a random free port. Stalled connections are cut on
 * close, so a test never waits for them.
 */
export async function fakeServer(handler: Handler, opts: { tls?: boolean } = {}): Promise<FakeServer> {
  const requests: SeenRequest[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const seen: SeenRequest = { method: req.method ?? "GET", url: req.url ?? "/", authorization: req.headers.authorization, headers: req.headers };
    requests.push(seen);
    // Drain the request body so PUTs complete.
    req.resume();
    Promise.resolve(handler(req, res, seen)).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    });
  };
  const server: Server = opts.tls ? createHttpsServer({ key: TEST_KEY_PEM, cert: TEST_CERT_PEM }, onRequest) : createHttpServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    requests,
    count: (path, method) => requests.filter((r) => r.url.split("?")[0] === path && (!method || r.method === method)).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
  res.writeHead(status, { "content-type": "application/json", "content-length": String(bytes.length), ...headers });
  res.end(bytes);
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createHttpServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * For a test file: returns `serve(handler)`, which starts a fake server that is closed after each test
 * (and puts fake timers back, for tests that use them).
 */
export function useFakeServers(): (...args: Parameters<typeof fakeServer>) => Promise<FakeServer> {
  const servers: FakeServer[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (...args) => {
    const s = await fakeServer(...args);
    servers.push(s);
    return s;
  };
}

/** The OciError a promise rejects with; fails the test if it resolves or rejects with something else. */
export async function errorOf(p: Promise<unknown>): Promise<OciError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(e instanceof OciError)) throw new Error(`expected an OciError, got ${String(e)}`);
  return e;
}
