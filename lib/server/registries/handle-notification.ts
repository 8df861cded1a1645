import "server-only";
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { db } from "../../db";
import { AppError } from "../../errors";
import { isRepositoryName } from "../../oci/reference";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { countAuthFailure } from "../auth/count-auth-failure";
import { enqueueSync } from "../jobs/enqueue-sync";
import { hashToken } from "../tokens/token-format";
import { assertCleanJson } from "../http/hostile-input";

// Distribution: {"events":[{"action":"push"|"delete"|"pull", "target":{"repository", "digest", "tag"?}}]}
const distribution = z.object({
  events: z.array(z.object({ action: z.string(), target: z.object({ repository: z.string() }).loose() }).loose()).max(1000),
});
// Harbor: {"type":"PUSH_ARTIFACT"|"DELETE_ARTIFACT", "event_data":{"repository":{"repo_full_name"}, "resources":[…]}}
const harbor = z.object({
  type: z.string(),
  event_data: z.object({ repository: z.object({ repo_full_name: z.string() }).loose() }).loose(),
});

const RELEVANT_DISTRIBUTION = new Set(["push", "delete", "mount"]);
const RELEVANT_HARBOR = new Set(["PUSH_ARTIFACT", "DELETE_ARTIFACT", "pushImage", "deleteImage"]);

/** Which repositories an event body is about, for the two formats we accept. */
export function repositoriesFromNotification(body: unknown): { format: "distribution" | "harbor"; repositories: string[]; ignored: number } {
  const d = distribution.safeParse(body);
  if (d.success) {
    const relevant = d.data.events.filter((e) => RELEVANT_DISTRIBUTION.has(e.action));
    return { format: "distribution", repositories: [...new Set(relevant.map((e) => e.target.repository))], ignored: d.data.events.length - relevant.length };
  }
  const h = harbor.safeParse(body);
  if (h.success) {
    const relevant = RELEVANT_HARBOR.has(h.data.type);
    return { format: "harbor", repositories: relevant ? [h.data.event_data.repository.repo_full_name] : [], ignored: relevant ? 0 : 1 };
  }
  throw new AppError("INVALID_INPUT", "not a Distribution notification envelope ({events:[…]}) or a Harbor webhook ({type, event_data})");
}

/**
 * Accepts a registry's webhook (Distribution or Harbor), authenticated by the registry's own token sent as
 * `Authorization: Bearer <token>` (Distribution `headers`) or as the raw header value (Harbor "Auth Header").
 * Queues a sync of just the repositories concerned.
 */
export async function handleNotification({
  registryName,
  authorization,
  body: bodyOrReader,
  source = "unknown",
}: {
  registryName: string;
  authorization: string | null;
  /** The parsed body, or a function that reads it: called only once the token is right, so a caller without the
   * token cannot make the server read (or parse) a body at all. */
  body: unknown | (() => Promise<unknown>);
  /** The client address, for the failed-authentication counter. */
  source?: string;
}) {
  const reg = await db.registry.findUnique({ where: { name: registryName } });
  const presented = (authorization ?? "").replace(/^Bearer\s+/i, "").trim();
  const expected = reg?.webhookTokenHash ? Buffer.from(reg.webhookTokenHash, "hex") : null;
  const actual = Buffer.from(hashToken(presented), "hex");
  if (!reg || !expected || !presented || !timingSafeEqual(expected, actual)) {
    await countAuthFailure({ source, kind: "webhook" });
    // The same answer whether the registry exists or not.
    throw new AppError("UNAUTHENTICATED", "missing or wrong webhook token");
  }
  const body = typeof bodyOrReader === "function" ? await (bodyOrReader as () => Promise<unknown>)() : bodyOrReader;
  assertCleanJson(body);
  const { format, repositories, ignored } = repositoriesFromNotification(body);
  const valid = repositories.filter(isRepositoryName);
  const actor: Actor = { kind: "system", label: `webhook:${reg.name}` };
  if (!valid.length) {
    await db.$transaction((tx) =>
      appendAuditEvent(tx, { actor, action: "registry.notification", target: reg.name, detail: { format, repositories: [], ignored } }),
    );
    return { queued: null, repositories: [], ignored };
  }
  const run = await enqueueSync({ actor, registry: reg.name, trigger: "webhook", repositories: valid });
  await db.$transaction((tx) =>
    appendAuditEvent(tx, { actor, action: "registry.notification", target: reg.name, detail: { format, repositories: valid, ignored, syncRunId: run.id } }),
  );
  return { queued: run.id, repositories: valid, ignored };
}
