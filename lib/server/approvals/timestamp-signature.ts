import "server-only";
import { env } from "../../env";
import { AppError } from "../../errors";
import { buildTimestampRequest, extractTimestampToken, MAX_TOKEN_BYTES, verifyTimestampToken } from "../../signing/trust/rfc3161";
import { loadTrust } from "../trust/load-trust";

export interface SignatureTimestamp {
  /**
   * The TSA's DER TimeStampResp (status granted, the token inside), which is what cosign's
   * `SignedRFC3161Timestamp` and a Sigstore bundle's `rfc3161Timestamps[].signedTimestamp` hold (base64).
   */
  token: Buffer;
  genTime: Date;
  /** The TSA as the verifier names it: `TSA <subject> (<trust identity>)`. */
  by: string;
}

/**
 * How far before the moment we asked a TSA's time may be (its clock, ours, and the token's whole seconds). A time any
 * earlier is not a time the signature was stamped at: a TSA whose clock is behind would date an approval before a key
 * compromise that happened after it was made (revoke-stage-key keeps what is trusted from before), and make it expire
 * early.
 */
const TSA_BEHIND_MS = 60_000;

/** Whether a TSA is configured (IMPRIMATUR_TSA_URL). */
export function tsaConfigured(): boolean {
  return !!env().IMPRIMATUR_TSA_URL;
}

/**
 * Asks the configured TSA for an RFC 3161 token over `signature` (the raw signature bytes, as cosign and sigstore-js
 * imprint them) and verifies it before it is kept: intact, over these bytes, answering our nonce, and chained to a
 * trust identity of kind tsa. A TSA that cannot be reached, refuses, or is not trusted is TSA_UNAVAILABLE: the
 * caller leaves the signature pending and retries.
 */
export async function timestampSignature({ signature }: { signature: Uint8Array }): Promise<SignatureTimestamp> {
  const { IMPRIMATUR_TSA_URL: url, IMPRIMATUR_TSA_TIMEOUT_MS: timeout } = env();
  if (!url) throw new AppError("INTERNAL", "no TSA is configured (IMPRIMATUR_TSA_URL)");
  const { request, nonce } = buildTimestampRequest(signature);
  const asked = new Date();
  let response: Buffer;
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/timestamp-query", accept: "application/timestamp-reply" },
      body: new Uint8Array(request),
      redirect: "error",
      signal: AbortSignal.timeout(timeout),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const declared = Number(res.headers.get("content-length") ?? 0);
    if (declared > MAX_TOKEN_BYTES) throw new Error(`response of ${declared} bytes`);
    response = Buffer.from(await res.arrayBuffer());
  } catch (e) {
    throw new AppError("TSA_UNAVAILABLE", `the timestamp authority did not answer: ${(e as Error).message.slice(0, 200)}`);
  }
  let token: Buffer;
  try {
    token = extractTimestampToken(response, nonce);
  } catch (e) {
    throw new AppError("TSA_UNAVAILABLE", `the timestamp authority's answer was refused: ${(e as Error).message.slice(0, 300)}`);
  }
  const { material } = await loadTrust();
  const v = verifyTimestampToken({ token, signedData: signature, tsaRoots: material.tsaRoots });
  if (!v.ok)
    throw new AppError("TSA_UNAVAILABLE", `the timestamp authority's token does not verify: ${v.reason}; trust its chain as a trust identity of kind tsa`);
  if (v.genTime.getTime() < asked.getTime() - TSA_BEHIND_MS)
    throw new AppError(
      "TSA_UNAVAILABLE",
      `the timestamp authority's time ${v.genTime.toISOString()} is before it was asked (${asked.toISOString()}); its clock is behind, and its token is not kept`,
    );
  // Kept as the whole response: cosign (digitorus/timestamp ParseResponse) and sigstore-js parse a TimeStampResp.
  return { token: response, genTime: v.genTime, by: `TSA ${v.tsa.subject} (${v.anchorName})` };
}
