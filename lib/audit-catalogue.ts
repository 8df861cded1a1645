// The catalogue of audit event kinds and how each reads as a sentence.
// Plain data in, plain data out (no React, no Prisma): the Audit page, exports and tests share it.
// Every `action:` written through appendAuditEvent / recordAuditEvent / stageAuditEvent has an entry here; a kind that
// is not listed (a newer version, another module) still renders, through the generic sentence.

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

type Detail = Record<string, unknown>;
type Render = (e: AuditEventView, d: Detail) => Segment[];

export interface AuditKind {
  /** Always the action's prefix before the first dot (the family filter matches on that prefix). */
  family: string;
  /** What it is, for the filter menu. */
  label: string;
  render: Render;
}

const str = (v: unknown): string | null => (typeof v === "string" && v.length > 0 ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

export function shortDigest(d: string): string {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(d);
  return m ? `${m[1]}:${m[2]!.slice(0, 12)}…` : d;
}

/** "reg/apps/payments-api" + digest → a link to the image page. Registry names contain no "/". */
function image(e: AuditEventView): Segment {
  const digest = e.targetDigest;
  const target = e.target;
  if (!digest) return target ? { text: target, mono: true } : "an image";
  if (target && target.includes("/")) {
    const slash = target.indexOf("/");
    const registry = target.slice(0, slash);
    const repository = target.slice(slash + 1);
    return { text: `${repository}@${shortDigest(digest)}`, href: `/images/${repository}@${digest}?registry=${encodeURIComponent(registry)}`, mono: true, title: `${target}@${digest}` };
  }
  return { text: shortDigest(digest), href: `/search?q=${encodeURIComponent(digest)}`, mono: true, title: digest };
}

function stage(d: Detail): Segment[] {
  const s = str(d.stage);
  return s ? [" for ", { text: s, href: `/stages#stage-${encodeURIComponent(s)}` }] : [];
}

function request(d: Detail): Segment[] {
  const id = str(d.requestId);
  return id ? [" (", { text: `request ${id.slice(0, 8)}`, href: `/requests/${encodeURIComponent(id)}`, title: id }, ")"] : [];
}

function registry(e: AuditEventView): Segment {
  return e.target ? { text: e.target, href: `/registries#registry-${encodeURIComponent(e.target)}`, mono: true } : "a registry";
}

function quoted(v: unknown, max = 140): Segment[] {
  const s = str(v);
  if (!s) return [];
  return [`: “${s.length > max ? `${s.slice(0, max)}…` : s}”`];
}

function date(v: unknown): string | null {
  const s = str(v);
  if (!s) return null;
  const t = new Date(s);
  return Number.isNaN(t.getTime()) ? null : t.toISOString().slice(0, 10);
}

const failedSuffix = (e: AuditEventView): Segment[] => (e.outcome === "success" ? [] : [` — ${e.outcome}`]);
const targetText = (e: AuditEventView): Segment[] => (e.target ? [{ text: e.target, mono: true }] : ["(no target)"]);
const simple = (family: string, label: string, verb: string): AuditKind => ({ family, label, render: (e) => [verb, " ", ...targetText(e), ...failedSuffix(e)] });

export const AUDIT_KINDS: Record<string, AuditKind> = {
  // Promotion workflow
  "request.create": { family: "request", label: "promotion requested", render: (e, d) => ["requested promotion of ", image(e), ...stage(d), ...request(d), ...quoted(d.note)] },
  "request.withdraw": { family: "request", label: "request withdrawn", render: (e, d) => ["withdrew the promotion of ", image(e), ...stage(d), ...request(d), ...quoted(d.reason)] },
  "request.reject": { family: "request", label: "request rejected", render: (e, d) => ["rejected ", image(e), ...stage(d), ...request(d), ...quoted(d.reason)] },
  "request.denied": {
    family: "request",
    label: "API request denied",
    render: (e, d) => [`was denied ${num(d.status) ?? ""} on `.replace("  ", " "), { text: e.target ?? "(unknown route)", mono: true }, ...(str(d.reason) ? [` — ${str(d.reason)}`] : [])],
  },
  "review.approve": {
    family: "review",
    label: "review approved",
    render: (e, d) => {
      const n = num(d.approvals);
      const m = num(d.required);
      return ["approved ", image(e), ...stage(d), ...(n !== null && m !== null ? [` (${n} of ${m})`] : []), ...request(d), ...quoted(d.comment)];
    },
  },
  "review.reject": { family: "review", label: "review rejected", render: (e, d) => [e.outcome === "denied" ? "tried to reject" : "rejected", " ", ...(e.targetDigest ? [image(e)] : ["a request"]), ...request(d), ...(e.outcome === "denied" ? [` — denied: ${str(d.reason) ?? "no reason recorded"}`] : quoted(d.reason))] },
  "review.break-glass": {
    family: "review",
    label: "break-glass approval",
    render: (e, d) => {
      const over = list(d.overridden);
      return ["approved ", image(e), ...stage(d), " by break-glass", ...request(d), ...(over.length ? [`, overriding: ${over.join("; ")}`] : []), ...quoted(d.comment)];
    },
  },
  "approval.create": {
    family: "approval",
    label: "stage approval granted",
    render: (e, d) => {
      const approvers = list(d.approvers);
      return [image(e), " is approved", ...stage(d), ...(approvers.length ? [` (${approvers.length} approver${approvers.length === 1 ? "" : "s"})`] : []), ...(d.breakGlass === true ? [" by break-glass"] : []), ...(str(d.key) ? [`; signing with key ${str(d.key)}`] : []), ...request(d)];
    },
  },
  "signature.push": {
    family: "signature",
    label: "stage signature pushed",
    render: (e, d) => (e.outcome === "success" ? ["pushed the signature of ", image(e), ...stage(d), " — signed"] : ["could not push the signature of ", image(e), ...stage(d), ` — ${str(d.error) ?? "failed"}; will retry`]),
  },
  "bundle.push": { family: "bundle", label: "Sigstore bundle pushed", render: (e, d) => ["pushed a Sigstore bundle for ", image(e), ...stage(d), ...(str(d.key) ? [` signed with key ${str(d.key)}`] : [])] },
  // Waivers
  "waiver.grant": {
    family: "waiver",
    label: "waiver granted",
    render: (e, d) => {
      const ids = list(d.vulnIds);
      const until = date(d.expiresAt);
      const what = ids.length ? ids.slice(0, 5).join(", ") + (ids.length > 5 ? ` and ${ids.length - 5} more` : "") : `gate ${str(d.gate) ?? "?"}`;
      const repo = e.target && e.target.includes("/") ? e.target.slice(e.target.indexOf("/") + 1) : e.target;
      const scope: Segment = d.scope === "repository" || !e.targetDigest ? { text: repo ?? "a repository", mono: true, title: e.target ?? undefined } : image(e);
      return ["waived ", what, " for ", scope, ...stage(d).map((s, i) => (i === 0 ? " in " : s)), ...(until ? [` until ${until}`] : []), ...quoted(d.reason)];
    },
  },
  "waiver.revoke": { family: "waiver", label: "waiver revoked", render: (e, d) => ["revoked a waiver of gate ", str(d.gate) ?? "?", " for ", image(e), ...stage(d).map((s, i) => (i === 0 ? " in " : s)), ...quoted(d.reason)] },
  // Evidence
  "evidence.upload": { family: "evidence", label: "evidence uploaded", render: (e, d) => ["uploaded ", `${str(d.kind) ?? "evidence"} (${str(d.format) ?? "?"})`, " for ", image(e), ...(str(d.signature) ? [`, signature ${str(d.signature)}`] : [])] },
  "evidence.discover": { family: "evidence", label: "evidence found in the registry", render: (e, d) => ["found ", `${str(d.kind) ?? "evidence"} (${str(d.format) ?? "?"})`, " for ", image(e), " in the registry", ...(str(d.signature) ? [`, signature ${str(d.signature)}`] : [])] },
  // Keys and trust
  "key.create": { family: "key", label: "signing key created", render: (e, d) => ["created signing key ", ...targetText(e), ...(str(d.fingerprint) ? [" ", { text: str(d.fingerprint)!, mono: true }] : [])] },
  "key.rotate": { family: "key", label: "signing key rotated", render: (e, d) => ["rotated the key of ", ...targetText(e), ` to ${str(d.key) ?? "a new key"}`, ...(str(d.backend) ? [` (${str(d.backend)})`] : [])] },
  "key.import": { family: "key", label: "signing key imported", render: (e, d) => ["imported key ", str(d.key) ?? "?", " into ", ...targetText(e)] },
  "key.use": { family: "key", label: "signing key used", render: (e, d) => [`used key ${str(d.key) ?? "?"} of `, ...targetText(e), ` to sign ${str(d.purpose) ?? "a signature"}`, ...(str(d.dataDigest) ? [" ", { text: shortDigest(str(d.dataDigest)!), mono: true, title: str(d.dataDigest)! }] : [])] },
  "trust.add": simple("trust", "trusted identity added", "trusted"),
  "trust.update": simple("trust", "trusted identity changed", "changed trusted identity"),
  "trust.revoke": simple("trust", "trusted identity revoked", "revoked trusted identity"),
  "trust.delete": simple("trust", "trusted identity removed", "removed trusted identity"),
  // Registries
  "registry.create": { family: "registry", label: "registry added", render: (e, d) => ["added registry ", registry(e), ...(str(d.url) ? [` at ${str(d.url)}`] : [])] },
  "registry.update": { family: "registry", label: "registry changed", render: (e, d) => ["changed registry ", registry(e), ...(list(d.changed).length ? [`: ${list(d.changed).join(", ")}`] : [])] },
  "registry.delete": { family: "registry", label: "registry removed", render: (e) => ["removed registry ", { text: e.target ?? "?", mono: true }] },
  "registry.test": { family: "registry", label: "registry connection tested", render: (e) => ["tested the connection to ", registry(e), e.outcome === "success" ? " — ok" : " — failed"] },
  "registry.sync.request": { family: "registry", label: "registry sync requested", render: (e, d) => ["asked for a sync of ", registry(e), ...(str(d.trigger) ? [` (${str(d.trigger)})`] : [])] },
  "registry.sync": { family: "registry", label: "registry synced", render: (e, d) => ["synced ", registry(e), e.outcome === "success" ? "" : ` — with ${Array.isArray(d.errors) ? d.errors.length : "some"} error(s)`] },
  "registry.notification": { family: "registry", label: "registry notification", render: (e, d) => ["registry ", registry(e), ` notified changes in ${list(d.repositories).length} repositor${list(d.repositories).length === 1 ? "y" : "ies"}`] },
  "registry.realm.confirm": { family: "registry", label: "token realm confirmed", render: (e, d) => ["confirmed the token realm of ", registry(e), ...(str(d.to) ? [`: ${str(d.to)}`] : [])] },
  "registry.webhook-token.rotate": { family: "registry", label: "notification token rotated", render: (e) => ["rotated the notification token of ", registry(e)] },
  // Administration
  "stage.create": simple("stage", "stage created", "created stage"),
  "stage.update": simple("stage", "stage changed", "changed stage"),
  "group.create": simple("group", "group created", "created group"),
  "group.update": { family: "group", label: "group changed", render: (e, d) => ["changed group ", ...targetText(e), ...(Array.isArray(d.members) ? [`: members ${list(d.members).join(", ") || "(none)"}`] : [])] },
  "user.create": { family: "user", label: "user created", render: (e, d) => ["created user ", ...targetText(e), ...(str(d.role) ? [` as ${str(d.role)}`] : [])] },
  "user.update": { family: "user", label: "user changed", render: (e, d) => ["changed user ", ...targetText(e), ...(str(d.role) ? [` (role ${str(d.role)})`] : [])] },
  "client-cert.add": { family: "client-cert", label: "client certificate added", render: (e, d) => ["registered a client certificate for ", ...targetText(e), ...(str(d.subject) ? [` (${str(d.subject)})`] : [])] },
  "client-cert.revoke": { family: "client-cert", label: "client certificate revoked", render: (_e, d) => ["revoked client certificate ", { text: str(d.fingerprint) ?? "?", mono: true }] },
  "token.create": { family: "token", label: "API token created", render: (e, d) => ["created an API token for ", ...targetText(e), ...(str(d.prefix) ? [` (${str(d.prefix)}…)`] : [])] },
  "token.revoke": { family: "token", label: "API token revoked", render: (e) => ["revoked API token ", ...targetText(e)] },
  "webhook.create": { family: "webhook", label: "webhook created", render: (e, d) => ["created webhook ", ...targetText(e), ...(str(d.url) ? [` to ${str(d.url)}`] : [])] },
  "webhook.delete": simple("webhook", "webhook deleted", "deleted webhook"),
  "admission.review": { family: "admission", label: "admission review", render: (e, d) => [d.allowed === true ? "admitted " : "refused ", `${list(d.images).length} image(s) in `, ...targetText(e), ...(str(d.reason) ? [` — ${str(d.reason)}`] : [])] },
  "admission.policy.set": { family: "admission", label: "admission policy set", render: (e, d) => ["set the admission policy of ", ...targetText(e), d.exempt === true ? " to exempt" : ` to require stage ${str(d.stage) ?? "?"}`] },
  "auth.signin": { family: "auth", label: "sign-in", render: (e, d) => (e.outcome === "success" ? ["signed in", ...(str(d.source) ? [` (${str(d.source)})`] : [])] : ["failed to sign in", ...(str(d.reason) ? [` — ${str(d.reason)}`] : [])]) },
  "audit.export": {
    family: "audit",
    label: "audit trail exported",
    render: (_e, d) => {
      const f = d.filter && typeof d.filter === "object" ? (d.filter as Record<string, unknown>) : {};
      return [`exported the audit trail as ${str(d.format) ?? "?"}`, ...(date(f.from) ? [` from ${date(f.from)}`] : []), ...(date(f.to) ? [` to ${date(f.to)}`] : [])];
    },
  },
  "audit.checkpoint": { family: "audit", label: "audit checkpoint", render: (_e, d) => ["made audit checkpoint ", `#${num(d.checkpoint) ?? "?"}`, ` at seq ${str(d.headSeq) ?? "?"}`, ...(str(d.reference) ? [", pushed to ", { text: str(d.reference)!, mono: true }] : [])] },
};

/** `cli.<command>` events: one family, the command in the sentence. */
const CLI: AuditKind = { family: "cli", label: "CLI command", render: (e) => ["ran ", { text: `imprimatur ${e.action.slice(4).replace(/\./g, " ")}`, mono: true }] };

export function auditKind(action: string): AuditKind | null {
  return AUDIT_KINDS[action] ?? (action.startsWith("cli.") ? CLI : null);
}

/** The family of an action: the part before the first dot. */
export function auditFamily(action: string): string {
  return action.split(".")[0]!;
}

export const AUDIT_FAMILIES: readonly string[] = [...new Set([...Object.values(AUDIT_KINDS).map((k) => k.family), "cli"])].sort();

/** The sentence of an event, actor first. Unknown kinds fall back to "<actor> did <action> on <target>". */
export function renderAuditEvent(e: AuditEventView): Segment[] {
  const kind = auditKind(e.action);
  const d: Detail = e.detail && typeof e.detail === "object" && !Array.isArray(e.detail) ? (e.detail as Detail) : {};
  let body: Segment[];
  try {
    body = kind ? kind.render(e, d) : ["did ", { text: e.action, mono: true }, ...(e.target || e.targetDigest ? [" on ", image(e)] : []), ...failedSuffix(e)];
  } catch {
    // Old rows may carry details a renderer did not expect; a sentence must never break the page.
    body = ["did ", { text: e.action, mono: true }, ...failedSuffix(e)];
  }
  return [{ text: actorName(e), href: `/audit?actor=${encodeURIComponent(e.actor)}` }, " ", ...body];
}

/** "alice@example.com (token)" → "alice@example.com (token)"; "system:scheduler" stays as is. */
function actorName(e: AuditEventView): string {
  return e.actor || e.actorType;
}

export function segmentsText(s: Segment[]): string {
  return s.map((x) => (typeof x === "string" ? x : x.text)).join("");
}

export function auditSentence(e: AuditEventView): string {
  return segmentsText(renderAuditEvent(e));
}
