import "server-only";
import { X509Certificate } from "node:crypto";
import { z } from "zod";
import { isRepositoryName } from "../../oci/reference";
import { pemBlocks } from "../../signing/trust/x509";

const credentials = z.object({ username: z.string().min(1).max(256), password: z.string().min(1).max(8192) }).strict();

const pem = z
  .string()
  .max(512 * 1024)
  .refine((s) => {
    const { blocks, unterminated } = pemBlocks(s, "CERTIFICATE");
    if (!blocks.length || unterminated || blocks.length > 100) return false;
    try {
      for (const b of blocks) new X509Certificate(b);
      return true;
    } catch {
      return false;
    }
  }, "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)");

export const registryUrl = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "https:" || u.protocol === "http:") && !u.username && !u.password && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, "must be an http(s) URL without credentials, query or fragment (put credentials in readCredentials)");

export const registryFields = {
  url: registryUrl,
  pullName: z
    .string()
    .regex(/^[a-zA-Z0-9.-]+(:\d{1,5})?(\/[a-z0-9._\/-]+)?$/, "must look like host[:port][/prefix]")
    .nullable(),
  caBundle: pem.nullable(),
  readCredentials: credentials.nullable(),
  pushCredentials: credentials.nullable(),
  repositories: z.array(z.string().refine(isRepositoryName, "not a valid repository name")).max(10_000),
  syncIntervalMinutes: z.number().int().min(5).max(10_080).nullable(),
  allowLinkLocal: z.boolean(),
  enabled: z.boolean(),
};

export const createRegistryInput = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "must be 1-63 lowercase letters, digits, . _ -"),
    ...registryFields,
  })
  .partial()
  .required({ name: true, url: true })
  .strict();

export const updateRegistryInput = z.object(registryFields).partial().strict();

export type CreateRegistryInput = z.infer<typeof createRegistryInput>;
export type UpdateRegistryInput = z.infer<typeof updateRegistryInput>;
