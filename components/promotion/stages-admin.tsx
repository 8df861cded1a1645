"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import type { GateConfig, GateSeverity } from "@/lib/policy/gates";
import { GATE_SEVERITIES } from "@/lib/policy/gates/types";
import type { StageListEntry } from "@/lib/server/stages/list-stages";
import { api } from "../api";
import { splitList } from "./format";
import { GroupsSection, type GroupView } from "./group-admin";
import { StagePolicyDownload } from "./stage-policy-download";

// lib/policy/gates/types holds no runtime zod and no node: builtins (lib/policy/gates/browser-safe.test.ts checks).
const SEVERITIES: readonly GateSeverity[] = GATE_SEVERITIES;
const input = "w-full rounded border border-slate-300 px-2 py-1.5 text-sm";

/** A stage as the server lists it (lib/server/stages/list-stages.ts), the fields this page shows. */
export type StageView = Pick<
  StageListEntry,
  "name" | "position" | "requiredApprovals" | "reviewerGroups" | "waiverGroup" | "gates" | "gatesError" | "emitBundle" | "approvalTtlDays" | "key"
>;

/** The configured gates in plain words, in the order they are judged. */
export function describeGates(g: GateConfig): string[] {
  const out: string[] = [];
  if (g.findings) {
    const limits = SEVERITIES.filter((s) => g.findings!.max[s] !== undefined).map((s) => `${s} ≤ ${g.findings!.max[s]}`);
    out.push(`findings ${limits.join(", ") || "(no limits)"}, counting ${g.findings.count === "fixable" ? "only findings with a fix" : "all findings"}`);
  }
  if (g.sbom) out.push("an SBOM is present");
  if (g.provenance) {
    const b = g.provenance.builderIds.length ? `builder ${g.provenance.builderIds.join(" or ")}` : "any builder";
    const s = g.provenance.sourceRepos.length ? `source ${g.provenance.sourceRepos.join(" or ")}` : "any source";
    out.push(`provenance present (${b}, ${s})`);
  }
  if (g.signedEvidence) out.push("evidence signed by a trusted key");
  if (g.previousStage) out.push("the previous stage's signature is present and valid");
  if (g.basePublisher) out.push("the base image's publisher signature verifies");
  if (g.maxScanAgeHours !== undefined) out.push(`newest scan at most ${g.maxScanAgeHours} h old`);
  return out;
}

/** The edit form's initial state: the stage's current settings, numbers as strings for the inputs. */
function initialStageForm(stage: StageView) {
  // Unreadable gates start the form empty: saving sets them again from what the admin ticks.
  const g: GateConfig = stage.gates ?? {};
  return {
    requiredApprovals: String(stage.requiredApprovals),
    reviewerGroups: stage.reviewerGroups,
    waiverGroup: stage.waiverGroup ?? "",
    findings: !!g.findings,
    max: Object.fromEntries(SEVERITIES.map((s) => [s, g.findings?.max[s] !== undefined ? String(g.findings.max[s]) : ""])) as Record<GateSeverity, string>,
    count: g.findings?.count ?? "fixable",
    sbom: !!g.sbom,
    provenance: !!g.provenance,
    builderIds: g.provenance?.builderIds.join(", ") ?? "",
    sourceRepos: g.provenance?.sourceRepos.join(", ") ?? "",
    signedEvidence: !!g.signedEvidence,
    previousStage: !!g.previousStage,
    basePublisher: !!g.basePublisher,
    maxScanAgeHours: g.maxScanAgeHours !== undefined ? String(g.maxScanAgeHours) : "",
    emitBundle: stage.emitBundle,
    approvalTtlDays: stage.approvalTtlDays !== null ? String(stage.approvalTtlDays) : "",
  };
}

type StageFormState = ReturnType<typeof initialStageForm>;

/** The PUT /api/v1/stages/{name} body for the form's state (empty limits left out). */
function stageRequestBody(f: StageFormState) {
  const gates: Record<string, unknown> = {};
  if (f.findings) {
    const max: Record<string, number> = {};
    for (const s of SEVERITIES) if (f.max[s].trim() !== "") max[s] = Number(f.max[s]);
    gates.findings = { max, count: f.count };
  }
  if (f.sbom) gates.sbom = true;
  if (f.provenance) gates.provenance = { builderIds: splitList(f.builderIds), sourceRepos: splitList(f.sourceRepos) };
  if (f.signedEvidence) gates.signedEvidence = true;
  if (f.previousStage) gates.previousStage = true;
  if (f.basePublisher) gates.basePublisher = true;
  if (f.maxScanAgeHours.trim() !== "") gates.maxScanAgeHours = Number(f.maxScanAgeHours);
  const body = {
    requiredApprovals: Number(f.requiredApprovals),
    reviewerGroups: f.reviewerGroups,
    waiverGroup: f.waiverGroup || null,
    gates,
    emitBundle: f.emitBundle,
    approvalTtlDays: f.approvalTtlDays.trim() === "" ? null : Number(f.approvalTtlDays),
  };
  return body;
}

type CheckKey = "findings" | "sbom" | "provenance" | "signedEvidence" | "previousStage" | "basePublisher" | "emitBundle";
type FormProps = { f: StageFormState; setF: (f: StageFormState) => void };

/** One on/off setting of the stage form. */
function CheckField({ f, setF, k, label }: FormProps & { k: CheckKey; label: string }) {
  return (
    <label className="flex items-center gap-2 text-sm">
      <input type="checkbox" name={k} checked={f[k]} onChange={(e) => setF({ ...f, [k]: e.target.checked })} />
      {label}
    </label>
  );
}

/** Who reviews: the number of approvals, the reviewer groups and the waiver group. */
function StageReviewerFields({ f, setF, groups }: FormProps & { groups: GroupView[] }) {
  return (
    <div className="grid gap-3 sm:grid-cols-3">
      <label className="text-sm">
        <span className="block text-slate-600">Required approvals (N distinct)</span>
        <input
          type="number"
          name="requiredApprovals"
          value={f.requiredApprovals}
          onChange={(e) => setF({ ...f, requiredApprovals: e.target.value })}
          className={input}
        />
      </label>
      <fieldset className="text-sm">
        <legend className="text-slate-600">Reviewer groups (none: any reviewer)</legend>
        <div className="mt-1 flex flex-wrap gap-x-3 gap-y-1">
          {groups.map((gr) => (
            <label key={gr.name} className="flex items-center gap-1">
              <input
                type="checkbox"
                name="reviewerGroups"
                value={gr.name}
                checked={f.reviewerGroups.includes(gr.name)}
                onChange={(e) =>
                  setF({ ...f, reviewerGroups: e.target.checked ? [...f.reviewerGroups, gr.name] : f.reviewerGroups.filter((x) => x !== gr.name) })
                }
              />
              <span className="font-mono text-xs">{gr.name}</span>
            </label>
          ))}
        </div>
      </fieldset>
      <label className="text-sm">
        <span className="block text-slate-600">Waiver group</span>
        <select name="waiverGroup" value={f.waiverGroup} onChange={(e) => setF({ ...f, waiverGroup: e.target.value })} className={input}>
          <option value="">none (no waivers)</option>
          {groups.map((gr) => (
            <option key={gr.name} value={gr.name}>
              {gr.name}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

/** The per-severity limits of the findings gate, and what it counts. */
function FindingsLimits({ f, setF }: FormProps) {
  return (
    <div className="ml-6 grid gap-2 sm:grid-cols-5">
      {SEVERITIES.map((s) => (
        <label key={s} className="text-xs">
          <span className="block text-slate-600">max {s} (empty: no limit)</span>
          <input type="number" name={`max-${s}`} value={f.max[s]} onChange={(e) => setF({ ...f, max: { ...f.max, [s]: e.target.value } })} className={input} />
        </label>
      ))}
      <label className="text-xs">
        <span className="block text-slate-600">count</span>
        <select name="count" value={f.count} onChange={(e) => setF({ ...f, count: e.target.value as "fixable" | "all" })} className={input}>
          <option value="fixable">only with a fix</option>
          <option value="all">all findings</option>
        </select>
      </label>
    </div>
  );
}

/** The builder and source patterns of the provenance gate. */
function ProvenancePatterns({ f, setF }: FormProps) {
  return (
    <div className="ml-6 grid gap-2 sm:grid-cols-2">
      <label className="text-xs">
        <span className="block text-slate-600">Builder id patterns, comma-separated (empty: any; * within a segment, ** across)</span>
        <input
          name="builderIds"
          value={f.builderIds}
          onChange={(e) => setF({ ...f, builderIds: e.target.value })}
          className={`${input} font-mono`}
          placeholder="https://github.com/actions/runner/**"
        />
      </label>
      <label className="text-xs">
        <span className="block text-slate-600">Source repository patterns, comma-separated</span>
        <input
          name="sourceRepos"
          value={f.sourceRepos}
          onChange={(e) => setF({ ...f, sourceRepos: e.target.value })}
          className={`${input} font-mono`}
          placeholder="git+https://git.example.com/apps/*"
        />
      </label>
    </div>
  );
}

/** The gates, in the order they are judged. */
function StageGatesFieldset({ f, setF }: FormProps) {
  return (
    <fieldset className="space-y-2 rounded border border-slate-200 p-3">
      <legend className="px-1 text-sm font-medium">Gates</legend>
      <CheckField f={f} setF={setF} k="findings" label="Limit vulnerability findings" />
      {f.findings && <FindingsLimits f={f} setF={setF} />}
      <CheckField f={f} setF={setF} k="sbom" label="An SBOM is required" />
      <CheckField f={f} setF={setF} k="provenance" label="Provenance is required" />
      {f.provenance && <ProvenancePatterns f={f} setF={setF} />}
      <CheckField f={f} setF={setF} k="signedEvidence" label="Evidence must be signed by a trusted key" />
      <CheckField f={f} setF={setF} k="previousStage" label="The previous stage's signature must be present and valid" />
      <CheckField f={f} setF={setF} k="basePublisher" label="The base image's publisher signature must verify" />
      <label className="flex items-center gap-2 text-sm">
        <span>Newest scan at most</span>
        <input
          type="number"
          name="maxScanAgeHours"
          value={f.maxScanAgeHours}
          onChange={(e) => setF({ ...f, maxScanAgeHours: e.target.value })}
          className="w-24 rounded border border-slate-300 px-2 py-1 text-sm"
        />
        <span>hours old (empty: no limit)</span>
      </label>
    </fieldset>
  );
}

/** An admin's edit form for one stage: reviewers, gates, bundle and approval lifetime. */
function StageForm({ stage, groups, onDone }: { stage: StageView; groups: GroupView[]; onDone: () => void }) {
  const router = useRouter();
  const [f, setF] = useState(() => initialStageForm(stage));
  const save = useMutation({
    mutationFn: () => {
      const body = stageRequestBody(f);
      return api(`/api/v1/stages/${encodeURIComponent(stage.name)}`, { method: "PUT", body: JSON.stringify(body) });
    },
    onSuccess: () => {
      onDone();
      router.refresh();
    },
  });
  return (
    <form
      className="mt-3 space-y-4 border-t border-slate-100 pt-3"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
      data-testid="stage-form"
    >
      <StageReviewerFields f={f} setF={setF} groups={groups} />

      <StageGatesFieldset f={f} setF={setF} />
      <CheckField f={f} setF={setF} k="emitBundle" label="Also push a Sigstore bundle with each stage signature" />
      <label className="flex items-center gap-2 text-sm">
        <span>Approvals expire after</span>
        <input
          type="number"
          name="approvalTtlDays"
          value={f.approvalTtlDays}
          onChange={(e) => setF({ ...f, approvalTtlDays: e.target.value })}
          className="w-24 rounded border border-slate-300 px-2 py-1 text-sm"
        />
        <span>days (empty: never; counted from the signature&apos;s trusted time; renewing is a new request)</span>
      </label>

      {save.error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
          {save.error.message}
        </p>
      )}
      <div className="flex gap-2">
        <button type="submit" disabled={save.isPending} className="rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-60">
          {save.isPending ? "Saving…" : "Save stage"}
        </button>
        <button type="button" onClick={onDone} className="rounded border border-slate-300 px-3 py-1.5 text-sm">
          Cancel
        </button>
      </div>
    </form>
  );
}

function StageCard({ stage, groups, isAdmin }: { stage: StageView; groups: GroupView[]; isAdmin: boolean }) {
  const [editing, setEditing] = useState(false);
  const gates = stage.gates ? describeGates(stage.gates) : null;
  return (
    <li className="rounded-lg border border-slate-200 bg-white p-4" data-testid="stage-card" data-name={stage.name}>
      <div className="flex flex-wrap items-center gap-3">
        <span className="rounded bg-slate-100 px-1.5 text-xs text-slate-500">{stage.position}</span>
        <h3 className="font-semibold">{stage.name}</h3>
        <span className="text-sm text-slate-600" data-testid="stage-approvals">
          {stage.requiredApprovals} approval{stage.requiredApprovals === 1 ? "" : "s"} from{" "}
          {stage.reviewerGroups.length ? `group ${stage.reviewerGroups.join(" or ")}` : "any reviewer"}
        </span>
        <span className="text-xs text-slate-500">waivers: {stage.waiverGroup ? `group ${stage.waiverGroup}` : "none"}</span>
        {isAdmin && !editing && (
          <button type="button" onClick={() => setEditing(true)} className="ml-auto rounded border border-slate-300 px-2 py-1 text-sm hover:bg-slate-100">
            Edit
          </button>
        )}
      </div>
      {gates ? (
        <ul className="mt-2 list-disc pl-5 text-sm text-slate-700" data-testid="stage-gates">
          {gates.length === 0 ? <li className="list-none text-slate-500">No gates.</li> : gates.map((d) => <li key={d}>{d}</li>)}
        </ul>
      ) : (
        <p role="alert" className="mt-2 rounded bg-rose-50 px-3 py-2 text-sm text-rose-700" data-testid="stage-gates-unreadable">
          The stored gates of this stage are unreadable, so every approval at it is refused until an admin sets them again (Edit). {stage.gatesError}
        </p>
      )}
      <p className="mt-1 text-xs text-slate-500">
        key{" "}
        {stage.key ? (
          <span className="font-mono">
            {stage.key.name} · {stage.key.fingerprint}
          </span>
        ) : (
          "none"
        )}
        {stage.emitBundle ? " · also pushes a Sigstore bundle" : ""}
        {stage.approvalTtlDays ? ` · approvals expire after ${stage.approvalTtlDays} day${stage.approvalTtlDays === 1 ? "" : "s"}` : ""}
      </p>
      <StagePolicyDownload stage={stage.name} />
      {editing && <StageForm stage={stage} groups={groups} onDone={() => setEditing(false)} />}
    </li>
  );
}

/** Stages in order with their reviewers, waivers and gates, and the groups; admins edit both. */
export function StagesAdmin({ stages, groups, isAdmin }: { stages: StageView[]; groups: GroupView[]; isAdmin: boolean }) {
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Stages</h1>
        <p className="text-sm text-slate-500">
          An image moves through these stages in order. Each stage needs N distinct approvals from its reviewer groups, and its gates must hold (or be waived)
          when the last approval arrives; then the server signs the digest with the stage key.
          {!isAdmin && " Only admins change them."}
        </p>
      </div>
      <ol className="space-y-3">
        {stages.map((s) => (
          <StageCard key={s.name} stage={s} groups={groups} isAdmin={isAdmin} />
        ))}
      </ol>
      <GroupsSection groups={groups} isAdmin={isAdmin} />
    </div>
  );
}
