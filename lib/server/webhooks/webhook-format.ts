import "server-only";

export const WEBHOOK_FORMATS = ["cloudevents", "slack"] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

type Payload = Record<string, unknown> & { event?: string; at?: string };
const str = (v: unknown) => (typeof v === "string" ? v : null);

/** The image an event is about, as `registry/repository@digest`, when the event names one. */
export function eventSubject(p: Payload): string | null {
  const repo = str(p.repository);
  const digest = str(p.digest);
  if (repo && digest) return `${repo}@${digest}`;
  return digest ?? repo ?? (str(p.requestId) ? `request/${str(p.requestId)}` : null);
}

/**
 * CloudEvents 1.0, structured content mode (application/cloudevents+json): the stored event becomes `data`,
 * `type` is dev.imprimatur.<event>, `source` the instance's public URL, `subject` the image, `id` the delivery id
 * (stable across retries, so receivers can deduplicate).
 */
export function cloudEvent(deliveryId: string, event: string, payload: Payload, source: string) {
  const { event: _e, at, ...data } = payload;
  const subject = eventSubject(payload);
  return {
    specversion: "1.0",
    id: deliveryId,
    source,
    type: `dev.imprimatur.${event}`,
    ...(subject ? { subject } : {}),
    time: str(at) ?? new Date().toISOString(),
    datacontenttype: "application/json",
    data,
  };
}

const WORDS: Record<string, string> = {
  "request.created": "Promotion requested",
  "request.approved": "Promotion approved",
  "request.signed": "Stage signature pushed",
  "request.rejected": "Promotion rejected",
  "review.created": "Review recorded",
  "waiver.granted": "Waiver granted",
};

// Slack's mrkdwn treats <, > and & as control characters: escape what comes from users.
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A Slack incoming-webhook message (`text` plus one section block) with the event in words and a link to the image. */
export function slackMessage(event: string, payload: Payload, baseUrl: string | null) {
  const subject = eventSubject(payload);
  const parts = [`*${WORDS[event] ?? event}*`];
  if (subject) parts.push(`\`${esc(subject.replace(/@(sha256:[0-9a-f]{12})[0-9a-f]+$/, "@$1…"))}\``);
  if (str(payload.stage)) parts.push(`for *${esc(str(payload.stage)!)}*`);
  const by = str(payload.by) ?? str(payload.requester);
  if (by) parts.push(`by ${esc(by)}`);
  if (typeof payload.approvals === "number" && typeof payload.required === "number") parts.push(`(${payload.approvals} of ${payload.required})`);
  const reason = str(payload.reason) ?? str(payload.note);
  let text = parts.join(" ");
  if (reason) text += `: “${esc(reason.slice(0, 300))}”`;
  const repo = str(payload.repository);
  const digest = str(payload.digest);
  if (baseUrl && repo && digest && repo.includes("/")) {
    const slash = repo.indexOf("/");
    text += ` <${baseUrl.replace(/\/+$/, "")}/images/${repo.slice(slash + 1)}@${digest}?registry=${encodeURIComponent(repo.slice(0, slash))}|open>`;
  }
  return { text, blocks: [{ type: "section", text: { type: "mrkdwn", text } }] };
}
