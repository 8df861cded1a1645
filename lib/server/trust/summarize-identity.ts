import "server-only";
import type { db } from "../../db";
import { readDisplayJson, sigstoreMaterialCountsColumn } from "../json-columns";
import { builderIdsWarning } from "./trust-identity-input";

type Row = Awaited<ReturnType<typeof db.trustIdentity.findMany>>[number];

function status(r: { validFrom: Date | null; validUntil: Date | null; revokedAt: Date | null }, now = new Date()) {
  if (r.revokedAt && r.revokedAt <= now) return "revoked";
  if (r.validFrom && r.validFrom > now) return "not yet valid";
  if (r.validUntil && r.validUntil <= now) return "expired";
  return "valid";
}

/** An identity as the API and the UI show it (the Sigstore material as counts, not the whole document). */
export function summarizeIdentity(r: Row) {
  // Display only: counts of what parses (verification parses the trusted root itself, lib/signing/trust).
  const sig =
    r.sigstore === null ? null : readDisplayJson(sigstoreMaterialCountsColumn, r.sigstore, { table: "trust_identities", column: "sigstore", id: r.id }).value;
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    role: r.role,
    scope: r.scope,
    /** role builder: the builder ids it may vouch for in the provenance it signs (empty for other roles). */
    builderIds: r.builderIds,
    /** Set when it vouches for any builder id (`**`, as existing builders were upgraded): shown as a warning. */
    builderIdsWarning: builderIdsWarning(r.role, r.builderIds),
    publicKeyPem: r.publicKeyPem,
    fingerprint: r.fingerprint,
    algorithm: r.algorithm,
    certificates: r.certificates,
    subject: r.subject,
    san: r.san,
    oidcIssuer: r.oidcIssuer,
    anyIdentityUnderRoot: r.anyIdentityUnderRoot,
    sigstore: sig
      ? {
          certificateAuthorities: sig.certificateAuthorities?.length ?? 0,
          tlogs: sig.tlogs?.length ?? 0,
          ctlogs: sig.ctlogs?.length ?? 0,
          timestampAuthorities: sig.timestampAuthorities?.length ?? 0,
        }
      : null,
    validFrom: r.validFrom?.toISOString() ?? null,
    validUntil: r.validUntil?.toISOString() ?? null,
    revokedAt: r.revokedAt?.toISOString() ?? null,
    status: status(r),
    createdBy: r.createdBy,
    createdAt: r.createdAt.toISOString(),
  };
}
