import { OciError } from "../digest";

/** Reads a body into memory, capped. Stalls and dropped connections become UNAVAILABLE, not a hang. */
export async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel().catch(() => {});
    throw new OciError("TOO_LARGE", `${what} is ${len} bytes, over the ${max}-byte limit`);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > max) {
        throw new OciError("TOO_LARGE", `${what} exceeds the ${max}-byte limit`);
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (e) {
    if (e instanceof OciError) throw e;
    const name = (e as Error)?.name;
    if (name === "TimeoutError" || name === "AbortError") {
      throw new OciError("UNAVAILABLE", `timed out reading ${what} after ${total} bytes`, undefined, { cause: e, reason: "timeout" });
    }
    throw new OciError("UNAVAILABLE", `connection lost reading ${what} after ${total} bytes`, undefined, { cause: e, reason: "connect" });
  }
  return Buffer.concat(chunks);
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
