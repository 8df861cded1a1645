import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { verifyCosignLayer } from "../../signing/formats/cosign";
import { generateP256, parsePublicKey, signP256 } from "../../signing/keys/software";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { sha256Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import { coveredImagesRegex, generateStagePolicy, POLICY_FORMATS, PolicyInputError, repositoryGlobs, type StagePolicyInput } from "./generate-policy";

// The projects' own CRDs, copied from ../shared/fixtures/admission-crds (see testdata/SOURCES.md).
const testdata = join(__dirname, "testdata");

type Schema = Record<string, unknown>;

/**
 * The API server prunes fields a structural schema does not declare, so a misspelt field would vanish silently in a
 * cluster. Close every object schema (additionalProperties: false) unless the CRD keeps unknown fields there, so the
 * validator reports such a field instead.
 */
function closeSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(closeSchema);
  if (!s || typeof s !== "object") return s;
  const o: Schema = {};
  for (const [k, v] of Object.entries(s as Schema))
    o[k] = k === "properties" ? Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, closeSchema(ps)])) : closeSchema(v);
  if (o.properties && o.additionalProperties === undefined && !o["x-kubernetes-preserve-unknown-fields"]) o.additionalProperties = false;
  return o;
}

function crdValidator(file: string, kind: string, version: string): ValidateFunction {
  const docs = parseAllDocuments(readFileSync(join(testdata, file), "utf8")).map((d) => d.toJS() as Schema | null);
  const crd = docs.find((d) => d?.kind === "CustomResourceDefinition" && (d.spec as { names: { kind: string } }).names.kind === kind);
  if (!crd) throw new Error(`no CRD for ${kind} in ${file}`);
  const v = (crd.spec as { versions: { name: string; schema: { openAPIV3Schema: Schema } }[] }).versions.find((x) => x.name === version);
  if (!v) throw new Error(`${kind} has no version ${version}`);
  const schema = closeSchema(v.schema.openAPIV3Schema) as Schema & { properties: Schema };
  // Every object has these; some CRDs (policy-controller's) leave them out of their schema.
  schema.properties = { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, ...schema.properties };
  // metadata is `type: object` in a CRD; the API server validates ObjectMeta itself.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(schema);
}

const validators = {
  kyverno: () => crdValidator("kyverno-imagevalidatingpolicies.yaml", "ImageValidatingPolicy", "v1"),
  "kyverno-clusterpolicy": () => crdValidator("kyverno-clusterpolicies.yaml", "ClusterPolicy", "v1"),
  "policy-controller": () => crdValidator("policy-controller-clusterimagepolicy.yaml", "ClusterImagePolicy", "v1beta1"),
} as const;

const current = generateP256();
const previous = generateP256();
const NOW = new Date("2026-12-03T12:00:00Z");

function input(over: Partial<StagePolicyInput> = {}, stage: Partial<StagePolicyInput["stage"]> = {}): StagePolicyInput {
  return {
    stage: { name: "prod", requiredApprovals: 2, emitBundle: false, ...stage },
    keys: [
      { name: "prod-2026", publicKeyPem: current.publicKeyPem, fingerprint: current.fingerprint, current: true, notAfter: null },
      { name: "prod-2025", publicKeyPem: previous.publicKeyPem, fingerprint: previous.fingerprint, current: false, notAfter: new Date("2027-01-01T00:00:00Z") },
    ],
    namespaces: ["payments", "checkout"],
    images: [...repositoryGlobs("registry.example:5000/team/app"), ...repositoryGlobs("registry.example:5000/team/api")],
    requireVerificationSummary: false,
    generatedBy: "https://imprimatur.example",
    now: NOW,
    ...over,
  };
}

/** Every PEM public key a generated document embeds, wherever it sits. */
function embeddedKeys(text: string): string[] {
  return [...text.matchAll(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g)].map((m) => m[0].replace(/^\s+/gm, ""));
}

/** A real cosign signature by the given stage key over a simple-signing payload, as Imprimatur pushes it. */
function stageSignature(privateKeyPem: string) {
  const digest = sha256Digest(Buffer.from(`image ${Math.random()}`));
  const payload = buildSimpleSigningPayload({ dockerReference: "registry.example:5000/team/app", digest });
  const sig = signP256(privateKeyPem, payload).toString("base64");
  return {
    digest,
    payload,
    layer: { mediaType: MT.cosignSimpleSigning, size: payload.byteLength, digest: sha256Digest(payload), annotations: { [SIGNATURE_ANNOTATION]: sig } },
  };
}

describe("stage admission policies", () => {
  for (const format of ["kyverno", "kyverno-clusterpolicy", "policy-controller"] as const) {
    describe(format, () => {
      const validate = validators[format]();
      for (const variant of [
        { label: "plain", over: {}, stage: {} },
        { label: "requiring the verification summary", over: { requireVerificationSummary: true }, stage: {} },
        {
          label: "a bundle-emitting stage, one key, cluster-wide",
          over: { namespaces: [], keys: [input().keys[0]!] },
          stage: { emitBundle: true, requiredApprovals: 1 },
        },
        {
          label: "cluster-wide except exempt namespaces, with the summary",
          over: { namespaces: [], excludeNamespaces: ["kube-system", "dev"], requireVerificationSummary: true },
          stage: {},
        },
      ]) {
        it(`is valid against the CRD's openAPIV3Schema (${variant.label})`, () => {
          const out = generateStagePolicy(format, input(variant.over, variant.stage));
          const doc = parseYaml(out.content) as Record<string, unknown>;
          const ok = validate(doc);
          expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 1)).toEqual([]);
          expect(ok).toBe(true);
        });
      }

      it("embeds exactly the stage keys, and the embedded current key verifies a real stage signature while a stranger's does not", () => {
        const out = generateStagePolicy(format, input());
        const keys = embeddedKeys(out.content);
        expect(new Set(keys.map((k) => parsePublicKey(k).fingerprint))).toEqual(new Set([current.fingerprint, previous.fingerprint]));
        const trusted = keys.map((k, i) => ({ name: `policy-key-${i}`, fingerprint: parsePublicKey(k).fingerprint, key: parsePublicKey(k) }));
        const signed = stageSignature(current.privateKeyPem);
        expect(verifyCosignLayer({ layer: signed.layer, blob: signed.payload, imageDigest: signed.digest, trustedKeys: trusted }).verdict).toBe("verified");
        const stranger = stageSignature(generateP256().privateKeyPem);
        expect(verifyCosignLayer({ layer: stranger.layer, blob: stranger.payload, imageDigest: stranger.digest, trustedKeys: trusted }).verdict).not.toBe(
          "verified",
        );
      });

      it("says in a comment that Imprimatur enforces N-of-M before signing, only when the stage needs more than one approval", () => {
        expect(generateStagePolicy(format, input()).content).toMatch(
          /^# .*N-of-M: this stage needs 2 distinct approvals\. Imprimatur enforces that rule before it signs/m,
        );
        expect(generateStagePolicy(format, input({}, { requiredApprovals: 1 })).content).not.toContain("N-of-M");
      });
    });
  }

  it("kyverno: matches the stage's namespaces and images, and lets any valid key verify", () => {
    const doc = parseYaml(generateStagePolicy("kyverno", input({ requireVerificationSummary: true })).content) as {
      spec: {
        matchConstraints: { namespaceSelector: { matchExpressions: { values: string[] }[] } };
        matchImageReferences: { glob: string }[];
        attestors: { name: string }[];
        validations: { expression: string }[];
        attestations: { intoto: { type: string } }[];
      };
    };
    expect(doc.spec.matchConstraints.namespaceSelector.matchExpressions[0]!.values).toEqual(["checkout", "payments"]);
    expect(doc.spec.matchImageReferences).toEqual([{ glob: "*" }]);
    expect(doc.spec.attestors.map((a) => a.name)).toEqual(["current", "previous1"]);
    expect(doc.spec.validations[0]!.expression).toBe(
      `(images.containers + images.initContainers + images.ephemeralContainers).all(image, image.matches('${coveredImagesRegex(input().images.sort())}'))`,
    );
    expect(doc.spec.validations[1]!.expression).toBe(
      "(images.containers + images.initContainers + images.ephemeralContainers).map(image, verifyImageSignatures(image, [attestors.current, attestors.previous1])).all(e, e > 0)",
    );
    expect(doc.spec.attestations[0]!.intoto.type).toBe("https://slsa.dev/verification_summary/v1");
  });

  // Spellings a pod may use for a covered image, and images the stage does not cover (another repository with the
  // same prefix, the same repository without the port or with the host in capitals, another registry).
  const DIGEST = `sha256:${"a".repeat(64)}`;
  const COVERED = [
    "registry.example:5000/team/app",
    "registry.example:5000/team/app:1.2",
    `registry.example:5000/team/app@${DIGEST}`,
    `registry.example:5000/team/app:1.2@${DIGEST}`,
    "registry.example:5000/team/api:2",
  ];
  const NOT_COVERED = [
    "registry.example:5000/team/app-other:1.2",
    "registry.example/team/app:1.2",
    "REGISTRY.example:5000/team/app:1.2",
    "registryXexample:5000/team/app:1.2",
    `docker.io/library/nginx@${DIGEST}`,
    "nginx",
    "evil.example/registry.example:5000/team/app:1.2",
  ];

  it("kyverno: every image is evaluated, covered spellings pass the first validation and every other image is refused", () => {
    // ImageValidatingPolicy admits a pod none of whose images a matchImageReferences glob matches without evaluating a
    // single validation, so the policy matches every image and its first validation is the allow-list: CEL's
    // matches() is RE2, which reads this expression as JavaScript does.
    const doc = parseYaml(generateStagePolicy("kyverno", input()).content) as {
      spec: { matchImageReferences: { glob: string }[]; validations: { expression: string; message: string }[] };
    };
    expect(doc.spec.matchImageReferences).toEqual([{ glob: "*" }]);
    const m = /image\.matches\('([^']*)'\)/.exec(doc.spec.validations[0]!.expression);
    expect(m).not.toBeNull();
    expect(m![1]).not.toContain("\\");
    const re = new RegExp(m![1]!);
    for (const image of COVERED) expect({ image, covered: re.test(image) }).toEqual({ image, covered: true });
    for (const image of NOT_COVERED) expect({ image, covered: re.test(image) }).toEqual({ image, covered: false });
    expect(doc.spec.validations[0]!.message).toContain("is not one stage prod covers");
  });

  it("kyverno-clusterpolicy: a second rule refuses every image verifyImages does not cover, in the same namespaces", () => {
    // verifyImages lets an image no imageReferences pattern matches through unchecked. Kyverno reads a pattern value
    // "a | b" as any one of a, b, each with wildcards (`*` any run, `/` included; ext/wildcard).
    const kyvernoPattern = (pattern: string, value: string) =>
      pattern.split("|").some((p) =>
        new RegExp(
          `^${p
            .trim()
            .replace(/[.+^${}()|[\]\\?]/g, "\\$&")
            .replace(/\*/g, ".*")}$`,
        ).test(value),
      );
    for (const over of [{}, { namespaces: [], excludeNamespaces: ["kube-system"] }]) {
      const doc = parseYaml(generateStagePolicy("kyverno-clusterpolicy", input(over)).content) as {
        spec: {
          rules: {
            name: string;
            match: { any: { resources: { kinds: string[]; namespaces?: string[] } }[] };
            exclude?: unknown;
            verifyImages?: { imageReferences: string[] }[];
            validate?: { failureAction: string; pattern: { spec: Record<string, { image: string }[]> } };
          }[];
        };
      };
      const [verify, ...restricts] = doc.spec.rules;
      // Only Pod: Kyverno matches pods/ephemeralcontainers (kubectl debug) with it, and turns autogen off for the
      // whole policy when a rule matches Pod along with another kind.
      expect(restricts.map((r) => [r.name, r.match.any[0]!.resources.kinds])).toEqual([["restrict-stage-prod-images", ["Pod"]]]);
      for (const r of doc.spec.rules) expect(r.match.any[0]!.resources.kinds.length === 1 || !r.match.any[0]!.resources.kinds.includes("Pod")).toBe(true);
      for (const restrict of restricts) {
        expect(restrict.validate!.failureAction).toBe("Enforce");
        expect(restrict.match.any[0]!.resources.namespaces).toEqual(verify!.match.any[0]!.resources.namespaces);
        expect(restrict.exclude).toEqual(verify!.exclude);
        const spec = restrict.validate!.pattern.spec;
        expect(Object.keys(spec).sort()).toEqual(["=(ephemeralContainers)", "=(initContainers)", "containers"]);
        for (const list of Object.values(spec)) {
          const pattern = list[0]!.image;
          for (const image of COVERED) expect({ image, covered: kyvernoPattern(pattern, image) }).toEqual({ image, covered: true });
          for (const image of NOT_COVERED) expect({ image, covered: kyvernoPattern(pattern, image) }).toEqual({ image, covered: false });
          // Everything the verifyImages rule checks, and nothing else, passes.
          expect(pattern.split(" | ").sort()).toEqual([...verify!.verifyImages![0]!.imageReferences].sort());
        }
      }
    }
  });

  it("policy-controller: the header says an image no glob matches is left to no-match-policy, and how to keep it deny", () => {
    const content = generateStagePolicy("policy-controller", input()).content;
    expect(content).toMatch(/^# An image no glob here matches is decided by policy-controller's no-match-policy/m);
    expect(content).toContain(`kubectl -n cosign-system patch configmap config-policy-controller --type merge -p '{"data":{"no-match-policy":"deny"}}'`);
  });

  it("policy-controller: every glob is one policy-controller accepts, and every spelling of a covered image matches", () => {
    // sigstore/policy-controller pkg/apis/glob: a ClusterImagePolicy whose glob has a character outside
    // [a-zA-Z0-9-_:/*.] is refused by its webhook (ValidateGlob); `**` is any run, `*` any run without `/`, matched
    // against the reference's full name (an untagged one gets :latest; a digest one is repository@digest).
    const VALID = /^[a-zA-Z0-9-_:/*.]+$/;
    const compile = (g: string) => new RegExp(`^${g.replace(/\./g, "\\.").replace(/\*\*/g, "#").replace(/\*/g, "[^/]*").replace(/#/g, ".*")}$`);
    const fullName = (image: string) => {
      const at = image.indexOf("@");
      if (at >= 0) return `${image.slice(0, at).replace(/:[^/:]*$/, "")}${image.slice(at)}`;
      return /:[^/]*$/.test(image) ? image : `${image}:latest`;
    };
    const doc = parseYaml(generateStagePolicy("policy-controller", input()).content) as { spec: { images: { glob: string }[] } };
    const globs = doc.spec.images.map((i) => i.glob);
    for (const g of globs) expect({ g, valid: VALID.test(g) }).toEqual({ g, valid: true });
    const digest = `sha256:${"a".repeat(64)}`;
    for (const image of [
      "registry.example:5000/team/app",
      "registry.example:5000/team/app:1.2",
      `registry.example:5000/team/app@${digest}`,
      `registry.example:5000/team/app:1.2@${digest}`,
    ])
      expect({ image, matched: globs.some((g) => compile(g).test(fullName(image))) }).toEqual({ image, matched: true });
  });

  it("kyverno: init and ephemeral containers are verified too, also when added to a running pod", () => {
    // Kyverno's ImageValidatingPolicy extracts a pod's images into images.containers, images.initContainers and
    // images.ephemeralContainers (pkg/cel/compiler/images.go); a validation that reads only the first admits the rest.
    const doc = parseYaml(generateStagePolicy("kyverno", input({ requireVerificationSummary: true })).content) as {
      spec: { matchConstraints: { resourceRules: { resources: string[]; operations: string[] }[] }; validations: { expression: string }[] };
    };
    for (const v of doc.spec.validations)
      for (const list of ["images.containers", "images.initContainers", "images.ephemeralContainers"]) expect(v.expression).toContain(list);
    // kubectl debug adds an ephemeral container through the pods/ephemeralcontainers subresource (an UPDATE).
    expect(doc.spec.matchConstraints.resourceRules[0]!.resources).toEqual(["pods", "pods/ephemeralcontainers"]);
  });

  it("a cluster-wide policy leaves out exempt namespaces and those mapped to other stages", () => {
    const ivp = parseYaml(generateStagePolicy("kyverno", input({ namespaces: [], excludeNamespaces: ["kube-system", "dev"] })).content) as {
      spec: { matchConstraints: { namespaceSelector: { matchExpressions: { operator: string; values: string[] }[] } } };
    };
    expect(ivp.spec.matchConstraints.namespaceSelector.matchExpressions[0]).toMatchObject({ operator: "NotIn", values: ["dev", "kube-system"] });
    const cp = parseYaml(generateStagePolicy("kyverno-clusterpolicy", input({ namespaces: [], excludeNamespaces: ["kube-system"] })).content) as {
      spec: { rules: { exclude: { any: { resources: { namespaces: string[] } }[] } }[] };
    };
    expect(cp.spec.rules[0]!.exclude.any[0]!.resources.namespaces).toEqual(["kube-system"]);
    for (const rule of cp.spec.rules) expect(rule.exclude.any[0]!.resources.namespaces).toEqual(["kube-system"]);
    // With a namespace list, exclusions are moot and left out.
    expect(generateStagePolicy("kyverno", input({ excludeNamespaces: ["kube-system"] })).content).not.toContain("NotIn");
  });

  it("policy-controller: bundle-emitting stages get signatureFormat bundle, others the default", () => {
    const bundled = parseYaml(generateStagePolicy("policy-controller", input({}, { emitBundle: true })).content) as {
      spec: { authorities: { signatureFormat?: string }[] };
    };
    expect(bundled.spec.authorities.every((a) => a.signatureFormat === "bundle")).toBe(true);
    const legacy = parseYaml(generateStagePolicy("policy-controller", input()).content) as { spec: { authorities: { signatureFormat?: string }[] } };
    expect(legacy.spec.authorities.every((a) => a.signatureFormat === undefined)).toBe(true);
  });

  it("a stage whose approvals expire says in every format how expiry reaches the policy (revocation on the tick)", () => {
    for (const format of POLICY_FORMATS) {
      const content = generateStagePolicy(format, input({}, { approvalTtlDays: 90 })).content;
      expect(content).toContain("approvals of this stage expire after 90 days");
      expect(content).toContain("Imprimatur revokes an expired approval within about a minute");
      expect(generateStagePolicy(format, input()).content).not.toContain("expire after");
    }
  });

  it("cosign: a shell script that tries each valid key, and checks the summary says PASSED when required", () => {
    const out = generateStagePolicy("cosign", input({ requireVerificationSummary: true }));
    expect(out.content.startsWith("#!/bin/sh\n")).toBe(true);
    expect(out.content).toContain('cosign verify --key "$key" --insecure-ignore-tlog=true "$IMAGE"');
    expect(out.content).toContain('--type https://slsa.dev/verification_summary/v1 --policy "$KEYS/vsa.cue"');
    expect(out.content).toContain('predicate: verificationResult: "PASSED"');
    expect(embeddedKeys(out.content).map((k) => parsePublicKey(k).fingerprint)).toEqual([current.fingerprint, previous.fingerprint]);
  });

  it("refuses input that would give a policy admitting nothing or everything, naming the field", () => {
    const bad: [Partial<StagePolicyInput>, string][] = [
      [{ keys: [{ ...input().keys[1]! }] }, "keys"],
      [{ images: [] }, "images"],
      [{ images: ["registry.example/app\nspec: {}"] }, "images"],
      [{ images: ["a b"] }, "images"],
      [{ namespaces: ["Bad_NS"] }, "namespaces"],
      [{ generatedBy: "https://x\nrm -rf /" }, "generatedBy"],
      [{ keys: [{ ...input().keys[0]!, name: "k\necho pwned" }] }, "keys"],
      [{ keys: [{ ...input().keys[0]!, publicKeyPem: "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----" }] }, "keys"],
    ];
    for (const [over, field] of bad) {
      let err: unknown;
      try {
        generateStagePolicy("kyverno", input(over));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PolicyInputError);
      expect((err as PolicyInputError).field).toBe(field);
    }
  });

  it("writes no YAML anchors or aliases (some tools in a cluster's pipeline do not resolve them)", () => {
    for (const f of ["kyverno", "kyverno-clusterpolicy", "policy-controller"] as const)
      for (const over of [{}, { namespaces: [], excludeNamespaces: ["kube-system"] }])
        expect(generateStagePolicy(f, input(over)).content).not.toMatch(/[&*]a\d/);
  });

  it("is deterministic for the same input, whatever the order of keys, images and namespaces", () => {
    for (const f of POLICY_FORMATS) {
      const a = input();
      const b = input({ keys: [...a.keys].reverse(), images: [...a.images].reverse(), namespaces: [...a.namespaces].reverse() });
      expect(generateStagePolicy(f, a).content).toBe(generateStagePolicy(f, b).content);
    }
  });
});
