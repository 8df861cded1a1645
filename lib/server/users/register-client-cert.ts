import "server-only";
import { createHash, X509Certificate } from "node:crypto";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";

/** Registers a client certificate (PEM) as a login for a user: a proxy forwarding it authenticates as that user. */
export async function registerClientCert({ actor, email, pem, name }: { actor: Actor; email: string; pem: string; name?: string }) {
  requireRole(actor, ["admin"], "registering client certificates");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (e) {
    throw new AppError("INVALID_INPUT", `not a PEM certificate: ${(e as Error).message}`, "pem");
  }
  const user = await db.user.findUnique({ where: { email: email.trim().toLowerCase() } });
  if (!user) throw new AppError("NOT_FOUND", `no user ${email}`, "email");
  const fingerprint = `sha256:${createHash("sha256").update(cert.raw).digest("hex")}`;
  const subject = cert.subject.replace(/\n/g, ", ");
  return db.$transaction(async (tx) => {
    if (await tx.clientCertificate.findUnique({ where: { fingerprint } })) throw new AppError("CONFLICT", `certificate ${fingerprint} is already registered`);
    const row = await tx.clientCertificate.create({ data: { userId: user.id, fingerprint, subject, name: name ?? subject } });
    await appendAuditEvent(tx, { actor, action: "client-cert.add", target: user.email, detail: { fingerprint, subject, notAfter: cert.validTo } });
    return { id: row.id, email: user.email, fingerprint, subject };
  });
}

export async function revokeClientCert({ actor, fingerprint }: { actor: Actor; fingerprint: string }) {
  requireRole(actor, ["admin"], "revoking client certificates");
  return db.$transaction(async (tx) => {
    const row = await tx.clientCertificate.findUnique({ where: { fingerprint } });
    if (!row) throw new AppError("NOT_FOUND", `no client certificate ${fingerprint}`);
    await tx.clientCertificate.update({ where: { id: row.id }, data: { revokedAt: new Date() } });
    await appendAuditEvent(tx, { actor, action: "client-cert.revoke", detail: { fingerprint } });
    return { fingerprint };
  });
}
