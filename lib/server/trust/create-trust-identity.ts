import "server-only";
import { X509Certificate, type KeyObject } from "node:crypto";
import type { z } from "zod";
import { db, type Prisma } from "../../db";
import { AppError } from "../../errors";
import { KeyFormatError, parsePublicKey } from "../../signing/keys/software";
import { parseTrustedRoot, SigstoreTrustError } from "../../signing/trust/sigstore-root";
import { pemBlocks } from "../../signing/trust/x509";
import { requireRole, type Actor, actorLabel } from "../actor";
import type { AuditDetail } from "../../audit-events";
import { appendAuditEvent } from "../audit/append-audit-event";
import { bumpTrustState } from "./load-trust";
import { builderIdsProblem, createTrustIdentityInput, identityBreadthProblem, type CreateTrustIdentityInput } from "./trust-identity-input";
import { parseInput } from "./parse-input";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { jsonColumn, sigstoreThresholdsColumn } from "../json-columns";

/** A root with its intermediates is a handful of certificates; anything longer is refused before any parsing. */
export const MAX_IDENTITY_CERTIFICATES = 10;

export interface CreateTrustIdentityOptions {
  actor: Actor;
  input: CreateTrustIdentityInput;
}

function keyProblem(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails ?? {};
  if (type === "ec" && (d.namedCurve === "prime256v1" || d.namedCurve === "secp384r1" || d.namedCurve === "secp521r1")) return null;
  if (type === "rsa" && (d.modulusLength ?? 0) >= 2048) return null;
  if (type === "rsa-pss" && (d.modulusLength ?? 0) >= 2048) return null;
  if (type === "ed25519") return null;
  if (type === "rsa" || type === "rsa-pss") return `RSA key of ${d.modulusLength} bits: at least 2048 are required`;
  if (type === "ec") return `unsupported curve ${d.namedCurve}: use P-256, P-384 or P-521`;
  return `unsupported key type ${type}`;
}

/** Parses a PEM bundle of roots / intermediates; every problem names the certificate it is about. */
export function parseIdentityCertificates(pem: string): { pems: string[]; subjects: string[] } {
  const { blocks, unterminated } = pemBlocks(pem, "CERTIFICATE");
  const begins = blocks.length + unterminated;
  if (begins === 0) throw new AppError("INVALID_INPUT", "expected PEM certificates (-----BEGIN CERTIFICATE-----)", "certificates");
  if (begins > MAX_IDENTITY_CERTIFICATES)
    throw new AppError(
      "INVALID_INPUT",
      `${begins} certificates given; a trust identity holds at most ${MAX_IDENTITY_CERTIFICATES} (a root and its intermediates)`,
      "certificates",
    );
  if (blocks.length !== begins)
    throw new AppError("INVALID_INPUT", "malformed PEM: a certificate block is not terminated (-----END CERTIFICATE-----)", "certificates");
  const pems: string[] = [];
  const subjects: string[] = [];
  blocks.forEach((b, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(b);
    } catch (e) {
      throw new AppError("INVALID_INPUT", `certificate ${i + 1}: malformed PEM or DER (${(e as Error).message})`, "certificates");
    }
    const problem = keyProblem(cert.publicKey);
    if (problem) throw new AppError("INVALID_INPUT", `certificate ${i + 1} (${cert.subject.replace(/\n/g, ", ")}): ${problem}`, "certificates");
    pems.push(cert.toString());
    subjects.push(cert.subject.replace(/\n/g, ", "));
  });
  return { pems, subjects };
}

/** The cosign public key, parsed (INVALID_INPUT on publicKeyPem when it is not one). */
function readPublicKey(publicKeyPem: string) {
  try {
    return parsePublicKey(publicKeyPem);
  } catch (e) {
    if (!(e instanceof KeyFormatError)) throw e;
    throw new AppError("INVALID_INPUT", e.message, "publicKeyPem");
  }
}

/** A Sigstore trusted_root.json (as JSON text or already parsed), checked (INVALID_INPUT on trustedRoot otherwise). */
function readTrustedRoot(trustedRoot: unknown) {
  let json: unknown = trustedRoot;
  if (typeof json === "string") {
    try {
      json = JSON.parse(json);
    } catch {
      throw new AppError("INVALID_INPUT", "trustedRoot is not valid JSON", "trustedRoot");
    }
  }
  let root;
  try {
    root = parseTrustedRoot(json);
  } catch (e) {
    if (!(e instanceof SigstoreTrustError)) throw e;
    throw new AppError("INVALID_INPUT", e.message, "trustedRoot");
  }
  return { json, root };
}

type ParsedInput = z.infer<typeof createTrustIdentityInput>;

/** Checks the identity's key material for its kind and copies it (and what the audit row says of it) into `data` / `detail`. */
function applyMaterial(input: ParsedInput, data: Prisma.TrustIdentityCreateInput, detail: AuditDetail<"trust.add">): void {
  const only = (allowed: string[]) => {
    for (const f of ["publicKeyPem", "certificates", "trustedRoot"] as const) {
      if (input[f] !== undefined && !allowed.includes(f)) throw new AppError("INVALID_INPUT", `${f} does not apply to an identity of kind ${input.kind}`, f);
    }
  };
  if (input.anyIdentityUnderRoot && input.kind !== "certificate" && input.kind !== "sigstore")
    throw new AppError("INVALID_INPUT", "anyIdentityUnderRoot applies to certificate and sigstore identities only", "anyIdentityUnderRoot");
  if (input.thresholds && input.kind !== "sigstore") throw new AppError("INVALID_INPUT", "thresholds apply to sigstore identities only", "thresholds");
  switch (input.kind) {
    case "key": {
      only(["publicKeyPem"]);
      if (!input.publicKeyPem) throw new AppError("INVALID_INPUT", "a key identity needs publicKeyPem (the cosign.pub PEM)", "publicKeyPem");
      if (input.subject || input.san || input.oidcIssuer)
        throw new AppError("INVALID_INPUT", "subject, san and oidcIssuer apply to certificate identities, not keys", "subject");
      const info = readPublicKey(input.publicKeyPem);
      Object.assign(data, { publicKeyPem: info.pem, fingerprint: info.fingerprint, algorithm: info.algorithm });
      Object.assign(detail, { fingerprint: info.fingerprint, algorithm: info.algorithm });
      break;
    }
    case "certificate":
    case "tsa": {
      only(["certificates"]);
      if (!input.certificates) throw new AppError("INVALID_INPUT", `a ${input.kind} identity needs certificates (PEM)`, "certificates");
      if (input.kind === "tsa" && (input.subject || input.san || input.oidcIssuer))
        throw new AppError("INVALID_INPUT", "a TSA identity vouches for time, not for a signer: subject, san and oidcIssuer do not apply", "subject");
      if (input.oidcIssuer && !input.san) throw new AppError("INVALID_INPUT", "oidcIssuer is matched together with san", "san");
      const { pems, subjects } = parseIdentityCertificates(input.certificates);
      data.certificates = pems;
      Object.assign(detail, { certificates: subjects });
      break;
    }
    case "sigstore": {
      only(["trustedRoot"]);
      if (input.trustedRoot === undefined) throw new AppError("INVALID_INPUT", "a sigstore identity needs trustedRoot (the trusted_root.json)", "trustedRoot");
      const { json, root } = readTrustedRoot(input.trustedRoot);
      data.sigstore = json as Prisma.InputJsonValue;
      if (input.thresholds) data.sigstoreThresholds = jsonColumn(sigstoreThresholdsColumn, input.thresholds);
      Object.assign(detail, {
        fulcioCAs: root.fulcioCAs.length,
        rekorKeys: root.rekorKeys.length,
        ctLogKeys: root.ctLogKeys.length,
        tsaRoots: root.tsaRoots.length,
      });
      break;
    }
    default:
      throw new AppError("INVALID_INPUT", `unknown kind ${input.kind}`, "kind");
  }
}

/**
 * Adds a trust identity: a key, certificate roots (with an identity matcher), Sigstore trust material, or TSA roots,
 * with a role and a repository scope. Bad material is refused with a 4xx that says what is wrong.
 */
export async function createTrustIdentity({ actor, input: raw }: CreateTrustIdentityOptions) {
  requireRole(actor, ["admin"], "managing trust identities");
  const input = parseInput(createTrustIdentityInput, raw);
  if (input.validFrom && input.validUntil && input.validFrom >= input.validUntil)
    throw new AppError("INVALID_INPUT", "validFrom must be before validUntil", "validUntil");
  // A builder's provenance counts only for the builder ids it is bound to (the provenance gate); none given is refused
  // rather than read as "any", so a new builder key never vouches for the release builder by default.
  const builderIds = input.builderIds ?? [];
  const builderProblem = builderIdsProblem(input.role, builderIds);
  if (builderProblem) throw new AppError("INVALID_INPUT", builderProblem, "builderIds");

  const data: Prisma.TrustIdentityCreateInput = {
    name: input.name,
    kind: input.kind,
    role: input.role,
    scope: input.scope,
    builderIds,
    subject: input.subject ?? null,
    san: input.san ?? null,
    oidcIssuer: input.oidcIssuer ?? null,
    anyIdentityUnderRoot: input.anyIdentityUnderRoot ?? false,
    validFrom: input.validFrom ?? null,
    validUntil: input.validUntil ?? null,
    createdBy: actorLabel(actor),
  };
  const detail: AuditDetail<"trust.add"> = { kind: input.kind, role: input.role, scope: input.scope, ...(builderIds.length ? { builderIds } : {}) };
  applyMaterial(input, data, detail);
  // Judged once the material is known to be good, so a bad PEM is reported as such first.
  const broad = identityBreadthProblem(input);
  if (broad) throw new AppError("INVALID_INPUT", broad, "anyIdentityUnderRoot");
  if (input.anyIdentityUnderRoot) detail.anyIdentityUnderRoot = true;

  return db.$transaction(async (tx) => {
    // Trust decides signature and evidence verdicts: every approved image is judged again.
    await requestReevaluation(tx, { trigger: "trust" });
    const existing = await tx.trustIdentity.findUnique({ where: { name: input.name } });
    if (existing) {
      // Re-adding the same key under the same name (the seed, a re-run script) is a no-op.
      // Only when nothing else differs: a changed role or scope under the same name must not be dropped in silence.
      const same =
        existing.role === input.role && existing.scope.join(",") === input.scope.join(",") && existing.builderIds.join("\n") === builderIds.join("\n");
      if (existing.kind === "key" && input.kind === "key" && existing.fingerprint === data.fingerprint && same) return { identity: existing, created: false };
      throw new AppError("CONFLICT", `a trust identity named ${input.name} exists`, "name");
    }
    const identity = await tx.trustIdentity.create({ data });
    await appendAuditEvent(tx, { actor, action: "trust.add", target: input.name, detail });
    await bumpTrustState(tx);
    return { identity, created: true };
  });
}
