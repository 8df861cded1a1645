import { createHash } from "node:crypto";

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export type Digest = `sha256:${string}`;

export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Only sha256 is accepted: it is what every registry and cosign use, and it keeps parsing strict. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === "string" && DIGEST_RE.test(value);
}

export function assertDigest(value: unknown, field = "digest"): Digest {
  if (!isDigest(value)) {
    throw new OciError("INVALID_REFERENCE", `${field} must be sha256:<64 lowercase hex>, got ${JSON.stringify(String(value)).slice(0, 90)}`);
  }
  return value;
}

export function shortDigest(digest: string, n = 12): string {
  return digest.replace(/^sha256:/, "").slice(0, n);
}

export type OciErrorCode =
  | "INVALID_REFERENCE"
  | "NOT_FOUND"
  | "UNAUTHORIZED"
  | "UNAVAILABLE"
  | "DIGEST_MISMATCH"
  | "TOO_LARGE"
  | "BAD_RESPONSE"
  /** The host resolves to a link-local or cloud-metadata address and `allowLinkLocal` is off (SSRF guard). */
  | "BLOCKED_ADDRESS"
  /** A Bearer token realm was refused: not https (nor http on loopback), or refused by the `onRealm` hook. */
  | "REALM_REFUSED";

/**
 * What failed underneath, when it was the network rather than the registry's answer. Lets a caller tell
 * "wrong certificate" from "nothing listens there" without parsing messages.
 */
export type OciFailureReason = "dns" | "tls" | "connect" | "timeout" | "ssrf" | "realm";

/** Errors raised by the registry client. Callers map them to their own error codes. */
export class OciError extends Error {
  readonly reason?: OciFailureReason;

  constructor(
    readonly code: OciErrorCode,
    message: string,
    readonly status?: number,
    options: { cause?: unknown; reason?: OciFailureReason } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "OciError";
    if (options.reason) this.reason = options.reason;
  }
}
