import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";

// The deployment files a platform team applies, checked against the Kubernetes API's own OpenAPI schemas (shipped
// offline by kubernetes-models) and against the variables lib/env.ts declares. The image build is not run here.

const root = join(__dirname, "..");
const dir = join(__dirname, "kubernetes");
type Obj = Record<string, any>;

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
};

function manifests(): { file: string; doc: Obj }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .flatMap((file) => parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => ({ file, doc: d.toJS() as Obj })));
}

const byKind = (kind: string) =>
  manifests()
    .filter((m) => m.doc.kind === kind)
    .map((m) => m.doc);

/** The variables lib/env.ts declares (the keys of its zod object), read from its source. */
function declaredEnv(): Set<string> {
  const src = readFileSync(join(root, "lib/env.ts"), "utf8");
  const body = src.slice(src.indexOf("z.object({"), src.indexOf("});", src.indexOf("z.object({")));
  return new Set([...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!));
}

/** Variables scripts/server.mjs reads itself (the HTTP listener), outside lib/env.ts. */
function serverEnv(): Set<string> {
  const src = readFileSync(join(root, "scripts/server.mjs"), "utf8");
  return new Set([...src.matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
}

const containerEnv = (podSpec: Obj) => new Set<string>((podSpec.containers as Obj[]).flatMap((c) => (c.env ?? []).map((e: Obj) => e.name as string)));

function compose(): Obj {
  return parseYaml(readFileSync(join(root, "compose.yaml"), "utf8"), { merge: true }) as Obj;
}

describe("Kubernetes manifests", () => {
  it("are each valid against the Kubernetes schema of their kind, and kustomization lists every one but the example Secret", () => {
    const all = manifests();
    expect(all.length).toBeGreaterThanOrEqual(6);
    for (const { file, doc } of all) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
      expect(() => new Model!(doc).validate(), file).not.toThrow();
    }
    const kustomization = parseYaml(readFileSync(join(dir, "kustomization.yaml"), "utf8")) as { resources: string[] };
    expect(new Set(kustomization.resources)).toEqual(
      new Set(readdirSync(dir).filter((f) => f.endsWith(".yaml") && !["kustomization.yaml", "secret.example.yaml"].includes(f))),
    );
  });

  it("a schema violation is caught (the validator is not a no-op)", () => {
    const d = structuredClone(byKind("Deployment")[0]!);
    d.spec.replicas = "two";
    expect(() => new Deployment(d).validate()).toThrow();
    const j = structuredClone(byKind("Job")[0]!);
    j.spec.template.spec.containers[0].ports = [{ containerPort: "http" }];
    expect(() => new Job(j).validate()).toThrow();
  });

  it("run two or more non-root replicas with liveness and readiness probes on /api/healthz, and a migration Job", () => {
    const d = byKind("Deployment")[0]!;
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
    const pod = d.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const c = pod.containers[0];
    expect(c.livenessProbe.httpGet.path).toBe("/api/healthz");
    expect(c.readinessProbe.httpGet.path).toBe("/api/healthz?ready=1");
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    const job = byKind("Job")[0]!;
    expect(job.spec.template.spec.containers[0].command).toEqual(["node", "scripts/imprimatur.mjs", "migrate"]);
    expect(job.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    // The Service and the NetworkPolicy select the Deployment's pods.
    const labels = d.spec.template.metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(byKind("Service")[0]!.spec.selector as Record<string, string>)) expect(labels[k]).toBe(v);
    for (const [k, v] of Object.entries(byKind("NetworkPolicy")[0]!.spec.podSelector.matchLabels as Record<string, string>)) expect(labels[k]).toBe(v);
  });

  it("take the master key, the database URL and the OIDC client secret from a Secret, never inline", () => {
    const d = byKind("Deployment")[0]!;
    const env = d.spec.template.spec.containers[0].env as Obj[];
    for (const name of ["IMPRIMATUR_MASTER_KEY", "DATABASE_URL", "NEXTAUTH_SECRET", "OIDC_CLIENT_SECRET"]) {
      const e = env.find((x) => x.name === name);
      expect(e?.valueFrom?.secretKeyRef?.name, name).toBe("imprimatur");
      expect(e?.value, name).toBeUndefined();
    }
    const cm = byKind("ConfigMap")[0]!;
    for (const secret of ["IMPRIMATUR_MASTER_KEY", "DATABASE_URL", "NEXTAUTH_SECRET", "OIDC_CLIENT_SECRET"]) expect(Object.keys(cm.data)).not.toContain(secret);
    // Every configMapKeyRef names a key the ConfigMap has, or is optional.
    for (const e of env.filter((x) => x.valueFrom?.configMapKeyRef)) {
      const ref = e.valueFrom.configMapKeyRef;
      if (!ref.optional) expect(Object.keys(cm.data), e.name).toContain(ref.key);
    }
  });
});

describe("environment variables", () => {
  const declared = declaredEnv();
  const allowed = new Set([...declared, ...serverEnv()]);

  it("reads the declared variables from lib/env.ts (sanity of the parser)", () => {
    expect(declared.has("DATABASE_URL")).toBe(true);
    expect(declared.has("IMPRIMATUR_MASTER_KEY")).toBe(true);
    expect(declared.has("OIDC_CLIENT_SECRET")).toBe(true);
    expect(declared.size).toBeGreaterThan(10);
  });

  it("compose and the manifests name only variables lib/env.ts (or the server script) reads, and the same set for the app", () => {
    const k8s = containerEnv(byKind("Deployment")[0]!.spec.template.spec);
    const cm = new Set(Object.keys(byKind("ConfigMap")[0]!.data));
    const secret = new Set(Object.keys(byKind("Secret")[0]!.stringData));
    const job = containerEnv(byKind("Job")[0]!.spec.template.spec);
    const c = compose();
    const app = new Set(Object.keys(c.services.app.environment));
    const migrate = new Set(Object.keys(c.services.migrate.environment));
    for (const [where, names] of Object.entries({ deployment: k8s, configmap: cm, secret, job, "compose app": app, "compose migrate": migrate })) {
      for (const n of names) expect(allowed.has(n), `${where} sets ${n}, which lib/env.ts does not declare`).toBe(true);
    }
    expect([...app].sort()).toEqual([...k8s].sort());
    expect([...job]).toEqual(["DATABASE_URL"]);
    expect([...migrate]).toEqual(["DATABASE_URL"]);
    // What a production instance cannot run without.
    for (const n of ["DATABASE_URL", "IMPRIMATUR_MASTER_KEY", "NEXTAUTH_SECRET", "NEXTAUTH_URL"]) expect(k8s.has(n), n).toBe(true);
  });
});

describe("compose.yaml and the Containerfile", () => {
  it("compose runs two app replicas, Postgres and a Distribution registry, migrating first", () => {
    const c = compose();
    expect(c.services.app.deploy.replicas).toBe(2);
    expect(c.services.postgres.image).toMatch(/postgres/);
    expect(c.services.registry.image).toMatch(/(^|\/)registry:|distribution/);
    expect(c.services.app.depends_on.migrate.condition).toBe("service_completed_successfully");
    expect(c.services.migrate.command).toEqual(["node", "scripts/imprimatur.mjs", "migrate"]);
  });

  it("the Containerfile is multi-stage, installs production dependencies only for the runtime, and runs as a non-root user", () => {
    const text = readFileSync(join(root, "Containerfile"), "utf8");
    const stages = [...text.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);
    expect(stages).toEqual(["deps", "build", "runtime"]);
    const deps = text.slice(text.search(/AS deps/), text.search(/AS build/));
    expect(deps).toMatch(/npm ci --omit=dev/);
    const runtime = text.slice(text.search(/AS runtime/));
    expect(runtime).toMatch(/COPY --from=deps \S* ?\/app\/node_modules/);
    expect(runtime).not.toMatch(/COPY --from=build \S* ?\/app\/node_modules/);
    const user = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]).at(-1);
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user);
    expect(runtime).toMatch(/CMD \["node", "scripts\/server\.mjs"\]/);
  });
});
