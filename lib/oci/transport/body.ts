import { isTimeout, releaseDeadline } from "./deadline";
import { DispatchedResponse, readStreamCapped } from "./dispatched-response";
import { OciError } from "../digest";

/** Reads a body into memory, capped. Stalls and dropped connections become UNAVAILABLE, not a hang. */
export async function readCapped(res: Response | DispatchedResponse, max: number, what: string): Promise<Buffer> {
  if (res instanceof DispatchedResponse) return readDispatched(res, max, what);
  try {
    return await readCappedBody(res, max, what);
  } finally {
    // Read, refused or failed: the request's deadline has nothing left to cover.
    releaseDeadline(res);
  }
}

async function readCappedBody(res: Response, max: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel().catch(() => {});
    throw new OciError("TOO_LARGE", `${what} is ${len} bytes, over the ${max}-byte limit`);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  // A reader loop, not `for await` (whose async-iterator wrapper costs a promise chain per chunk); chunks are
  // kept as views of undici's buffers (no copy each) and joined once.
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw new OciError("TOO_LARGE", `${what} exceeds the ${max}-byte limit`);
      }
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  } catch (e) {
    throw readError(e, what, total);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** The same for an answer received through the dispatcher API (its time budget is kept in the dispatcher). */
async function readDispatched(res: DispatchedResponse, max: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel();
    throw new OciError("TOO_LARGE", `${what} is ${len} bytes, over the ${max}-byte limit`);
  }
  if (!res.stream) return Buffer.alloc(0);
  const read = { bytes: 0 };
  try {
    return await readStreamCapped(res.stream, max, what, read);
  } catch (e) {
    throw readError(e, what, read.bytes);
  }
}

function readError(e: unknown, what: string, total: number): OciError {
  if (e instanceof OciError) return e;
  const name = (e as Error)?.name;
  if (name === "AbortError" || isTimeout(e)) {
    return new OciError("UNAVAILABLE", `timed out reading ${what} after ${total} bytes`, undefined, { cause: e, reason: "timeout" });
  }
  return new OciError("UNAVAILABLE", `connection lost reading ${what} after ${total} bytes`, undefined, { cause: e, reason: "connect" });
}

export function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new OciError("BAD_RESPONSE", `${what} is not valid JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new OciError("BAD_RESPONSE", `${what} is not a JSON object`);
  return v as Record<string, unknown>;
}
