// The pieces audit sentences are made of (lib/audit-catalogue.ts): links to images, stages and requests, quoted
// text, dates. Plain data in, plain data out (no React, no Prisma).
import type { AuditDetail, AuditEventKind } from "./audit-events";

/** A piece of a sentence: text, or a link / monospace token. */
export type Segment = string | { text: string; href?: string; mono?: boolean; title?: string };

export interface AuditEventView {
  seq: string;
  at: string;
  actorType: string;
  actor: string;
  action: string;
  outcome: string;
  targetDigest: string | null;
  target: string | null;
  detail: unknown;
}

export interface AuditKind<K extends AuditEventKind = AuditEventKind> {
  /** Always the action's prefix before the first dot (the family filter matches on that prefix). */
  family: string;
  /** What it is, for the filter menu. */
  label: string;
  /** The sentence after the actor, from the detail as the kind's schema parsed it. */
  render: (e: AuditEventView, d: AuditDetail<K>) => Segment[];
}

export const str = (v: unknown): string | null => (typeof v === "string" && v.length > 0 ? v : null);
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
export const shortId = (id: string): Segment => ({ text: id.slice(0, 8), title: id, mono: true });

export function shortDigest(d: string): string {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(d);
  return m ? `${m[1]}:${m[2]!.slice(0, 12)}…` : d;
}

/** "reg/apps/payments-api" + digest → a link to the image page. Registry names contain no "/". */
export function image(e: AuditEventView): Segment {
  const digest = e.targetDigest;
  const target = e.target;
  if (!digest) return target ? { text: target, mono: true } : "an image";
  if (target && target.includes("/")) {
    const slash = target.indexOf("/");
    const registry = target.slice(0, slash);
    const repository = target.slice(slash + 1);
    return {
      text: `${repository}@${shortDigest(digest)}`,
      href: `/images/${repository}@${digest}?registry=${encodeURIComponent(registry)}`,
      mono: true,
      title: `${target}@${digest}`,
    };
  }
  return { text: shortDigest(digest), href: `/search?q=${encodeURIComponent(digest)}`, mono: true, title: digest };
}

export function stage(d: { stage?: string | null }): Segment[] {
  const s = str(d.stage);
  return s ? [" for ", { text: s, href: `/stages#stage-${encodeURIComponent(s)}` }] : [];
}

export function request(d: { requestId?: string | null }): Segment[] {
  const id = str(d.requestId);
  return id ? [" (", { text: `request ${id.slice(0, 8)}`, href: `/requests/${encodeURIComponent(id)}`, title: id }, ")"] : [];
}

export function registry(e: AuditEventView): Segment {
  return e.target ? { text: e.target, href: `/registries#registry-${encodeURIComponent(e.target)}`, mono: true } : "a registry";
}

export function quoted(v: unknown, max = 140): Segment[] {
  const s = str(v);
  if (!s) return [];
  return [`: “${s.length > max ? `${s.slice(0, max)}…` : s}”`];
}

export function date(v: unknown): string | null {
  const s = str(v);
  if (!s) return null;
  const t = new Date(s);
  return Number.isNaN(t.getTime()) ? null : t.toISOString().slice(0, 10);
}

export const failedSuffix = (e: AuditEventView): Segment[] => (e.outcome === "success" ? [] : [` — ${e.outcome}`]);
export const targetText = (e: AuditEventView): Segment[] => (e.target ? [{ text: e.target, mono: true }] : ["(no target)"]);
/** user.password: an admin's temporary password for someone, or the owner's own (replacing one someone else set). */
export const passwordSet = (
  e: AuditEventView,
  d: { temporary?: boolean; self?: boolean; replaced?: string; countsAs?: string[]; revokedTokens?: number },
): Segment[] => [
  ...(d.self
    ? [`changed their own password${d.replaced ? ` (replacing a temporary one set by ${d.replaced})` : ""}`]
    : ["set ", d.temporary ? "a temporary password (no reviews until they set their own) for " : "the password of ", ...targetText(e)]),
  ...(d.countsAs?.length ? [`; for four eyes the account counts as ${d.countsAs.join(", ")} too, until a CLI reset`] : []),
  ...(d.revokedTokens ? [`; revoked ${d.revokedTokens} API token(s) made while the password was temporary`] : []),
];
export const denied = (verb: string, e: AuditEventView, d: { requestId: string; reason: string }): Segment[] => [
  `tried to ${verb} `,
  ...(e.targetDigest ? [image(e)] : ["a request"]),
  ...request(d),
  ` — denied: ${d.reason}`,
];
export const simple = <K extends AuditEventKind>(family: string, label: string, verb: string): AuditKind<K> => ({
  family,
  label,
  render: (e) => [verb, " ", ...targetText(e), ...failedSuffix(e)],
});

/** " and revoked 2 API tokens, 1 client certificate" (a disable revokes both). */
export const revokedCredentials = (tokens: number, certs: number): string[] => {
  const parts = [tokens ? plural(tokens, "API token") : "", certs ? plural(certs, "client certificate") : ""].filter(Boolean);
  return parts.length ? [` and revoked ${parts.join(", ")}`] : [];
};
