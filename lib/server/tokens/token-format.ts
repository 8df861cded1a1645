import "server-only";
import { createHash, randomBytes } from "node:crypto";

// imp_ + 43 chars of base64url (256 bits). The prefix makes leaked tokens easy to find with secret scanners.
export const TOKEN_PREFIX = "imp_";

export function newToken(): { token: string; hash: string; prefix: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
  return { token, hash: hashToken(token), prefix: token.slice(0, 10) };
}

/** Tokens are 256-bit random, so a fast hash is right: nothing to brute-force. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
