import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Creates a group or replaces its description and members (by email). Admins only; audited. */
export async function upsertGroup({ actor, name, description, members }: { actor: Actor; name: string; description?: string; members?: string[] }) {
  requireRole(actor, ["admin"], "managing groups");
  if (!NAME.test(name)) throw new AppError("INVALID_INPUT", "group name: 1-64 lowercase letters, digits, . _ -", "name");
  const emails = members ? [...new Set(members.map((m) => m.trim().toLowerCase()).filter(Boolean))] : undefined;
  const users = emails ? await db.user.findMany({ where: { email: { in: emails } }, select: { id: true, email: true } }) : [];
  if (emails) {
    const unknown = emails.filter((e) => !users.some((u) => u.email === e));
    if (unknown.length) throw new AppError("INVALID_INPUT", `unknown users: ${unknown.join(", ")}`, "members");
  }
  return db.$transaction(async (tx) => {
    const before = await tx.group.findUnique({ where: { name }, include: { members: { include: { user: { select: { email: true } } } } } });
    // Left out, description and members keep their values.
    const group = await tx.group.upsert({
      where: { name },
      create: { name, description: description ?? "" },
      update: description === undefined ? {} : { description },
    });
    if (emails) {
      await tx.groupMember.deleteMany({ where: { groupId: group.id, userId: { notIn: users.map((u) => u.id) } } });
      await tx.groupMember.createMany({ data: users.map((u) => ({ groupId: group.id, userId: u.id })), skipDuplicates: true });
    }
    await appendAuditEvent(tx, {
      actor,
      action: before ? "group.update" : "group.create",
      target: name,
      detail: {
        description: group.description,
        membersBefore: before?.members.map((m) => m.user.email) ?? [],
        members: emails ?? before?.members.map((m) => m.user.email) ?? [],
      },
    });
    return { id: group.id, name, description: group.description, members: emails ?? before?.members.map((m) => m.user.email) ?? [] };
  });
}
