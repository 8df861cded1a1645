import "server-only";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { bumpTrustState } from "./load-trust";
import { parseInput } from "./parse-input";
import { builderIdsProblem, identityBreadthProblem, updateTrustIdentityInput, type UpdateTrustIdentityInput } from "./trust-identity-input";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { jsonColumn, sigstoreThresholdsColumn } from "../json-columns";
import { rejudgeEvidenceSigner } from "../evidence/rejudge-evidence-signer";

export interface UpdateTrustIdentityOptions {
  actor: Actor;
  name: string;
  input: UpdateTrustIdentityInput;
}

/**
 * Changes an identity's role, scope, identity matchers, validity or revocation. Revocation takes an effective time:
 * signatures whose trusted time is earlier keep verifying; signatures without a trusted time stop verifying from it.
 */
export async function updateTrustIdentity({ actor, name, input: raw }: UpdateTrustIdentityOptions) {
  requireRole(actor, ["admin"], "managing trust identities");
  const input = parseInput(updateTrustIdentityInput, raw);
  return db.$transaction(async (tx) => {
    // Trust decides signature and evidence verdicts: every approved image is judged again.
    await requestReevaluation(tx, { trigger: "trust" });
    const cur = await tx.trustIdentity.findUnique({ where: { name } });
    if (!cur) throw new AppError("NOT_FOUND", `no trust identity ${name}`);
    const validFrom = input.validFrom === undefined ? cur.validFrom : input.validFrom;
    const validUntil = input.validUntil === undefined ? cur.validUntil : input.validUntil;
    if (validFrom && validUntil && validFrom >= validUntil) throw new AppError("INVALID_INPUT", "validFrom must be before validUntil", "validUntil");
    // The same field rules as on create, judged on the identity as it would be after the change.
    const merged = {
      subject: input.subject === undefined ? cur.subject : input.subject,
      san: input.san === undefined ? cur.san : input.san,
      oidcIssuer: input.oidcIssuer === undefined ? cur.oidcIssuer : input.oidcIssuer,
    };
    if ((cur.kind === "key" || cur.kind === "tsa") && (merged.subject || merged.san || merged.oidcIssuer)) {
      throw new AppError("INVALID_INPUT", `subject, san and oidcIssuer identify certificate signers; they do not apply to a ${cur.kind} identity`, "subject");
    }
    if (merged.oidcIssuer && !merged.san) throw new AppError("INVALID_INPUT", "oidcIssuer is matched together with san", "san");
    const anyIdentityUnderRoot = input.anyIdentityUnderRoot === undefined ? cur.anyIdentityUnderRoot : input.anyIdentityUnderRoot;
    if (input.anyIdentityUnderRoot && cur.kind !== "certificate" && cur.kind !== "sigstore")
      throw new AppError("INVALID_INPUT", "anyIdentityUnderRoot applies to certificate and sigstore identities only", "anyIdentityUnderRoot");
    const broad = identityBreadthProblem({ kind: cur.kind, ...merged, anyIdentityUnderRoot });
    if (broad) throw new AppError("INVALID_INPUT", broad, "anyIdentityUnderRoot");
    if (input.thresholds && cur.kind !== "sigstore") throw new AppError("INVALID_INPUT", "thresholds apply to sigstore identities only", "thresholds");
    // Judged on the identity as it would be: a builder keeps a non-empty list, another role carries none (turning a
    // builder into a team key needs builderIds: [] in the same change, so the list is never silently kept or dropped).
    const builderProblem = builderIdsProblem(input.role ?? cur.role, input.builderIds ?? cur.builderIds);
    if (builderProblem) throw new AppError("INVALID_INPUT", builderProblem, "builderIds");
    const { thresholds, ...rest } = input;
    const changes = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    const data = {
      ...changes,
      ...(thresholds !== undefined ? { sigstoreThresholds: thresholds ? jsonColumn(sigstoreThresholdsColumn, thresholds) : Prisma.DbNull } : {}),
      updatedAt: new Date(),
    };
    const identity = await tx.trustIdentity.update({ where: { name }, data });
    // Evidence it signed is judged again against it as it is now (revoked, narrowed, another role). Narrowed builder
    // ids void no document (the signature stands): the provenance gate reads them when the stages are judged again,
    // which the request above asks for every approved image, in this transaction.
    await rejudgeEvidenceSigner(tx, { name, identity });
    const revoked = input.revokedAt !== undefined && input.revokedAt !== null && !cur.revokedAt;
    await appendAuditEvent(tx, {
      actor,
      action: revoked ? "trust.revoke" : "trust.update",
      target: name,
      detail: { changes: { ...changes, ...(thresholds !== undefined ? { thresholds } : {}) } },
    });
    await bumpTrustState(tx);
    return identity;
  });
}
