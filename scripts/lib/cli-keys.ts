// The `imprimatur trust add`, `key rotate|import|revoke|create` and `approval revoke` commands: trust anchors, stage keys
// and taking approvals back.
import { readFileSync } from "node:fs";
import { db } from "../../lib/db";
import type { Actor } from "../../lib/server/actor";
import { createSigningKey } from "../../lib/server/keys/create-signing-key";
import { createTrustIdentity } from "../../lib/server/trust/create-trust-identity";

/** "a, b,c" → ["a", "b", "c"]. */
function splitList(v: string): string[] {
  return v
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

function fail(msg: string, code = 2): never {
  console.error(`imprimatur: ${msg}`);
  process.exit(code);
}

export interface KeyCommandValues {
  name?: string;
  "pem-file"?: string;
  kind?: string;
  role?: string;
  scope?: string;
  "builder-ids"?: string;
  subject?: string;
  san?: string;
  "oidc-issuer"?: string;
  "any-identity-under-root"?: boolean;
  stage?: string;
  backend?: string;
  password?: string;
  "effective-at"?: string;
  reason?: string;
  "dry-run"?: boolean;
  key?: string;
}

/** Runs one of the key and trust commands; returns the process exit code. */
export async function runKeyCommand(
  command: string,
  values: KeyCommandValues,
  positionals: string[],
  actor: Actor,
  readStdin: () => Promise<string>,
): Promise<number> {
  switch (command) {
    case "trust add": {
      if (!values.name || !values["pem-file"]) fail("trust add needs --name and --pem-file");
      let pem: string;
      try {
        pem = readFileSync(values["pem-file"], "utf8");
      } catch (e) {
        fail(`cannot read ${values["pem-file"]}: ${(e as Error).message}`);
      }
      const kind = values.kind ?? "key";
      const material = kind === "key" ? { publicKeyPem: pem } : kind === "sigstore" ? { trustedRoot: pem } : { certificates: pem };
      const { identity, created } = await createTrustIdentity({
        actor,
        input: {
          name: values.name,
          kind,
          role: values.role ?? "publisher",
          scope: splitList(values.scope ?? "**"),
          // role builder: the builder ids its provenance may name (required for a builder; ** for any).
          ...(values["builder-ids"] !== undefined ? { builderIds: splitList(values["builder-ids"]) } : {}),
          ...material,
          ...(values.subject ? { subject: values.subject } : {}),
          ...(values.san ? { san: values.san } : {}),
          ...(values["oidc-issuer"] ? { oidcIssuer: values["oidc-issuer"] } : {}),
          ...(values["any-identity-under-root"] ? { anyIdentityUnderRoot: true } : {}),
        },
      });
      console.log(
        `${created ? "trusted" : "already trusted"}: ${identity.name}${identity.fingerprint ? ` ${identity.fingerprint}` : ""} (${identity.kind}, role ${identity.role}, scope ${identity.scope.join(",")}${identity.builderIds.length ? `, builder ids ${identity.builderIds.join(",")}` : ""})`,
      );
      return 0;
    }
    case "key rotate": {
      if (!values.stage) fail("key rotate needs --stage");
      if (values.backend && values.backend !== "software" && values.backend !== "pkcs11") fail("--backend is software or pkcs11");
      const { rotateStageKey } = await import("../../lib/server/keys/rotate-signing-key");
      const { key, retired } = await rotateStageKey({
        actor,
        stage: values.stage,
        name: values.name,
        backend: values.backend as "software" | "pkcs11" | undefined,
      });
      console.log(
        `stage ${values.stage}: new key ${key.name} ${key.fingerprint} (${key.backend})${retired.length ? `; retired ${retired.map((k) => k.name).join(", ")}` : ""}\n${key.publicKeyPem}`,
      );
      return 0;
    }
    case "key import": {
      if (!values.stage || !values["pem-file"]) fail("key import needs --stage and --pem-file");
      const pem = readFileSync(values["pem-file"], "utf8");
      const password = values.password ?? process.env.IMPRIMATUR_PASSWORD ?? (await readStdin());
      const { importSigningKey } = await import("../../lib/server/keys/import-signing-key");
      const { key, retired } = await importSigningKey({ actor, stage: values.stage, pem, password, name: values.name });
      console.log(
        `stage ${values.stage}: imported ${key.name} ${key.fingerprint}${retired.length ? `; retired ${retired.map((k) => k.name).join(", ")}` : ""}`,
      );
      return 0;
    }
    case "key revoke": {
      if (!values.stage || !values["effective-at"] || !values.reason) fail("key revoke needs --stage, --effective-at and --reason");
      const effectiveAt = new Date(values["effective-at"]);
      if (Number.isNaN(effectiveAt.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(values["effective-at"]))
        fail("--effective-at must be an RFC 3339 time, e.g. 2026-12-01T09:30:00Z");
      const { revokeStageKey } = await import("../../lib/server/keys/revoke-stage-key");
      const r = await revokeStageKey({ actor, stage: values.stage, effectiveAt, reason: values.reason, dryRun: Boolean(values["dry-run"]), key: values.key });
      const changing = r.approvals.filter((a) => !a.alreadyRevoked);
      console.log(`${r.dryRun ? "DRY RUN: " : ""}key ${r.key.name} (${r.key.fingerprint}) compromised from ${r.effectiveAt}`);
      console.log(
        `${changing.length} approval(s) ${r.dryRun ? "would be" : "were"} revoked on ${r.images.length} image(s); ${r.unaffected} signed before stay valid`,
      );
      for (const a of r.approvals)
        console.log(
          `  ${a.alreadyRevoked ? "(already revoked) " : ""}${a.approvalId}  ${a.stage}  ${a.repository}@${a.digest}  trusted time ${a.trustedAt} (${a.trustedBy === "tsa" ? "TSA" : "Imprimatur's record"})`,
        );
      if (!r.dryRun) {
        if (r.replacement) console.log(`replacement key ${r.replacement.name} ${r.replacement.fingerprint}`);
        if (r.pendingInRegistry.length) console.log(`${r.pendingInRegistry.length} revocation(s) pending in the registry; retried by the worker's tick`);
      }
      return 0;
    }
    case "approval revoke": {
      const id = positionals[0];
      if (!id || !values.reason) fail("approval revoke needs an approval id and --reason");
      const { revokeApproval } = await import("../../lib/server/approvals/revoke-approval");
      const r = await revokeApproval({ approvalId: id, actor, reason: values.reason });
      console.log(
        `${r.alreadyRevoked ? "already revoked" : "revoked"} ${r.approvalId} (stage ${r.stage}, ${r.repository}@${r.digest}) at ${r.revokedAt} by ${r.revokedBy}: ${r.reason}; registry: ${r.state}${r.error ? ` (${r.error})` : ""}`,
      );
      return 0;
    }
    case "key create": {
      if (!values.stage) fail("key create needs --stage");
      const stage = await db.stage.findUnique({ where: { name: values.stage } });
      if (!stage) fail(`unknown stage ${values.stage}`);
      const k = await createSigningKey({ actor, name: values.name ?? `stage-${stage.name}-${new Date().toISOString().slice(0, 10)}`, stageId: stage.id });
      console.log(`created ${k.name} ${k.fingerprint}\n${k.publicKeyPem}`);
      return 0;
    }
    default:
      fail(`not a key command: ${command}`);
  }
}
