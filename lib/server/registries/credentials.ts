import "server-only";
import { createHash } from "node:crypto";
import { z } from "zod";
import { bytes } from "../../db";
import { AppError } from "../../errors";
import { seal, unseal } from "../../signing/keys/sealed";
import { masterKey } from "../keys/master-key";

export interface Credentials {
  username: string;
  /** A password or a token. */
  password: string;
}

export type CredentialsPurpose = "read" | "push";

/**
 * Where sealed credentials may go: the registry's URL (its origin counts), its pinned token realm, if any, and the CA
 * bundle its TLS peer is checked against (a CA of one's own in that column, with a DNS or route of one's own, would
 * otherwise receive them at the same origin: found by review).
 */
export interface CredentialsBinding {
  url: string;
  tokenRealm: string | null;
  caBundle: string | null;
}

/** The registry a sealed blob belongs to, as its row says now. `name` is only for messages. */
export interface CredentialsOwner extends CredentialsBinding {
  id: string;
  name: string;
}

const schema = z.object({ username: z.string(), password: z.string() });

// Blobs sealed since credentials were bound to their URL start with this marker; older blobs ("imp1…", the
// envelope's own magic) have none. Adding or removing it cannot downgrade a blob: each kind opens only under its own
// associated data, so a marked blob read as an old one (or the reverse) fails to decrypt.
const MARKER = Buffer.from("rcv2");

/** The URL's origin as the registry client compares it (lower-case host, default port dropped). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    // A row whose URL does not parse (written outside the app) names no origin a blob was sealed for.
    return `unparsable:${url}`;
  }
}

// The associated data binds a ciphertext to its registry, its purpose, the origin of the registry's URL and the
// pinned token realm: read credentials copied into the push column (or into another registry's row) fail to decrypt,
// and so do credentials whose row had its URL or realm changed outside the app (a database writer pointing the
// registry at a host of their own: found by review). The app's own paths that change the URL or the realm re-seal.
const aad = (registryId: string, purpose: CredentialsPurpose, b: CredentialsBinding) =>
  JSON.stringify([
    "imprimatur/registry-credentials/v2",
    registryId,
    purpose,
    originOf(b.url),
    b.tokenRealm,
    b.caBundle === null ? null : createHash("sha256").update(b.caBundle).digest("hex"),
  ]);
/** Blobs sealed before the binding (no marker): registry and purpose only. */
const legacyAad = (registryId: string, purpose: CredentialsPurpose) => `registry:${registryId}:${purpose}`;

/** Whether a blob was sealed before credentials were bound to their URL (re-sealed at start-up: reseal-legacy-credentials.ts). */
export function isLegacySealedCredentials(sealed: Uint8Array): boolean {
  return !Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength).subarray(0, MARKER.length).equals(MARKER);
}

export function sealCredentials(owner: { id: string } & CredentialsBinding, purpose: CredentialsPurpose, c: Credentials): Uint8Array<ArrayBuffer> {
  return bytes(Buffer.concat([MARKER, seal(masterKey(), Buffer.from(JSON.stringify(c)), aad(owner.id, purpose, owner))]));
}

/**
 * The credentials, or null when none are stored. Throws CONFLICT (field `readCredentials` / `pushCredentials`) when
 * the blob does not open for the row's current URL origin and token realm: nothing is sent anywhere, and an admin
 * enters them again. A blob from before the binding opens under its old associated data (see the README's upgrade note).
 */
export function openCredentials(owner: CredentialsOwner, purpose: CredentialsPurpose, sealed: Uint8Array | null): Credentials | null {
  if (!sealed) return null;
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  let plain: Buffer;
  try {
    plain = isLegacySealedCredentials(buf)
      ? unseal(masterKey(), buf, legacyAad(owner.id, purpose))
      : unseal(masterKey(), buf.subarray(MARKER.length), aad(owner.id, purpose, owner));
  } catch (e) {
    if (e instanceof AppError) throw e; // no master key: said as such
    throw new AppError(
      "CONFLICT",
      `registry ${owner.name}: the stored ${purpose} credentials do not match its URL (${originOf(owner.url)})${owner.tokenRealm ? `, token realm (${owner.tokenRealm})` : ""} or CA bundle; nothing was sent. One of them was changed outside Imprimatur (or the master key differs): enter the credentials again`,
      `${purpose}Credentials`,
    );
  }
  return schema.parse(JSON.parse(plain.toString("utf8")));
}

/** The blob opened for its row as it is and sealed again for `to` (a new URL or realm the app itself decided on). */
export function rebindCredentials(
  owner: CredentialsOwner,
  to: CredentialsBinding,
  purpose: CredentialsPurpose,
  sealed: Uint8Array | null,
): Uint8Array<ArrayBuffer> | null {
  const c = openCredentials(owner, purpose, sealed);
  return c ? sealCredentials({ id: owner.id, ...to }, purpose, c) : null;
}
