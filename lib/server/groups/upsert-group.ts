import "server-only";
import { db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { kickReevaluation, requestReevaluationForApprovers, requestReevaluationForGrantors } from "../reevaluation/enqueue-reevaluation";

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
  const out = await db.$transaction(async (tx) => {
    const before = await tx.group.findUnique({ where: { name }, include: { members: { include: { user: { select: { email: true } } } } } });
    // Left out, description and members keep their values.
    const group = await tx.group.upsert({
      where: { name },
      create: { name, description: description ?? "" },
      update: description === undefined ? {} : { description },
    });
    const changed = emails
      ? await replaceMembers(
          tx,
          group.id,
          before?.members.map((m) => m.userId) ?? [],
          users.map((u) => u.id),
        )
      : [];
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
    return { id: group.id, name, description: group.description, members: emails ?? before?.members.map((m) => m.user.email) ?? [], changed };
  });
  if (out.changed.length) await kickReevaluation();
  const { changed: _changed, ...group } = out;
  return group;
}

/**
 * Sets the group's members; returns the accounts that joined or left. When the group grants waivers for a stage, their
 * waivers' standing changed (a waiver counts only while its grantor is in the waiver group): the approvals those
 * waivers cover are judged again. When it reviews a stage, their approvals' standing changed (an approval counts
 * towards N only while its approver is in a reviewer group of the stage): the approvals they made there are judged again.
 */
async function replaceMembers(tx: Tx, groupId: string, beforeIds: string[], afterIds: string[]): Promise<string[]> {
  await tx.groupMember.deleteMany({ where: { groupId, userId: { notIn: afterIds } } });
  await tx.groupMember.createMany({ data: afterIds.map((userId) => ({ groupId, userId })), skipDuplicates: true });
  const changed = [...beforeIds.filter((id) => !afterIds.includes(id)), ...afterIds.filter((id) => !beforeIds.includes(id))];
  if (changed.length && (await tx.stage.count({ where: { waiverGroupId: groupId } }))) await requestReevaluationForGrantors(tx, { userIds: changed });
  if (changed.length) await requestReevaluationForApprovers(tx, { userIds: changed, groupId });
  return changed;
}
