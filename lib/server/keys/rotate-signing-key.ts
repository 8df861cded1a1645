import "server-only";
import { db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { bumpTrustState } from "../trust/load-trust";
import { generateKeyMaterial, type KeyBackend } from "./key-material";
import { KEY_NAME } from "./create-signing-key";

export interface RotateStageKeyOptions {
  actor: Actor;
  stage: string;
  /** Name of the new key; default stage-<stage>-<timestamp>. */
  name?: string;
  /**
   * Backend of the new key; default the stage's key backend. Choosing one here also sets the stage's backend, so
   * the stage and its current key never disagree.
   */
  backend?: KeyBackend;
}

/**
 * The stage's current key is retired (not_after and retired_at set to now) and a new key becomes current, in one
 * transaction. The old key is kept: signatures made while it was current keep verifying (judged at Imprimatur's
 * record of when each approval was signed), and new approvals sign with the new key.
 */
export async function rotateStageKey({ actor, stage: stageName, name, backend }: RotateStageKeyOptions) {
  requireRole(actor, ["admin"], "rotating stage keys");
  const stage = await db.stage.findUnique({ where: { name: stageName } });
  if (!stage) throw new AppError("NOT_FOUND", `unknown stage ${stageName}`, "stage");
  const use = backend ?? (stage.keyBackend as KeyBackend);
  if (use !== "software" && use !== "pkcs11") throw new AppError("INVALID_INPUT", `unknown key backend ${use}`, "backend");
  const keyName = name ?? `stage-${stage.name}-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  if (!KEY_NAME.test(keyName)) throw new AppError("INVALID_INPUT", "key name must be 1-64 characters of letters, digits, . _ -", "name");
  if (await db.signingKey.findUnique({ where: { name: keyName } })) throw new AppError("CONFLICT", `a signing key named ${keyName} exists`, "name");
  const m = await generateKeyMaterial(use, keyName);
  return db.$transaction((tx) =>
    installStageKey(tx, { actor, stage, name: keyName, material: m, action: "key.rotate", backendChanged: use !== stage.keyBackend ? use : null }),
  );
}

/** Retires the stage's current keys and makes `material` current. Shared by rotation and import. */
export async function installStageKey(
  tx: Tx,
  opts: {
    actor: Actor;
    stage: { id: string; name: string };
    name: string;
    material: Awaited<ReturnType<typeof generateKeyMaterial>> & { imported?: boolean };
    action: "key.rotate" | "key.import";
    backendChanged: KeyBackend | null;
  },
) {
  const now = new Date();
  // Lock the stage row: two rotations at once must not leave two current keys.
  await tx.$executeRaw`SELECT 1 FROM stages WHERE id = ${opts.stage.id}::uuid FOR UPDATE`;
  const current = await tx.signingKey.findMany({
    where: { stageId: opts.stage.id, retiredAt: null, revokedAt: null },
    select: { id: true, name: true, fingerprint: true },
  });
  await tx.signingKey.updateMany({ where: { id: { in: current.map((k) => k.id) } }, data: { retiredAt: now, notAfter: now } });
  const key = await tx.signingKey.create({
    data: { ...opts.material, name: opts.name, stageId: opts.stage.id, notBefore: now },
    omit: { encryptedPrivateKey: true },
  });
  if (opts.backendChanged) await tx.stage.update({ where: { id: opts.stage.id }, data: { keyBackend: opts.backendChanged } });
  await appendAuditEvent(tx, {
    actor: opts.actor,
    action: opts.action,
    target: `stage ${opts.stage.name}`,
    detail: {
      key: opts.name,
      fingerprint: key.fingerprint,
      backend: key.backend,
      retired: current.map((k) => ({ key: k.name, fingerprint: k.fingerprint, notAfter: now.toISOString() })),
      ...(opts.backendChanged ? { stageBackend: opts.backendChanged } : {}),
    },
  });
  await bumpTrustState(tx);
  return { key, retired: current };
}
