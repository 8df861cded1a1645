// `npx imprimatur …`: operator commands against the same database and settings as the server.
// Every invocation is audited as cli.<command>; state changes are also audited by the domain actions.
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { db, disconnectDb } from "../lib/db";
import { isAppError } from "../lib/errors";
import { ROLES, type Actor, type Role } from "../lib/server/actor";
import { recordAuditEvent } from "../lib/server/audit/append-audit-event";
import { completePendingSignatures } from "../lib/server/approvals/complete-pending-signatures";
import { syncRegistry } from "../lib/server/images/sync-registry";
import { assertMasterKeyUsable } from "../lib/server/keys/master-key";
import { createToken } from "../lib/server/tokens/create-token";
import { listTokens } from "../lib/server/tokens/list-tokens";
import { revokeToken } from "../lib/server/tokens/revoke-token";
import { createUser } from "../lib/server/users/create-user";
import { listUsers } from "../lib/server/users/list-users";
import { updateUser } from "../lib/server/users/update-user";
import { registerClientCert, revokeClientCert } from "../lib/server/users/register-client-cert";
import { upsertGroup } from "../lib/server/groups/upsert-group";
import { upsertStage } from "../lib/server/stages/upsert-stage";
import { runAuditCommand } from "./lib/cli-audit";
import { runKeyCommand } from "./lib/cli-keys";

const USAGE = `usage: imprimatur <command>

  migrate                                   apply database migrations
  seed [--story]                            seed demo users, stages, keys and images (idempotent); --story: and weeks of demo history
  user add --email E --role R [--name N] [--password P]   (password from IMPRIMATUR_PASSWORD or stdin otherwise)
  user list
  user disable --email E | user enable --email E        disabling ends the user's sessions and revokes their tokens
  user role --email E --role R
  user password --email E [--password P]                (password from IMPRIMATUR_PASSWORD or stdin otherwise)
  token create --email E [--scopes read,evidence,request,review,admission,admin|all] [--expires 30d] [--name N]
                                            prints the token as the last line (default: every scope the role allows,
                                            IMPRIMATUR_TOKEN_DEFAULT_DAYS; at most IMPRIMATUR_TOKEN_MAX_DAYS)
  token list
  token revoke <id|prefix>
  trust add --name N --pem-file F [--kind key|certificate|sigstore|tsa] [--role publisher|team|stage|builder|scanner] [--scope 'library/*,apps/**']
            [--builder-ids 'https://ci.example/*,…' (role builder: required, the builder ids its provenance may name; ** = any)]
            [--subject DN | --san PATTERN --oidc-issuer URL | --any-identity-under-root]
                                            trust a key (cosign.pub), certificate roots, a Sigstore trusted_root.json or TSA roots
                                            (default kind key, role publisher, scope ** = every repository)
  key create --stage S [--name N]           generate a new signing key for a stage
  key rotate --stage S [--name N] [--backend software|pkcs11]   new current key; the old one is retired, not deleted
  key import --stage S --pem-file F [--name N] [--password P]   an encrypted cosign.key (password from IMPRIMATUR_PASSWORD or stdin otherwise)
  key revoke --stage S --effective-at T --reason R [--key K] [--dry-run]
                                            the stage key is compromised from T (RFC 3339): approvals after T are revoked, earlier
                                            ones stay valid, a replacement key is generated; --dry-run lists what would change
  approval revoke <approval-id> --reason R  take one stage approval back (its signature layer leaves the registry)
  sync [--registry R]                       read the registry now
  retry                                     push signatures left pending
  worker                                    run the background job workers (syncs, schedule) until stopped
  admission set --namespace NS (--stage S | --exempt)   the stage a Kubernetes namespace requires ("*" = default)
  cert add --email E --pem-file F [--name N]   a client certificate (forwarded by a trusted proxy) logs in as E
  cert revoke --fingerprint sha256:…
  group set --name G [--members a@x,b@y] [--description D]   create a reviewer group or replace its members
  stage set --name S [--approvals N] [--reviewers g1,g2] [--waivers G] [--gates-file F] [--ttl-days D|none]
             [--on-regression flag|revoke-after] [--grace-hours H]
                                            configure (or append) a stage; --ttl-days: approvals expire D days after their trusted time
  evidence uploaders [--rules 'apps/*=app-team,**=ci']   list, or replace, who may attach evidence to which repositories
  evidence withdraw --id DOCUMENT_ID --reason R           withdraw evidence (kept, shown withdrawn, no longer counted)
  audit verify                              recompute the audit hash chain and check it against every checkpoint in the registry
  audit checkpoint [--force]                sign the chain head with the audit key and push it to IMPRIMATUR_AUDIT_REPOSITORY
  audit export --from DATE [--to DATE] [--format ndjson|csv] [--actor A] [--action A] [--target T] [--outcome O] [--out FILE]
                                            the trail with each row's chain hashes (stdout unless --out)
  policy export --stage S --format F [--images 'reg/team/*,…'] [--require-summary] [--output FILE]
                                            the stage's admission policy: kyverno, kyverno-clusterpolicy, policy-controller or cosign
  advisories import FILE|URL [--skip-bad-records]
                                            import OSV advisories (one record, a JSON array, or an osv.dev ecosystem all.zip)
                                            and match them against every stored SBOM; affected approvals are re-evaluated;
                                            --skip-bad-records imports the good records and names each refused one
  reevaluate                                judge every approved image's gates again now (normally the worker does this)`;

const actor: Actor = { kind: "cli", label: userInfo().username };

function fail(msg: string, code = 2): never {
  console.error(`imprimatur: ${msg}`);
  process.exit(code);
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return "";
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").trim();
}

async function main(argv: string[]): Promise<number> {
  const [cmd, sub] = argv;
  if (!cmd || cmd === "help" || cmd === "--help") {
    console.log(USAGE);
    return 0;
  }
  const single = ["migrate", "seed", "sync", "retry", "worker", "reevaluate"].includes(cmd);
  const command = single ? cmd : `${cmd} ${sub ?? ""}`.trim();
  const rest = argv.slice(single ? 1 : 2);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      email: { type: "string" },
      role: { type: "string" },
      name: { type: "string" },
      password: { type: "string" },
      expires: { type: "string" },
      scopes: { type: "string" },
      "pem-file": { type: "string" },
      stage: { type: "string" },
      registry: { type: "string" },
      namespace: { type: "string" },
      exempt: { type: "boolean" },
      fingerprint: { type: "string" },
      members: { type: "string" },
      description: { type: "string" },
      approvals: { type: "string" },
      reviewers: { type: "string" },
      waivers: { type: "string" },
      "gates-file": { type: "string" },
      "on-regression": { type: "string" },
      "grace-hours": { type: "string" },
      kind: { type: "string" },
      backend: { type: "string" },
      scope: { type: "string" },
      "builder-ids": { type: "string" },
      subject: { type: "string" },
      san: { type: "string" },
      "oidc-issuer": { type: "string" },
      format: { type: "string" },
      images: { type: "string" },
      "require-summary": { type: "boolean" },
      "skip-bad-records": { type: "boolean" },
      output: { type: "string" },
      rules: { type: "string" },
      id: { type: "string" },
      reason: { type: "string" },
      "any-identity-under-root": { type: "boolean" },
      "effective-at": { type: "string" },
      key: { type: "string" },
      "dry-run": { type: "boolean" },
      "ttl-days": { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      actor: { type: "string" },
      action: { type: "string" },
      target: { type: "string" },
      outcome: { type: "string" },
      out: { type: "string" },
      force: { type: "boolean" },
      story: { type: "boolean" },
    },
  });
  if (command === "migrate") {
    const { migrate } = await import("./lib/migrate.mjs");
    const { env } = await import("../lib/env");
    const applied = await migrate(env().DATABASE_URL, { log: console.log });
    console.log(applied.length ? `applied ${applied.length} migration(s)` : "database is up to date");
    return 0;
  }
  // Commands below touch signing keys or run as the server would; refuse a wrong master key early.
  await assertMasterKeyUsable();
  // `seed --story` builds weeks of history: its clock starts in the past before anything is audited (scripts/demo-story.ts).
  if (command === "seed" && values.story) await (await import("./demo-story")).startStoryClock();
  const safeArgs = { ...values, password: values.password ? "***" : undefined };
  await recordAuditEvent({ actor, action: `cli.${command.replace(" ", ".")}`, detail: { args: safeArgs, positionals } });

  switch (command) {
    case "seed": {
      if (values.story) {
        const { seedStory } = await import("./demo-story");
        await seedStory(console.log);
        return 0;
      }
      const { seedDemo } = await import("./seed");
      await seedDemo(console.log);
      return 0;
    }
    case "user add": {
      if (!values.email || !values.role) fail("user add needs --email and --role");
      if (!ROLES.includes(values.role as Role)) fail(`--role must be one of ${ROLES.join(", ")}`);
      const password = values.password ?? process.env.IMPRIMATUR_PASSWORD ?? (await readStdin());
      if (!password) fail("give the password with --password, IMPRIMATUR_PASSWORD or on stdin");
      const { user } = await createUser({ actor, email: values.email, name: values.name, role: values.role as Role, password });
      console.log(`created ${user.email} (${user.role})`);
      return 0;
    }
    case "user list": {
      for (const u of await listUsers({ actor })) console.log(`${u.email}\t${u.role}\t${u.name}${u.disabled ? "\tdisabled" : ""}`);
      return 0;
    }
    case "user disable":
    case "user enable": {
      if (!values.email) fail(`${command} needs --email`);
      const { user, revokedTokens } = await updateUser({ actor, email: values.email, disabled: command === "user disable" });
      console.log(`${user.email} ${user.disabled ? `disabled; sessions end at their next request; ${revokedTokens} token(s) revoked` : "enabled"}`);
      return 0;
    }
    case "user role": {
      if (!values.email || !values.role) fail("user role needs --email and --role");
      if (!ROLES.includes(values.role as Role)) fail(`--role must be one of ${ROLES.join(", ")}`);
      const { user } = await updateUser({ actor, email: values.email, role: values.role as Role });
      console.log(`${user.email} is now ${user.role}`);
      return 0;
    }
    case "user password": {
      if (!values.email) fail("user password needs --email");
      const password = values.password ?? process.env.IMPRIMATUR_PASSWORD ?? (await readStdin());
      if (!password) fail("give the password with --password, IMPRIMATUR_PASSWORD or on stdin");
      const { user } = await updateUser({ actor, email: values.email, password });
      console.log(`password of ${user.email} changed`);
      return 0;
    }
    case "token create": {
      if (!values.email) fail("token create needs --email");
      const t = await createToken({ actor, email: values.email, name: values.name, scopes: values.scopes, expires: values.expires });
      console.log(`token for ${t.email} (id ${t.id}, scopes ${t.scopes.join(",")}, expires ${t.expiresAt.toISOString()}); it is shown once:`);
      console.log(t.token);
      return 0;
    }
    case "token list": {
      for (const t of await listTokens({ actor })) {
        const state = t.revokedAt ? "revoked" : t.expiresAt && t.expiresAt <= new Date() ? "expired" : "active";
        console.log(
          `${t.id}\t${t.prefix}…\t${t.email}\t${t.name}\t${t.scopes.join(",")}\t${state}\texpires ${t.expiresAt?.toISOString() ?? "never"}\tlast used ${t.lastUsedAt?.toISOString() ?? "never"}`,
        );
      }
      return 0;
    }
    case "cert add": {
      if (!values.email || !values["pem-file"]) fail("cert add needs --email and --pem-file");
      const c = await registerClientCert({ actor, email: values.email, pem: readFileSync(values["pem-file"], "utf8"), name: values.name });
      console.log(`registered ${c.fingerprint} (${c.subject}) for ${c.email}`);
      return 0;
    }
    case "cert revoke": {
      if (!values.fingerprint) fail("cert revoke needs --fingerprint");
      console.log(`revoked ${(await revokeClientCert({ actor, fingerprint: values.fingerprint })).fingerprint}`);
      return 0;
    }
    case "evidence uploaders": {
      if (values.rules !== undefined) {
        const rules = values.rules
          .split(",")
          .map((r) => r.trim())
          .filter(Boolean)
          .map((r) => {
            const eq = r.lastIndexOf("=");
            if (eq <= 0) fail(`evidence uploaders: ${r} is not pattern=group`);
            return { pattern: r.slice(0, eq).trim(), group: r.slice(eq + 1).trim() };
          });
        const { setEvidenceUploaders } = await import("../lib/server/evidence/set-evidence-uploaders");
        await setEvidenceUploaders({ actor, rules });
      }
      const { listEvidenceUploaders } = await import("../lib/server/evidence/list-evidence-uploaders");
      const list = await listEvidenceUploaders({ actor });
      if (!list.length) console.log("no evidence-uploader rules: any developer, reviewer or admin may attach evidence");
      for (const r of list) console.log(`${r.pattern}\t${r.group}`);
      return 0;
    }
    case "evidence withdraw": {
      if (!values.id || !values.reason) fail("evidence withdraw needs --id and --reason");
      const { withdrawEvidence } = await import("../lib/server/evidence/withdraw-evidence");
      const w = await withdrawEvidence({ actor, documentId: values.id, reason: values.reason });
      console.log(`${w.already ? "already withdrawn" : "withdrawn"}: ${w.id} (${w.reason})`);
      return 0;
    }
    case "group set": {
      if (!values.name) fail("group set needs --name");
      const g = await upsertGroup({
        actor,
        name: values.name,
        description: values.description,
        members: values.members
          ?.split(",")
          .map((m) => m.trim())
          .filter(Boolean),
      });
      console.log(`group ${g.name}: ${g.members.join(", ") || "(no members)"}`);
      return 0;
    }
    case "stage set": {
      if (!values.name) fail("stage set needs --name");
      const s = await upsertStage({
        actor,
        name: values.name,
        settings: {
          ...(values.approvals ? { requiredApprovals: Number(values.approvals) } : {}),
          ...(values.reviewers !== undefined
            ? {
                reviewerGroups: values.reviewers
                  .split(",")
                  .map((g) => g.trim())
                  .filter(Boolean),
              }
            : {}),
          ...(values.waivers !== undefined ? { waiverGroup: values.waivers || null } : {}),
          ...(values["gates-file"] ? { gates: JSON.parse(readFileSync(values["gates-file"], "utf8")) as unknown } : {}),
          ...(values["ttl-days"] !== undefined ? { approvalTtlDays: values["ttl-days"] === "none" ? null : Number(values["ttl-days"]) } : {}),
          ...(values["on-regression"] ? { onRegression: values["on-regression"] as "flag" | "revoke-after" } : {}),
          ...(values["grace-hours"] ? { regressionGraceHours: Number(values["grace-hours"]) } : {}),
        },
      });
      console.log(
        `stage ${s.name} (#${s.position}): ${s.requiredApprovals} approval(s) from ${s.reviewerGroups.join(" or ") || "any reviewer"}; waivers by ${s.waiverGroup ?? "nobody"}; gates ${JSON.stringify(s.gates)}`,
      );
      return 0;
    }
    case "advisories import": {
      const src = positionals[0];
      if (!src) fail("advisories import needs a FILE or an http(s) URL");
      const { importAdvisories } = await import("../lib/server/advisories/import-advisories");
      const { downloadAdvisories } = await import("../lib/server/advisories/fetch-advisory-feed");
      const bytes = /^https?:\/\//i.test(src) ? await downloadAdvisories(src) : readFileSync(src);
      const r = await importAdvisories({ actor, bytes, origin: src, skipBadRecords: Boolean(values["skip-bad-records"]) });
      console.log(
        `${r.records} record(s): ${r.created} new, ${r.updated} updated, ${r.unchanged} unchanged, ${r.skipped} skipped (unknown ecosystems${
          Object.keys(r.skippedEcosystems).length
            ? `: ${Object.entries(r.skippedEcosystems)
                .map(([k, v]) => `${k} ${v}`)
                .join(", ")}`
            : ""
        }); ${r.findings} finding(s) on ${r.images} image(s)`,
      );
      if (r.refused) {
        console.log(`${r.refused} record(s) refused:`);
        for (const x of r.refusedRecords) console.log(`  ${x.record}: ${x.reason}`);
        if (r.refused > r.refusedRecords.length) console.log(`  … and ${r.refused - r.refusedRecords.length} more`);
      }
      return 0;
    }
    case "reevaluate": {
      const { requestReevaluation } = await import("../lib/server/reevaluation/enqueue-reevaluation");
      const { reevaluateApprovals } = await import("../lib/server/reevaluation/reevaluate-approvals");
      await requestReevaluation(db, { trigger: "manual" });
      const r = await reevaluateApprovals({ actor });
      console.log(`judged ${r.evaluated} approval(s): ${r.atRisk} newly at risk, ${r.resolved} no longer at risk`);
      return 0;
    }
    case "token revoke": {
      const id = positionals[0];
      if (!id) fail("token revoke needs a token id or prefix");
      const t = await revokeToken({ actor, idOrPrefix: id });
      console.log(`revoked ${t.id} (${t.prefix}…)`);
      return 0;
    }
    case "trust add":
    case "key rotate":
    case "key import":
    case "key revoke":
    case "key create":
    case "approval revoke":
      return runKeyCommand(command, values, positionals, actor, readStdin);
    case "sync": {
      const r = await syncRegistry({ actor, registry: values.registry });
      console.log(
        `synced ${r.registry}: ${r.repositories} repositories, ${r.tags} tags, ${r.newManifests} new manifests, ${r.signaturesChecked} signature layers, ${r.pendingCompleted} pending signatures completed in ${r.durationMs} ms`,
      );
      for (const e of r.errors) console.error(`  error in ${e.repository}: ${e.message}`);
      return r.errors.length ? 1 : 0;
    }
    case "policy export": {
      if (!values.stage || !values.format) fail("policy export needs --stage and --format (kyverno, kyverno-clusterpolicy, policy-controller or cosign)");
      const { exportStagePolicy } = await import("../lib/server/stages/export-stage-policy");
      const out = await exportStagePolicy({
        actor,
        stage: values.stage,
        format: values.format,
        images: values.images?.split(","),
        requireVerificationSummary: Boolean(values["require-summary"]),
      });
      if (values.output) {
        const { writeFileSync } = await import("node:fs");
        writeFileSync(values.output, out.content, { mode: 0o644 });
        console.error(`wrote ${values.output} (${out.format})`);
      } else process.stdout.write(out.content);
      return 0;
    }
    case "admission set": {
      if (!values.namespace) fail("admission set needs --namespace");
      const { setNamespacePolicy } = await import("../lib/server/admission/review-images");
      await setNamespacePolicy({ actor, namespace: values.namespace, stage: values.stage ?? null, exempt: Boolean(values.exempt) });
      console.log(`namespace ${values.namespace}: ${values.exempt ? "exempt" : `requires stage ${values.stage}`}`);
      return 0;
    }
    case "worker": {
      const { startWorkers } = await import("../lib/server/jobs/workers");
      const { stopBoss } = await import("../lib/server/jobs/boss");
      await startWorkers();
      console.log("workers running (registry syncs, schedule); Ctrl-C to stop");
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await stopBoss();
      return 0;
    }
    case "retry": {
      const r = await completePendingSignatures({ actor });
      console.log(`${r.completed} of ${r.pending} pending signature(s) pushed`);
      for (const f of r.failures) console.error(`  ${f.approvalId}: ${f.error}`);
      return r.failures.length ? 1 : 0;
    }
    case "audit verify":
    case "audit checkpoint":
    case "audit export":
      return runAuditCommand(command, values, actor);
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2))
  .then(async (code) => {
    await disconnectDb();
    process.exit(code);
  })
  .catch(async (e) => {
    await disconnectDb().catch(() => {});
    if (isAppError(e)) fail(`${e.code}: ${e.message}`, 1);
    fail((e as Error).message ?? String(e), 1);
  });
