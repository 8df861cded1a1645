import "server-only";
import { createHash } from "node:crypto";
import { bytes, db } from "../../db";
import { AppError } from "../../errors";
import { OciError } from "../../oci/digest";
import { assertHostAllowed } from "../../oci/ssrf";
import { seal } from "../../signing/keys/sealed";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { masterKey } from "../keys/master-key";
import { WEBHOOK_EVENTS } from "./emit-event";
import { WEBHOOK_FORMATS } from "./webhook-format";
import { newWebhookSecret } from "./webhook-signature";

/**
 * A webhook URL as the audit trail shows it: the origin and a fingerprint of the whole URL, never its path or query.
 * A Slack (or Teams, or any "incoming webhook") URL is itself the credential to post into the channel, and the trail is
 * read by managers and exported; admins see the full URL in the webhook list.
 */
export function auditedWebhookUrl(url: string): string {
  const u = new URL(url);
  const rest = u.pathname === "/" && !u.search ? "" : "/…";
  return `${u.origin}${rest} (sha256 ${createHash("sha256").update(url).digest("hex").slice(0, 16)})`;
}

/**
 * Registers a webhook (admins). Returns its secret once (`whsec_<base64>`); deliveries are signed the Standard Webhooks
 * way (`webhook-id`, `webhook-timestamp`, `webhook-signature`; webhook-signature.ts). Cloud-metadata and link-local
 * targets are refused.
 */
export async function createWebhook({
  actor,
  name,
  url,
  events,
  format = "cloudevents",
  stages = [],
  repositories = [],
}: {
  actor: Actor;
  name: string;
  url: string;
  events: string[];
  /** cloudevents (default) or slack. */
  format?: string;
  /** Scope: only these stages; empty = all. */
  stages?: string[];
  /** Scope: only repositories matching these globs (`apps/**`); empty = all. */
  repositories?: string[];
}) {
  requireRole(actor, ["admin"], "managing webhooks");
  if (!/^[a-zA-Z0-9._-]{1,64}$/.test(name)) throw new AppError("INVALID_INPUT", "webhook name: 1-64 letters, digits, . _ -", "name");
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError("INVALID_INPUT", "not a URL", "url");
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new AppError("INVALID_INPUT", "webhook URL must be http(s)", "url");
  if (u.username || u.password) throw new AppError("INVALID_INPUT", "put no credentials in the webhook URL; deliveries are signed instead", "url");
  try {
    // Resolves the name: a hostname that points at a metadata or link-local address is refused too.
    await assertHostAllowed(u.hostname.replace(/^\[|\]$/g, ""));
  } catch (e) {
    if (e instanceof OciError) throw new AppError("INVALID_INPUT", `webhook URL refused: ${e.message}`, "url");
    throw e;
  }
  const bad = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
  if (bad.length) throw new AppError("INVALID_INPUT", `unknown events ${bad.join(", ")}; known: ${WEBHOOK_EVENTS.join(", ")}`, "events");
  const known = new Set(stages.length ? (await db.stage.findMany({ select: { name: true } })).map((x) => x.name) : []);
  if (!(WEBHOOK_FORMATS as readonly string[]).includes(format))
    throw new AppError("INVALID_INPUT", `format must be one of ${WEBHOOK_FORMATS.join(", ")}`, "format");
  if (stages.length > 50 || stages.some((x) => !/^[a-zA-Z0-9._-]{1,64}$/.test(x)))
    throw new AppError("INVALID_INPUT", "stages: up to 50 stage names", "stages");
  const unknownStages = stages.filter((x) => !known.has(x));
  if (unknownStages.length) throw new AppError("INVALID_INPUT", `no stage ${unknownStages.join(", ")}`, "stages");
  if (repositories.length > 50 || repositories.some((x) => x.length < 1 || x.length > 255 || !/^[a-z0-9._\-/*?]+$/.test(x)))
    throw new AppError("INVALID_INPUT", "repositories: up to 50 globs of lowercase names, / * and ?", "repositories");
  const secret = newWebhookSecret();
  return db.$transaction(async (tx) => {
    if (await tx.webhook.findUnique({ where: { name } })) throw new AppError("CONFLICT", `a webhook named ${name} exists`, "name");
    const id = crypto.randomUUID();
    await tx.webhook.create({
      data: { id, name, url: u.toString(), events, format, stages, repositories, secret: bytes(seal(masterKey(), Buffer.from(secret), `webhook:${id}`)) },
    });
    await appendAuditEvent(tx, {
      actor,
      action: "webhook.create",
      target: name,
      detail: { url: auditedWebhookUrl(u.toString()), events, format, stages, repositories },
    });
    return { id, name, url: u.toString(), events, format, stages, repositories, secret };
  });
}
