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

function ignoreLateError(): void {}

/**
 * Reads a Node body stream into memory, at most `max` bytes (TOO_LARGE past it, the stream destroyed). Stream errors
 * are thrown as they are (the caller maps timeouts and dropped connections); `read.bytes` says how far it got. A body
 * that closes before its end is an error (ERR_STREAM_PREMATURE_CLOSE), as with `for await`.
 *
 * Read with listeners rather than `for await`: a sync reads a thousand small bodies (manifests, configs), and an
 * async iterator per body (its promises per chunk) showed in the cold sync's profile. A stream already finished
 * or failed when it arrives here (unusual) is read with `for await`, which knows how to report those states.
 */
export function readStreamCapped(stream: Readable, max: number, what: string, read = { bytes: 0 }): Promise<Buffer> {
  if (stream.destroyed || stream.readableEnded || stream.errored) return readIterated(stream, max, what, read);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.off("close", onClose);
      // Whatever the stream emits once it is settled (undici's destroy() emits an AbortError) must not become an
      // uncaught exception that ends the process: the answer was already given.
      stream.on("error", ignoreLateError);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      read.bytes = total;
      if (total > max) {
        done();
        stream.destroy();
        reject(new OciError("TOO_LARGE", `${what} exceeds the ${max}-byte limit`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const onClose = () => {
      done();
      reject(Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    };
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onError);
    stream.on("close", onClose);
  });
}

async function readIterated(stream: Readable, max: number, what: string, read: { bytes: number }): Promise<Buffer> {
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
