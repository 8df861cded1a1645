import { Document, isMap, isSeq, type YAMLMap } from "yaml";

/**
 * Admission policies for one stage, generated from its settings: the documents Kyverno (both APIs) and Sigstore's
 * policy-controller need to admit only images carrying the stage key's signature, and the `cosign verify` lines a
 * pipeline runs. Framework-free: plain data in, text out.
 */

export const POLICY_FORMATS = ["kyverno", "kyverno-clusterpolicy", "policy-controller", "cosign"] as const;
export type PolicyFormat = (typeof POLICY_FORMATS)[number];

export const VERIFICATION_SUMMARY_PREDICATE = "https://slsa.dev/verification_summary/v1";

export function isPolicyFormat(v: string): v is PolicyFormat {
  return (POLICY_FORMATS as readonly string[]).includes(v);
}

export interface PolicyKey {
  name: string;
  /** PEM SubjectPublicKeyInfo. */
  publicKeyPem: string;
  /** "sha256:<hex of the DER public key>". */
  fingerprint: string;
  /** The key the stage signs with now; the others are earlier keys still within their validity. */
  current: boolean;
  /** End of the key's signing period (set when a rotation retired it); its earlier signatures stay valid. */
  notAfter: Date | null;
}

export interface StagePolicyInput {
  stage: {
    name: string;
    requiredApprovals: number;
    /** The stage also writes a Sigstore bundle (v0.3) referrer per approval. */
    emitBundle: boolean;
    /** The stage's approval TTL in days, if any: enforced by revoking expired approvals, which the header explains. */
    approvalTtlDays?: number | null;
  };
  /** The current key first or anywhere; at least one must be current. */
  keys: PolicyKey[];
  /** Namespaces whose admission settings map to this stage. Empty: the policy applies cluster-wide. */
  namespaces: string[];
  /** With a cluster-wide policy: namespaces left out (exempt, or mapped to another stage). */
  excludeNamespaces?: string[];
  /** Image patterns (globs with `*`, as Kyverno and policy-controller read them). At least one. */
  images: string[];
  /** Also require the signed SLSA verification summary (`.att`) by the stage key with result PASSED. */
  requireVerificationSummary: boolean;
  /** Who generated it (this instance's URL), written in a comment and an annotation. */
  generatedBy: string;
  /** Fixed time for reproducible output in tests; defaults to now. */
  now?: Date;
}

export interface GeneratedPolicy {
  format: PolicyFormat;
  /** Suggested file name for a download. */
  filename: string;
  mediaType: string;
  content: string;
}

export class PolicyInputError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = "PolicyInputError";
  }
}

const PEM = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\r?\n?$/;
// Globs as both engines read them: registry host, path, `*`, and an optional :tag / @digest part. No spaces, quotes
// or control characters, so a pattern never breaks out of the YAML string, the CEL literal or the shell word it lands in.
const IMAGE_GLOB = /^[A-Za-z0-9*][A-Za-z0-9._\-/:@*]{0,254}$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const STAGE = /^[a-z0-9][a-z0-9-]{0,31}$/;

function validate(input: StagePolicyInput): void {
  if (!STAGE.test(input.stage.name)) throw new PolicyInputError("stage name: 1-32 lowercase letters, digits and -", "stage");
  if (!Number.isInteger(input.stage.requiredApprovals) || input.stage.requiredApprovals < 1)
    throw new PolicyInputError("required approvals must be a positive integer", "requiredApprovals");
  if (!input.keys.some((k) => k.current)) throw new PolicyInputError(`stage ${input.stage.name} has no current signing key`, "keys");
  for (const k of input.keys) {
    if (!PEM.test(k.publicKeyPem.trim() + "\n")) throw new PolicyInputError(`key ${k.name}: not a PEM public key`, "keys");
  }
  if (input.images.length === 0)
    throw new PolicyInputError("no image patterns: no repository has a request for this stage; pass the images the policy applies to", "images");
  for (const i of input.images)
    if (!IMAGE_GLOB.test(i))
      throw new PolicyInputError(`image pattern ${JSON.stringify(i.slice(0, 80))}: letters, digits, . _ - / : @ and * only, at most 255 characters`, "images");
  // Written into comments of YAML and of a shell script: a line break there would end the comment.
  if (!/^[\x21-\x7e]{1,256}$/.test(input.generatedBy))
    throw new PolicyInputError("generatedBy: printable ASCII without spaces, at most 256 characters", "generatedBy");
  for (const k of input.keys)
    if (!/^[\x21-\x7e]{1,128}$/.test(k.name) || !/^sha256:[0-9a-f]{64}$/.test(k.fingerprint))
      throw new PolicyInputError(`key ${JSON.stringify(k.name.slice(0, 64))}: name must be printable ASCII, fingerprint sha256:<hex>`, "keys");
  for (const n of [...input.namespaces, ...(input.excludeNamespaces ?? [])])
    if (!NAMESPACE.test(n)) throw new PolicyInputError(`namespace ${JSON.stringify(n.slice(0, 80))} is not a Kubernetes namespace name`, "namespaces");
}

/**
 * `registry.example/team/app` → the globs matching it untagged, by tag and by digest (and not `team/app-other`).
 * Kyverno's ImageValidatingPolicy matches the image as the pod writes it, and admits an image no glob matches without
 * verifying anything: `registry.example/team/app` (the `latest` tag, implied) must be matched too.
 */
export function repositoryGlobs(pullRepository: string): string[] {
  return [pullRepository, `${pullRepository}:*`, `${pullRepository}@*`];
}

/**
 * The stage's image globs as one anchored RE2 expression for CEL's `matches`, with Kyverno's glob reading (`*` any
 * run, `/` included). A glob holds only `[A-Za-z0-9._\-/:@*]` (validate), of which only `.` and `*` mean something
 * in a regular expression; `.` is written `[.]`, so the expression needs no backslash inside the CEL string literal.
 */
export function coveredImagesRegex(globs: readonly string[]): string {
  return `^(?:${globs.map((g) => g.replace(/\./g, "[.]").replace(/\*/g, ".*")).join("|")})$`;
}

/** What a pod refused for an image outside the stage's patterns is told (the first patterns, then how many more). */
function notCoveredMessage(c: Ctx): string {
  const [shown, more] = [c.images.slice(0, 6).join(", "), c.images.length > 6 ? ` and ${c.images.length - 6} more (see the policy's header)` : ""];
  return `an image is not one stage ${c.stage.name} covers: only ${shown}${more} may run here, each signed by the stage key`;
}

export function generateStagePolicy(format: PolicyFormat, input: StagePolicyInput): GeneratedPolicy {
  validate(input);
  const keys = [...input.keys].sort((a, b) => Number(b.current) - Number(a.current) || a.name.localeCompare(b.name));
  const namespaces = [...new Set(input.namespaces)].sort();
  // Exclusions only mean something for a cluster-wide policy; a namespace list already leaves the rest out.
  const excludeNamespaces = namespaces.length ? [] : [...new Set(input.excludeNamespaces ?? [])].sort();
  const ctx = { ...input, keys, images: [...new Set(input.images)].sort(), namespaces, excludeNamespaces, now: input.now ?? new Date() };
  switch (format) {
    case "kyverno":
      return yamlPolicy(format, ctx, imageValidatingPolicy(ctx));
    case "kyverno-clusterpolicy":
      return yamlPolicy(format, ctx, clusterPolicy(ctx));
    case "policy-controller":
      return yamlPolicy(format, ctx, clusterImagePolicy(ctx));
    case "cosign":
      return { format, filename: `imprimatur-${ctx.stage.name}-verify.sh`, mediaType: "text/x-shellscript; charset=utf-8", content: cosignScript(ctx) };
    default: {
      const never: never = format;
      throw new PolicyInputError(`unknown format ${String(never)}`, "format");
    }
  }
}

type Ctx = Required<Pick<StagePolicyInput, "now" | "excludeNamespaces">> & StagePolicyInput;

const policyName = (c: Ctx) => `imprimatur-stage-${c.stage.name}`;
const pem = (k: PolicyKey) => k.publicKeyPem.trim() + "\n";
const attestorName = (k: PolicyKey, i: number) => (k.current ? "current" : `previous${i}`);

function labels(c: Ctx) {
  return {
    labels: { "app.kubernetes.io/managed-by": "imprimatur", "imprimatur.dev/stage": c.stage.name },
    annotations: {
      "imprimatur.dev/generated-by": c.generatedBy,
      "imprimatur.dev/generated-at": c.now.toISOString(),
      "imprimatur.dev/keys": c.keys.map((k) => k.fingerprint).join(","),
    },
  };
}

/** The header every format starts with: what it enforces, which keys, and the N-of-M note. */
function headerLines(c: Ctx): string[] {
  const lines = [
    `Generated by Imprimatur (${c.generatedBy}) at ${c.now.toISOString()} for stage "${c.stage.name}".`,
    `Admits an image only when it carries a signature by the stage's key${c.keys.length > 1 ? " (current or an earlier one still valid)" : ""}:`,
    ...c.keys.map(
      (k) =>
        `  ${k.current ? "current " : "previous"} ${k.name} ${k.fingerprint}${!k.current && k.notAfter ? ` (retired; signed until ${k.notAfter.toISOString()})` : ""}`,
    ),
    c.namespaces.length
      ? `Namespaces (Imprimatur's admission settings map them to this stage): ${c.namespaces.join(", ")}.`
      : `Applies in every namespace${c.excludeNamespaces.length ? ` except ${c.excludeNamespaces.join(", ")} (exempt or mapped to another stage)` : ""}.`,
  ];
  if (c.stage.requiredApprovals > 1) {
    lines.push(
      `N-of-M: this stage needs ${c.stage.requiredApprovals} distinct approvals. Imprimatur enforces that rule before it signs:`,
      `the stage signature exists only after ${c.stage.requiredApprovals} approvals, so checking the one signature checks the rule.`,
    );
  }
  if (c.requireVerificationSummary)
    lines.push(`Also requires the signed SLSA verification summary (${VERIFICATION_SUMMARY_PREDICATE}) with verificationResult PASSED.`);
  lines.push("Regenerate after a key rotation or revocation: a revoked key leaves the policy, a new key enters it.");
  lines.push("Revocation: a revoked approval's signature leaves the registry; engines that cache verification results keep them up to their TTL.");
  // No expiry an engine reads: the tick revokes an expired approval (retire-expired-approvals.ts). Say so here.
  if (c.stage.approvalTtlDays)
    lines.push(
      `Expiry: approvals of this stage expire after ${c.stage.approvalTtlDays} days. The signature carries no expiry this policy could check:`,
      "Imprimatur revokes an expired approval within about a minute (its scheduler tick), which takes its signature out of the",
      "registry; until then, and for as long as an engine caches the result, this policy still admits it. ImageReview denies at once.",
    );
  return lines;
}

function yamlPolicy(format: PolicyFormat, c: Ctx, doc: Record<string, unknown>): GeneratedPolicy {
  const d = new Document(doc);
  const extra =
    format === "policy-controller"
      ? [
          "policy-controller enforces only in namespaces labelled for it; ClusterImagePolicy has no namespace selector:",
          ...(c.namespaces.length
            ? c.namespaces.map((n) => `  kubectl label namespace ${n} policy.sigstore.dev/include=true`)
            : ["  label every namespace it should cover with policy.sigstore.dev/include=true"]),
          "An image no glob here matches is decided by policy-controller's no-match-policy, deny unless changed. Keep it deny,",
          "or such an image (another registry, or another spelling of these) runs unchecked:",
          `  kubectl -n cosign-system patch configmap config-policy-controller --type merge -p '{"data":{"no-match-policy":"deny"}}'`,
        ]
      : [
          `Only the images these patterns cover may run there: ${c.images.join(" ")}.`,
          "Any other image, from another registry or another spelling of these, is refused, as Imprimatur's ImageReview refuses it.",
        ];
  d.commentBefore = [...headerLines(c), ...extra].map((l) => ` ${l}`).join("\n");
  // PEM keys as literal blocks, as people write them by hand.
  const visit = (node: unknown) => {
    if (isMap(node)) for (const it of (node as YAMLMap).items) visit(it.value);
    else if (isSeq(node)) for (const it of node.items) visit(it);
    else if (
      node &&
      typeof node === "object" &&
      "value" in node &&
      typeof (node as { value: unknown }).value === "string" &&
      (node as { value: string }).value.includes("\n")
    ) {
      (node as { type?: string }).type = "BLOCK_LITERAL";
    }
  };
  visit(d.contents);
  return { format, filename: `${policyName(c)}.${format}.yaml`, mediaType: "application/yaml; charset=utf-8", content: d.toString({ lineWidth: 0 }) };
}

function namespaceSelector(c: Ctx) {
  if (c.namespaces.length) return { namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: c.namespaces }] } };
  if (c.excludeNamespaces.length)
    return { namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: c.excludeNamespaces }] } };
  return {};
}

/** Kyverno ImageValidatingPolicy, policies.kyverno.io/v1 (CEL). */
function imageValidatingPolicy(c: Ctx): Record<string, unknown> {
  const attestors = c.keys.map((k, i) => ({
    name: attestorName(k, i),
    cosign: {
      key: { data: pem(k), hashAlgorithm: "sha256" },
      // Imprimatur signs for a private registry: no transparency log entry, no certificate.
      ctlog: { insecureIgnoreTlog: true, insecureIgnoreSCT: true },
    },
  }));
  const attestorList = `[${attestors.map((a) => `attestors.${a.name}`).join(", ")}]`;
  // Every image a pod runs: Kyverno extracts init and ephemeral containers into lists of their own, and a validation
  // that reads only images.containers admits an unapproved image as an init container or through kubectl debug.
  const all = "(images.containers + images.initContainers + images.ephemeralContainers)";
  const validations: Record<string, unknown>[] = [
    {
      expression: `${all}.all(image, image.matches('${coveredImagesRegex(c.images)}'))`,
      message: notCoveredMessage(c),
    },
    {
      expression: `${all}.map(image, verifyImageSignatures(image, ${attestorList})).all(e, e > 0)`,
      message: `image is not approved for stage ${c.stage.name}: no signature by the stage key`,
    },
  ];
  if (c.requireVerificationSummary) {
    validations.push({
      expression: `${all}.map(image, verifyAttestationSignatures(image, attestations.vsa, ${attestorList})).all(e, e > 0)`,
      message: `image has no verification summary for stage ${c.stage.name} signed by the stage key`,
    });
    validations.push({
      expression: `${all}.map(image, extractPayload(image, attestations.vsa).verificationResult == 'PASSED').all(e, e)`,
      message: `the verification summary for stage ${c.stage.name} does not say PASSED`,
    });
  }
  return {
    apiVersion: "policies.kyverno.io/v1",
    kind: "ImageValidatingPolicy",
    metadata: { name: policyName(c), ...labels(c) },
    spec: {
      validationActions: ["Deny"],
      failurePolicy: "Fail",
      evaluation: { background: { enabled: false } },
      webhookConfiguration: { timeoutSeconds: 15 },
      matchConstraints: {
        ...namespaceSelector(c),
        // kubectl debug adds an ephemeral container to a running pod through the pods/ephemeralcontainers subresource.
        resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["pods", "pods/ephemeralcontainers"] }],
      },
      // Every image: Kyverno admits a pod none of whose images a glob matches without evaluating anything
      // (pkg/imageverification/evaluator/policy.go: "Skipped"), so a foreign image, or another spelling of a covered
      // one, would run unchecked. The first validation then refuses any image outside the stage's patterns.
      matchImageReferences: [{ glob: "*" }],
      attestors,
      ...(c.requireVerificationSummary ? { attestations: [{ name: "vsa", intoto: { type: VERIFICATION_SUMMARY_PREDICATE } }] } : {}),
      validations,
    },
  };
}

/** Kyverno ClusterPolicy with verifyImages, kyverno.io/v1, for clusters before ImageValidatingPolicy. */
function clusterPolicy(c: Ctx): Record<string, unknown> {
  // One attestor set, any one key suffices (count: 1): the current key or an earlier one still valid.
  const attestors = [
    {
      count: 1,
      entries: c.keys.map((k) => ({
        keys: { publicKeys: pem(k), signatureAlgorithm: "sha256", rekor: { ignoreTlog: true }, ctlog: { ignoreSCT: true } },
      })),
    },
  ];
  // Fresh objects per rule (a shared one is written as a YAML anchor and alias).
  const match = (kinds: string[]) => ({ any: [{ resources: { kinds, ...(c.namespaces.length ? { namespaces: [...c.namespaces] } : {}) } }] });
  const exclude = () => (c.excludeNamespaces.length ? { exclude: { any: [{ resources: { namespaces: [...c.excludeNamespaces] } }] } } : {});
  // verifyImages lets an image its imageReferences miss through; this rule refuses it. Pattern `*` is any run, `|` any
  // one of. A rule matching Pod also matches pods/ephemeralcontainers, which kubectl debug writes (Kyverno registers
  // its webhook for it and matches it "for backward compatibility", pkg/engine/utils/match.go); naming that kind too
  // would turn Kyverno's autogen off for the whole policy (pkg/autogen/v1: isKindOtherthanPod).
  const covered = c.images.join(" | ");
  const restrict = {
    name: `restrict-stage-${c.stage.name}-images`,
    match: match(["Pod"]),
    ...exclude(),
    validate: {
      failureAction: "Enforce",
      message: notCoveredMessage(c),
      pattern: { spec: { "=(ephemeralContainers)": [{ image: covered }], "=(initContainers)": [{ image: covered }], containers: [{ image: covered }] } },
    },
  };
  return {
    apiVersion: "kyverno.io/v1",
    kind: "ClusterPolicy",
    metadata: { name: policyName(c), ...labels(c) },
    spec: {
      background: false,
      webhookTimeoutSeconds: 15,
      failurePolicy: "Fail",
      rules: [
        {
          name: `require-stage-${c.stage.name}-signature`,
          match: match(["Pod"]),
          ...exclude(),
          verifyImages: [
            {
              imageReferences: c.images,
              failureAction: "Enforce",
              required: true,
              mutateDigest: true,
              verifyDigest: true,
              attestors,
              ...(c.requireVerificationSummary
                ? {
                    attestations: [
                      {
                        type: VERIFICATION_SUMMARY_PREDICATE,
                        attestors,
                        conditions: [{ all: [{ key: "{{ verificationResult }}", operator: "Equals", value: "PASSED" }] }],
                      },
                    ],
                  }
                : {}),
            },
          ],
        },
        restrict,
      ],
    },
  };
}

/**
 * policy-controller refuses a ClusterImagePolicy whose glob holds a character outside `[a-zA-Z0-9-_:/*.]` (its webhook
 * compiles each glob; pkg/apis/glob), so `reg/app@*` made the whole policy unusable. It matches a glob against the
 * reference's full name (`reg/app@sha256:…` for a digest), where `*` is any run without `/`: `reg/app*` covers the
 * digest references. It also covers sibling repositories named `reg/app…`, which must then carry the stage signature
 * too: stricter, never looser.
 */
export function policyControllerGlobs(globs: readonly string[]): string[] {
  return [...new Set(globs.map((g) => (g.includes("@") ? `${g.slice(0, g.indexOf("@"))}*` : g)))].sort();
}

/** Sigstore policy-controller ClusterImagePolicy, policy.sigstore.dev/v1beta1. Any one authority admits. */
function clusterImagePolicy(c: Ctx): Record<string, unknown> {
  return {
    apiVersion: "policy.sigstore.dev/v1beta1",
    kind: "ClusterImagePolicy",
    metadata: { name: policyName(c), ...labels(c) },
    spec: {
      images: policyControllerGlobs(c.images).map((glob) => ({ glob })),
      mode: "enforce",
      authorities: c.keys.map((k, i) => ({
        name: `${attestorName(k, i)}-${k.fingerprint.replace(/^sha256:/, "").slice(0, 12)}`,
        // No ctlog: key-based authorities then skip the transparency log, which Imprimatur's signatures have no entry in.
        key: { data: pem(k), hashAlgorithm: "sha256" },
        ...(c.stage.emitBundle ? { signatureFormat: "bundle" } : {}),
        ...(c.requireVerificationSummary
          ? {
              attestations: [
                {
                  name: "verification-summary",
                  predicateType: VERIFICATION_SUMMARY_PREDICATE,
                  policy: { type: "cue", data: `predicateType: "${VERIFICATION_SUMMARY_PREDICATE}"\npredicate: verificationResult: "PASSED"\n` },
                },
              ],
            }
          : {}),
      })),
    },
  };
}

/** A POSIX shell script for a pipeline: `cosign verify` with each valid key until one verifies. */
function cosignScript(c: Ctx): string {
  const out = ["#!/bin/sh", ...headerLines(c).map((l) => `# ${l}`)];
  out.push(
    `# Images this stage covers: ${c.images.join(" ")}`,
    "# Usage: sh " + `imprimatur-${c.stage.name}-verify.sh <image>@sha256:<digest>`,
    "set -eu",
    'IMAGE="${1:?usage: $0 <image reference, preferably by digest>}"',
    'KEYS="$(mktemp -d)"',
    "trap 'rm -rf \"$KEYS\"' EXIT",
  );
  c.keys.forEach((k, i) => {
    out.push(`cat > "$KEYS/${i}.pub" <<'IMPRIMATUR_KEY'`, pem(k).trimEnd(), "IMPRIMATUR_KEY");
  });
  const flags = "--insecure-ignore-tlog=true";
  if (c.requireVerificationSummary) {
    // cosign evaluates this CUE policy against each attestation's statement: the summary must say PASSED.
    out.push(
      `cat > "$KEYS/vsa.cue" <<'IMPRIMATUR_POLICY'`,
      `predicateType: "${VERIFICATION_SUMMARY_PREDICATE}"`,
      'predicate: verificationResult: "PASSED"',
      "IMPRIMATUR_POLICY",
    );
  }
  // Bundle-emitting stages also write the legacy .sig, which every cosign version reads; verify that one.
  out.push("verified=''", `for key in ${c.keys.map((_, i) => `"$KEYS/${i}.pub"`).join(" ")}; do`);
  const inner = [`cosign verify --key "$key" ${flags} "$IMAGE" >/dev/null`];
  if (c.requireVerificationSummary) {
    inner.push(`cosign verify-attestation --key "$key" ${flags} --type ${VERIFICATION_SUMMARY_PREDICATE} --policy "$KEYS/vsa.cue" "$IMAGE" >/dev/null`);
  }
  out.push(`  if ${inner.join(" && \\\n     ")}; then verified="$key"; break; fi`, "done");
  out.push(
    `if [ -z "$verified" ]; then echo "$IMAGE is not approved for stage ${c.stage.name}" >&2; exit 1; fi`,
    `echo "$IMAGE is approved for stage ${c.stage.name}"`,
    "",
  );
  return out.join("\n");
}
