import type { Readable } from "node:stream";
import { OciError } from "../digest";

/**
 * What the transport's exchange steps (auth challenge, redirects, retries, errors) read of an answer. A fetch
 * `Response` is one; so is a `DispatchedResponse`.
 */
export interface ExchangeResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  readonly body: { cancel(): Promise<void> } | null;
  text(): Promise<string>;
}

/** undici's raw response headers (names lower-cased), read as fetch's Headers.get reads them. */
class RawHeaders {
  constructor(private readonly raw: Record<string, string | string[] | undefined>) {}

  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(", ") : v;
  }
}

class DumpOnCancel {
  constructor(private readonly stream: Readable) {}

  cancel(): Promise<void> {
    return (this.stream as Readable & { dump(): Promise<void> }).dump().catch(() => {});
  }
}

/** An error body is read for its message only: at most this much of it. */
const ERROR_TEXT_BYTES = 64 * 1024;

/**
 * An answer received through undici's dispatcher API (`dispatcher.request`) on the registry client's own dispatcher:
 * the same SSRF-guarded connect lookup, kept-alive pool and time budget (deadlineInterceptor) as the fetch path,
 * without what fetch builds around every exchange (Request, Response and Headers objects, a web ReadableStream per
 * body, the fetch algorithm's controller). A sync sends thousands of HEADs and small GETs; that machinery was most
 * of the client's CPU per request. The body stays a Node stream, read capped by readCapped.
 */
export class DispatchedResponse implements ExchangeResponse {
  readonly body: { cancel(): Promise<void> } | null;
  readonly headers: RawHeaders;

  constructor(
    readonly status: number,
    raw: Record<string, string | string[] | undefined>,
    /** The body (null for a HEAD, whose body, if a server sends one, is discarded). */
    readonly stream: Readable | null,
  ) {
    // No closures per answer (a sync makes thousands): the header view and the body's cancel are small objects
    // whose methods are on their prototypes.
    this.headers = new RawHeaders(raw);
    // Given up unread (an error, a challenge, a redirect, a retry): what a small error body holds is read and dropped
    // so the connection can be reused; a large one ends the connection (undici's dump).
    this.body = stream ? new DumpOnCancel(stream) : null;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The start of the body as text, for an error message (a fetch Response's text() would read it all). */
  async text(): Promise<string> {
    const stream = this.stream;
    if (!stream) return "";
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        total += chunk.byteLength;
        if (total >= ERROR_TEXT_BYTES) break;
      }
    } catch {
      // What was read before the stream failed is still the message.
    }
    stream.destroy();
    return Buffer.concat(chunks).subarray(0, ERROR_TEXT_BYTES).toString("utf8");
  }
}

/**
 * Reads a Node body stream into memory, at most `max` bytes (TOO_LARGE past it, the stream destroyed). Stream errors
 * are thrown as they are (the caller maps timeouts and dropped connections); `read.bytes` says how far it got.
 */
export async function readStreamCapped(stream: Readable, max: number, what: string, read = { bytes: 0 }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    read.bytes = total;
    if (total > max) {
      stream.destroy();
      throw new OciError("TOO_LARGE", `${what} exceeds the ${max}-byte limit`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
