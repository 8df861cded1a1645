// The catalogue of audit event kinds and how each reads as a sentence.
// Plain data in, plain data out (no React, no Prisma): the Audit page, exports and tests share it.
// Every kind in lib/audit-events.ts has an entry here (tsc checks it), and its renderer gets the detail as parsed by
// that kind's schema. A row whose detail does not parse (written before its shape changed: rows are hash-chained and
// never rewritten) or whose kind is not listed (a newer version, another module) still renders, through the generic
// sentence.
import { auditDetailSchema, type AuditEventKind } from "./audit-events";
import {
  str,
  plural,
  revokedCredentials,
  passwordSet,
  shortId,
  shortDigest,
  image,
  stage,
  request,
  registry,
  quoted,
  date,
  failedSuffix,
  targetText,
  denied,
  simple,
  type Segment,
  type AuditEventView,
  type AuditKind,
} from "./audit-sentence-parts";
export { shortDigest, type Segment, type AuditEventView, type AuditKind } from "./audit-sentence-parts";

export const AUDIT_KINDS: { readonly [K in AuditEventKind]: AuditKind<K> } = {
  // Promotion workflow
  "request.create": {
    family: "request",
    label: "promotion requested",
    render: (e, d) => [
      "requested promotion of ",
      image(e),
      ...stage(d),
      ...request(d),
      ...(d.renews ? [`, renewing an ${d.because ?? "ended"} approval`] : []),
      ...quoted(d.note),
    ],
  },
  "request.withdraw": {
    family: "request",
    label: "request withdrawn",
    render: (e, d) => ["withdrew the promotion of ", image(e), ...stage(d), ...request(d), ...quoted(d.reason)],
  },
  "request.reject": {
    family: "request",
    label: "request rejected",
    render: (e, d) => ["rejected ", image(e), ...stage(d), ...request(d), ...quoted(d.reason)],
  },
  "request.denied": {
    family: "request",
    label: "API request denied",
    render: (e, d) => [`was denied ${d.status} on `, { text: e.target ?? "(unknown route)", mono: true }, ...(str(d.reason) ? [` — ${d.reason}`] : [])],
  },
  "review.approve": {
    family: "review",
    label: "review approved",
    render: (e, d) =>
      "reason" in d
        ? denied("approve", e, d)
        : [
            "approved ",
            image(e),
            ...stage(d),
            ` (${d.approvals} of ${d.required})`,
            ...(d.notCounted?.length ? [`, not counting ${d.notCounted.join("; ")}`] : []),
            ...request(d),
            ...quoted(d.comment),
          ],
  },
  "review.reject": { family: "review", label: "rejection denied", render: (e, d) => denied("reject", e, d) },
  "review.break-glass": {
    family: "review",
    label: "break-glass approval",
    render: (e, d) => [
      "approved ",
      image(e),
      ...stage(d),
      " by break-glass",
      ...request(d),
      ...(d.overridden.length ? [`, overriding: ${d.overridden.join("; ")}`] : []),
      ...quoted(d.comment),
    ],
  },
  "approval.create": {
    family: "approval",
    label: "stage approval granted",
    render: (e, d) => [
      image(e),
      " is approved",
      ...stage(d),
      ...(d.approvers.length ? [` (${plural(d.approvers.length, "approver")})`] : []),
      ...(d.breakGlass ? [" by break-glass"] : []),
      `; signing with key ${d.key}`,
      ...request(d),
    ],
  },
  "approval.revoke": {
    family: "approval",
    label: "approval revoked",
    render: (e, d) =>
      "source" in d
        ? ["revoked the approval of ", image(e), ...stage(d), ...request(d), ` (${d.source})`, ...quoted(d.reason)]
        : ["tried to revoke approval ", shortId(d.approvalId), ` — denied: ${d.reason}`],
  },
  "approval.revoke.registry": {
    family: "approval",
    label: "revoked signature removed from the registry",
    render: (e, d) =>
      "error" in d
        ? [`could not remove ${plural(d.approvalIds.length, "revoked signature")} of `, image(e), ` from the registry — ${d.error}; will retry`]
        : ["removed the revoked signature of ", image(e), ...stage(d), " from the registry"],
  },
  "signature.push": {
    family: "signature",
    label: "stage signature pushed",
    render: (e, d) =>
      "error" in d
        ? ["could not push the signature of ", image(e), ` — ${d.error}; will retry`]
        : ["pushed the signature of ", image(e), ...stage(d), " — signed"],
  },
  "signature.timestamp": {
    family: "signature",
    label: "stage signature timestamped",
    render: (e, d) =>
      "error" in d
        ? ["could not timestamp the signature of ", image(e), ` — ${d.error}; will retry`]
        : ["timestamped the signature of ", image(e), ...stage(d), ` (${d.tsa}, ${d.genTime})`],
  },
  "bundle.push": {
    family: "bundle",
    label: "Sigstore bundle pushed",
    render: (e, d) => ["pushed a Sigstore bundle for ", image(e), ...stage(d), ` signed with key ${d.key}`],
  },
  "verification-summary.push": {
    family: "verification-summary",
    label: "verification summary pushed",
    render: (e, d) => ["pushed the verification summary of ", image(e), ...stage(d), ` signed with key ${d.key}`],
  },
  "verification-summary.remove": {
    family: "verification-summary",
    label: "verification summary removed",
    render: (e) => ["removed the verification summary of ", image(e), " from the registry"],
  },
  "revocation.bulk": {
    family: "revocation",
    label: "bulk revocation started",
    render: (_e, d) => [
      `started a bulk revocation of ${plural(d.approvals, "approval")} (${d.stages.join(", ")}) on ${plural(d.images, "image")}, `,
      shortId(d.bulkRevocationId),
      ` — ${d.status}`,
      ...quoted(d.reason),
    ],
  },
  "revocation.bulk.confirm": {
    family: "revocation",
    label: "bulk revocation confirmed",
    render: (_e, d) => ["confirmed bulk revocation ", shortId(d.bulkRevocationId), ` of ${plural(d.approvals, "approval")}, asked for by ${d.requestedBy}`],
  },
  "revocation.bulk.finish": {
    family: "revocation",
    label: "bulk revocation finished",
    render: (_e, d) => [
      "finished bulk revocation ",
      shortId(d.bulkRevocationId),
      `: ${d.done} of ${d.total} revoked${d.failed ? `, ${d.failed} failed` : ""}${d.error ? `; stopped: ${d.error}` : ""}`,
    ],
  },
  "image.at-risk": {
    family: "image",
    label: "approved image at risk",
    render: (e, d) => [
      "found ",
      image(e),
      " at risk",
      ...stage(d),
      `: ${d.reasons.join("; ")}`,
      ...(date(d.revokeAt) ? [`; its approval is revoked on ${date(d.revokeAt)} unless fixed`] : []),
    ],
  },
  "image.at-risk.resolved": { family: "image", label: "image no longer at risk", render: (e, d) => ["found ", image(e), " no longer at risk", ...stage(d)] },
  // Waivers
  "waiver.grant": {
    family: "waiver",
    label: "waiver granted",
    render: (e, d) => {
      const ids = d.vulnIds;
      const until = date(d.expiresAt);
      const what = ids.length ? ids.slice(0, 5).join(", ") + (ids.length > 5 ? ` and ${ids.length - 5} more` : "") : `gate ${d.gate}`;
      const repo = e.target && e.target.includes("/") ? e.target.slice(e.target.indexOf("/") + 1) : e.target;
      const scope: Segment =
        d.scope === "repository" || !e.targetDigest ? { text: repo ?? "a repository", mono: true, title: e.target ?? undefined } : image(e);
      return ["waived ", what, " for ", scope, ...stage(d).map((s, i) => (i === 0 ? " in " : s)), ...(until ? [` until ${until}`] : []), ...quoted(d.reason)];
    },
  },
  "waiver.revoke": {
    family: "waiver",
    label: "waiver revoked",
    render: (e, d) => ["revoked a waiver of gate ", d.gate, " for ", image(e), ...stage(d).map((s, i) => (i === 0 ? " in " : s)), ...quoted(d.reason)],
  },
  // Evidence and advisories
  "evidence.upload": {
    family: "evidence",
    label: "evidence uploaded",
    render: (e, d) => ["uploaded ", `${d.kind} (${d.format})`, " for ", image(e), `, signature ${d.signature}`],
  },
  "evidence.discover": {
    family: "evidence",
    label: "evidence found in the registry",
    render: (e, d) => ["found ", `${d.kind} (${d.format})`, " for ", image(e), " in the registry", `, signature ${d.signature}`],
  },
  "evidence.withdraw": {
    family: "evidence",
    label: "evidence withdrawn",
    render: (e, d) => ["withdrew ", `${d.kind} (${d.format})`, " of ", image(e), ...quoted(d.reason)],
  },
  "evidence.uploaders.set": {
    family: "evidence",
    label: "evidence uploaders set",
    render: (_e, d) => [`set who may upload evidence: ${d.after.map((r) => `${r.pattern} → ${r.group}`).join(", ") || "(no rules)"}`],
  },
  "evidence.recounted": {
    family: "evidence",
    label: "registry evidence recounted",
    render: (_e, d) => [
      `judged registry evidence stored before the upgrade by the uploader rules (${d.rules.join(", ") || "no rules"}): ${d.registryDocumentsRecounted} document${d.registryDocumentsRecounted === 1 ? "" : "s"} changed`,
    ],
  },
  "advisory.import": {
    family: "advisory",
    label: "advisories imported",
    render: (e, d) => [
      "imported advisories from ",
      ...targetText(e),
      `: ${d.created} new, ${d.updated} updated, ${d.unchanged} unchanged; ${plural(d.findings, "finding")} on ${plural(d.images, "image")}`,
    ],
  },
  // Keys and trust
  "key.create": {
    family: "key",
    label: "signing key created",
    render: (e, d) => ["created signing key ", ...targetText(e), " ", { text: d.fingerprint, mono: true }],
  },
  "key.rotate": { family: "key", label: "signing key rotated", render: (e, d) => ["rotated the key of ", ...targetText(e), ` to ${d.key} (${d.backend})`] },
  "key.import": { family: "key", label: "signing key imported", render: (e, d) => ["imported key ", d.key, " into ", ...targetText(e)] },
  "key.use": {
    family: "key",
    label: "signing key used",
    render: (e, d) => [
      `used key ${d.key} of `,
      ...targetText(e),
      ` to sign ${d.purpose} `,
      { text: shortDigest(d.dataDigest), mono: true, title: d.dataDigest },
    ],
  },
  "key.revoke": {
    family: "key",
    label: "signing key revoked",
    render: (e, d) => [
      `revoked key ${d.key} of `,
      ...targetText(e),
      ` from ${d.effectiveAt}; ${plural(d.revokedApprovals.length, "approval")} revoked`,
      ...(d.replacement ? [`, replaced by ${d.replacement.name}`] : []),
      ...quoted(d.reason),
    ],
  },
  "key.revoke.dry-run": {
    family: "key",
    label: "key revocation previewed",
    render: (e, d) => [
      `previewed revoking key ${d.key} of `,
      ...targetText(e),
      ` from ${d.effectiveAt}: ${plural(d.wouldRevoke.length, "approval")} would be revoked`,
    ],
  },
  "trust.add": simple("trust", "trusted identity added", "trusted"),
  "trust.update": simple("trust", "trusted identity changed", "changed trusted identity"),
  "trust.revoke": simple("trust", "trusted identity revoked", "revoked trusted identity"),
  "trust.delete": simple("trust", "trusted identity removed", "removed trusted identity"),
  // Registries
  "registry.create": { family: "registry", label: "registry added", render: (e, d) => ["added registry ", registry(e), ` at ${d.url}`] },
  "registry.update": {
    family: "registry",
    label: "registry changed",
    render: (e, d) => ["changed registry ", registry(e), ...(d.changed.length ? [`: ${d.changed.join(", ")}`] : [])],
  },
  "registry.delete": { family: "registry", label: "registry removed", render: (e) => ["removed registry ", { text: e.target ?? "?", mono: true }] },
  "registry.test": {
    family: "registry",
    label: "registry connection tested",
    render: (e, d) => ["tested the connection to ", registry(e), d.ok ? " — ok" : ` — failed at ${d.stage}: ${d.detail}`],
  },
  "registry.sync.request": { family: "registry", label: "registry sync requested", render: (e, d) => ["asked for a sync of ", registry(e), ` (${d.trigger})`] },
  "registry.sync": {
    family: "registry",
    label: "registry synced",
    render: (e, d) => ["synced ", registry(e), e.outcome === "success" ? "" : ` — with ${d.errors.length} error(s)`],
  },
  "registry.notification": {
    family: "registry",
    label: "registry notification",
    render: (e, d) => ["registry ", registry(e), ` notified changes in ${plural(d.repositories.length, "repository", "repositories")}`],
  },
  "registry.realm.confirm": {
    family: "registry",
    label: "token realm confirmed",
    render: (e, d) => ["confirmed the token realm of ", registry(e), ...(str(d.to) ? [`: ${d.to}`] : [])],
  },
  "registry.credentials.reseal": {
    family: "registry",
    label: "registry credentials bound to the URL",
    render: (e, d) => [`bound the stored ${d.credentials.join(" and ")} credentials of `, registry(e), ` to ${d.url}`],
  },
  "registry.webhook-token.rotate": {
    family: "registry",
    label: "notification token rotated",
    render: (e) => ["rotated the notification token of ", registry(e)],
  },
  // Administration
  "stage.create": simple("stage", "stage created", "created stage"),
  "stage.update": simple("stage", "stage changed", "changed stage"),
  "group.create": simple("group", "group created", "created group"),
  "group.update": {
    family: "group",
    label: "group changed",
    render: (e, d) => ["changed group ", ...targetText(e), `: members ${d.members.join(", ") || "(none)"}`],
  },
  "user.create": { family: "user", label: "user created", render: (e, d) => ["created user ", ...targetText(e), ` as ${d.role}`] },
  "user.update": { family: "user", label: "user changed", render: (e, d) => ["changed user ", ...targetText(e), ` (role ${d.role})`] },
  "user.role": { family: "user", label: "user role changed", render: (e, d) => ["changed the role of ", ...targetText(e), ` from ${d.from} to ${d.to}`] },
  "user.disable": {
    family: "user",
    label: "user disabled",
    render: (e, d) => ["disabled user ", ...targetText(e), ...revokedCredentials(d.revokedTokens, d.revokedCertificates ?? 0)],
  },
  "user.enable": simple("user", "user enabled", "enabled user"),
  "user.password": { family: "user", label: "user password set", render: passwordSet },
  "client-cert.add": {
    family: "client-cert",
    label: "client certificate added",
    render: (e, d) => ["registered a client certificate for ", ...targetText(e), ` (${d.subject})`],
  },
  "client-cert.revoke": {
    family: "client-cert",
    label: "client certificate revoked",
    render: (_e, d) => ["revoked client certificate ", { text: d.fingerprint, mono: true }],
  },
  "token.create": { family: "token", label: "API token created", render: (e, d) => ["created an API token for ", ...targetText(e), ` (${d.prefix}…)`] },
  "token.revoke": { family: "token", label: "API token revoked", render: (e) => ["revoked API token ", ...targetText(e)] },
  "webhook.create": { family: "webhook", label: "webhook created", render: (e, d) => ["created webhook ", ...targetText(e), ` to ${d.url}`] },
  "webhook.delete": simple("webhook", "webhook deleted", "deleted webhook"),
  "admission.review": {
    family: "admission",
    label: "admission review",
    render: (e, d) => [d.allowed ? "admitted " : "refused ", `${d.images.length} image(s) in `, ...targetText(e), ...(str(d.reason) ? [` — ${d.reason}`] : [])],
  },
  "admission.policy.set": {
    family: "admission",
    label: "admission policy set",
    render: (e, d) => ["set the admission policy of ", ...targetText(e), d.exempt ? " to exempt" : ` to require stage ${d.stage ?? "?"}`],
  },
  "auth.signin": {
    family: "auth",
    label: "sign-in",
    render: (e, d) => {
      const how = "source" in d && d.source ? d.source : "method" in d ? d.method : null;
      return e.outcome === "success" ? ["signed in", ...(how ? [` (${how})`] : [])] : ["failed to sign in", ...("reason" in d ? [` — ${d.reason}`] : [])];
    },
  },
  "audit.export": {
    family: "audit",
    label: "audit trail exported",
    render: (_e, d) => [
      `exported the audit trail as ${d.format}`,
      ...(date(d.filter.from) ? [` from ${date(d.filter.from)}`] : []),
      ...(date(d.filter.to) ? [` to ${date(d.filter.to)}`] : []),
    ],
  },
  "audit.checkpoint": { family: "audit", label: "audit checkpoint", render: (_e, d) => [`made audit checkpoint #${d.checkpoint} at seq ${d.headSeq}`] },
  "audit.checkpoint.refused": {
    family: "audit",
    label: "audit checkpoint refused",
    render: (_e, d) => [`refused an audit checkpoint: ${d.registry}/${d.repository} holds #${d.checkpoint}, the database records up to #${d.recorded}`],
  },
};

/** `cli.<command>` events: one family, the command in the sentence. */
const CLI: AuditKind<never> = {
  family: "cli",
  label: "CLI command",
  render: (e) => ["ran ", { text: `imprimatur ${e.action.slice(4).replace(/\./g, " ")}`, mono: true }],
};

export function auditKind(action: string): AuditKind | null {
  if (Object.prototype.hasOwnProperty.call(AUDIT_KINDS, action)) return AUDIT_KINDS[action as AuditEventKind] as AuditKind;
  return action.startsWith("cli.") ? (CLI as AuditKind) : null;
}

/** The family of an action: the part before the first dot. */
export function auditFamily(action: string): string {
  return action.split(".")[0]!;
}

export const AUDIT_FAMILIES: readonly string[] = [...new Set([...Object.values(AUDIT_KINDS).map((k) => k.family), "cli"])].sort();

const generic = (e: AuditEventView): Segment[] => [
  "did ",
  { text: e.action, mono: true },
  ...(e.target || e.targetDigest ? [" on ", image(e)] : []),
  ...failedSuffix(e),
];

/** The sentence after the actor: the kind's own when the detail parses with the kind's schema, else the generic one. */
function sentenceBody(e: AuditEventView): Segment[] {
  const kind = auditKind(e.action);
  const parsed = auditDetailSchema(e.action)?.safeParse(e.detail);
  if (!kind || !parsed?.success) return generic(e);
  // The detail has just been parsed with this kind's own schema: it is what the kind's renderer expects.
  return (kind.render as (e: AuditEventView, d: unknown) => Segment[])(e, parsed.data);
}

/** The sentence of an event, actor first. Unknown kinds, and details that do not parse, read "<actor> did <action> on <target>". */
export function renderAuditEvent(e: AuditEventView): Segment[] {
  let body: Segment[];
  try {
    body = sentenceBody(e);
  } catch {
    // A sentence must never break the page.
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
