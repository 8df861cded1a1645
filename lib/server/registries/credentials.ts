import "server-only";
import { z } from "zod";
import { bytes } from "../../db";
import { seal, unseal } from "../../signing/keys/sealed";
import { masterKey } from "../keys/master-key";

export interface Credentials {
  username: string;
  /** A password or a token. */
  password: string;
}

const schema = z.object({ username: z.string(), password: z.string() });

// The associated data binds a ciphertext to its registry and purpose: read credentials copied into the
// push column (or into another registry's row) fail to decrypt.
const aad = (registryId: string, purpose: "read" | "push") => `registry:${registryId}:${purpose}`;

export function sealCredentials(registryId: string, purpose: "read" | "push", c: Credentials): Uint8Array<ArrayBuffer> {
  return bytes(seal(masterKey(), Buffer.from(JSON.stringify(c)), aad(registryId, purpose)));
}

export function openCredentials(registryId: string, purpose: "read" | "push", sealed: Uint8Array | null): Credentials | null {
  if (!sealed) return null;
  return schema.parse(JSON.parse(unseal(masterKey(), sealed, aad(registryId, purpose)).toString("utf8")));
}
