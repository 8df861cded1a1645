import "server-only";
import { AppError } from "../../errors";

/**
 * Reads a request body up to `max` bytes, refusing with 413 as soon as the cap is passed (while streaming,
 * not after buffering it all). Memory stays bounded by the cap.
 */
export async function readBodyCapped(req: Request, max: number): Promise<Buffer> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > max) throw new AppError("PAYLOAD_TOO_LARGE", `body is ${declared} bytes, over the ${max}-byte limit`);
  if (!req.body) return Buffer.alloc(0);
  const reader = req.body.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      // Not awaited: cancelling one branch of a tee'd body (a clone) settles only once the other branch is cancelled
      // too, so awaiting it can hang the request forever. The refusal does not depend on the cancel finishing.
      void reader.cancel().catch(() => {});
      throw new AppError("PAYLOAD_TOO_LARGE", `body exceeds the ${max}-byte limit`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks, total);
}

/** A request body as an async iterable of chunks (empty when there is none); leaving early cancels the body. */
export async function* bodyChunks(req: Request): AsyncGenerator<Uint8Array> {
  if (!req.body) return;
  const reader = req.body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    // Not awaited, as in readBodyCapped: a cancel that never settles must not hold the request open.
    if (!finished) void reader.cancel().catch(() => {});
  }
}
