import { AppError } from "../../errors";
import { OciError } from "../../oci/digest";

/**
 * The one translator from registry-client errors (lib/oci) to the API's error codes, used by the actions that
 * talk to a registry and by apiHandler for any OciError that reaches the edge. A registry that is down, slow
 * or rate-limiting (UNAVAILABLE) is 503 REGISTRY_UNAVAILABLE everywhere; a registry that answers wrongly is
 * 502 REGISTRY_ERROR; a bad reference is the caller's 422. Anything that is not an OciError is returned as is.
 */
export function registryErrorToAppError(e: unknown, what?: string): unknown {
  if (!(e instanceof OciError)) return e;
  const message = what ? `${what}: ${e.message}` : e.message;
  switch (e.code) {
    case "NOT_FOUND":
      return new AppError("NOT_FOUND", message);
    case "UNAVAILABLE":
      return new AppError("REGISTRY_UNAVAILABLE", message);
    case "INVALID_REFERENCE":
      return new AppError("INVALID_INPUT", e.message);
    case "BLOCKED_ADDRESS":
    case "REALM_REFUSED":
    case "UNAUTHORIZED":
    case "DIGEST_MISMATCH":
    case "TOO_LARGE":
    case "BAD_RESPONSE":
      return new AppError("REGISTRY_ERROR", message);
    default: {
      const never: never = e.code;
      return never;
    }
  }
}
