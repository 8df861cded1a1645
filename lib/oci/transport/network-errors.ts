import { OciError } from "../digest";
import { BLOCKED_LOOKUP_CODE } from "../ssrf";
import { isTimeout } from "./deadline";

// Network error codes that mean "the peer's certificate or TLS setup is wrong": retrying will not help.
const TLS_CODE = /CERT|SSL|TLS|^UNABLE_TO_|^DEPTH_ZERO|^SELF_SIGNED|^HOSTNAME_MISMATCH|^EPROTO$/;
const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"]);

export function errorCode(e: unknown): { code: string | undefined; message: string } {
  let cur: unknown = e;
  let message = (e as Error)?.message ?? String(e);
  for (let i = 0; i < 6 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof (cur as Error).message === "string" && (cur as Error).message) message = (cur as Error).message;
    if (typeof c === "string") return { code: c, message };
    cur = (cur as { cause?: unknown }).cause;
  }
  // No code anywhere (e.g. undici's "bad port"): the innermost message says the most.
  return { code: undefined, message };
}

/** The innermost message of a network error ("fetch failed" says nothing; its cause does). */
export function networkErrorMessage(e: unknown): string {
  return errorCode(e).message;
}

/** A network fault as an OciError with its reason (dns, tls, connect, timeout, ssrf). */
export function toNetworkError(e: unknown, host: string, timeoutMs: number): OciError {
  if (e instanceof OciError) return e;
  const name = (e as Error)?.name;
  // The request's own budget ran out: a TimeoutError from its deadline signal, or wrapped by fetch as the cause of
  // "fetch failed" when the dispatcher ended it (a caller's cancellation was rethrown as is before this).
  if (isTimeout(e)) {
    return new OciError("UNAVAILABLE", `registry ${host} did not answer within ${timeoutMs} ms`, undefined, { cause: e, reason: "timeout" });
  }
  const { code, message } = errorCode(e);
  if (code === BLOCKED_LOOKUP_CODE) return new OciError("BLOCKED_ADDRESS", message, undefined, { cause: e, reason: "ssrf" });
  if (code && DNS_CODES.has(code)) return new OciError("UNAVAILABLE", `cannot resolve host ${host} (${code})`, undefined, { cause: e, reason: "dns" });
  if (code && TLS_CODE.test(code)) {
    return new OciError("UNAVAILABLE", `TLS with ${host} failed: ${message} (${code})`, undefined, { cause: e, reason: "tls" });
  }
  if (code === "UND_ERR_CONNECT_TIMEOUT") return new OciError("UNAVAILABLE", `connecting to ${host} timed out`, undefined, { cause: e, reason: "timeout" });
  return new OciError("UNAVAILABLE", `registry ${host} unreachable (${code ?? message ?? name ?? "network error"})`, undefined, {
    cause: e,
    reason: "connect",
  });
}
