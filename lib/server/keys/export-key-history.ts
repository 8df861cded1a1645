import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { keyStatus } from "./list-keys";

/** One public key as `cosign.pub` (SubjectPublicKeyInfo PEM): what `cosign verify --key` takes. */
export async function exportPublicKey({ actor: _actor, name }: { actor: Actor; name: string }) {
  const k = await db.signingKey.findUnique({ where: { name }, select: { name: true, publicKeyPem: true, fingerprint: true } });
  if (!k) throw new AppError("NOT_FOUND", `no signing key ${name}`);
  return { filename: `${k.name}.pub`, pem: k.publicKeyPem.endsWith("\n") ? k.publicKeyPem : `${k.publicKeyPem}\n`, fingerprint: k.fingerprint };
}

/**
 * Every key a stage has had, oldest first, with its validity: a verifier needs all of them to check old signatures.
 * As JSON, or as one multi-PEM text where each key is preceded by header lines (PEM readers skip text between blocks).
 */
export async function exportStageKeyHistory({ actor: _actor, stage: stageName, format }: { actor: Actor; stage: string; format: "json" | "pem" }) {
  const stage = await db.stage.findUnique({ where: { name: stageName }, select: { id: true, name: true } });
  if (!stage) throw new AppError("NOT_FOUND", `unknown stage ${stageName}`);
  const keys = await db.signingKey.findMany({ where: { stageId: stage.id }, omit: { encryptedPrivateKey: true }, orderBy: { createdAt: "asc" } });
  const items = keys.map((k) => ({
    name: k.name,
    fingerprint: k.fingerprint,
    algorithm: k.algorithm,
    backend: k.backend,
    imported: k.imported,
    notBefore: k.notBefore.toISOString(),
    notAfter: k.notAfter?.toISOString() ?? null,
    retiredAt: k.retiredAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    status: keyStatus(k),
    publicKeyPem: k.publicKeyPem,
  }));
  if (format === "json") return { format: "json" as const, stage: stage.name, keys: items };
  const text = items
    .map((k) =>
      [
        `# key: ${k.name}`,
        `# fingerprint: ${k.fingerprint}`,
        `# valid: ${k.notBefore} .. ${k.notAfter ?? "(current)"}${k.revokedAt ? ` revoked ${k.revokedAt}` : ""}`,
        k.publicKeyPem.trimEnd(),
        "",
      ].join("\n"),
    )
    .join("\n");
  return {
    format: "pem" as const,
    stage: stage.name,
    filename: `${stage.name}-keys.pem`,
    pem: `# Imprimatur stage ${stage.name}: every signing key, oldest first\n\n${text}`,
  };
}
