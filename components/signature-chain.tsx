import type { ChainSignature } from "@/lib/server/images/signature-chain";
import { VerdictBadge } from "./badges";

const utc = (iso: string) => `${new Date(iso).toLocaleString("en-GB", { timeZone: "UTC" })} UTC`;

const FORMAT: Record<string, string> = {
  cosign: "cosign .sig layer",
  "sigstore-bundle": "Sigstore bundle (referrer)",
  notation: "Notation signature (referrer)",
};

function CheckMark({ passed }: { passed: boolean | null }) {
  if (passed === true)
    return (
      <span className="text-emerald-700" aria-label="passed">
        ✓
      </span>
    );
  if (passed === false)
    return (
      <span className="text-rose-700" aria-label="failed">
        ✗
      </span>
    );
  return (
    <span className="text-slate-500" aria-label="not run">
      –
    </span>
  );
}

function Signer({ s }: { s: ChainSignature }) {
  const signer = s.signer;
  if (!signer) return <>{s.key?.fingerprint ?? "–"}</>;
  if (signer.kind === "key")
    return (
      <>
        key {signer.fingerprint} ({signer.algorithm})
      </>
    );
  const leaf = signer.leaf;
  return (
    <div className="space-y-0.5">
      <div>subject: {leaf.subject || "(empty)"}</div>
      {leaf.sans.length > 0 && <div>SAN: {leaf.sans.join(", ")}</div>}
      {leaf.oidcIssuer && <div>OIDC issuer: {leaf.oidcIssuer}</div>}
      <div className="text-slate-500">
        issuer: {leaf.issuer} · valid {leaf.notBefore} → {leaf.notAfter}
      </div>
      {signer.chain.map((c) => (
        <div key={c.fingerprint} className="text-slate-500">
          ↳ {c.subject} ({c.fingerprint.slice(0, 19)}…)
        </div>
      ))}
    </div>
  );
}

/** One signature: verdict, who vouched in which role, then every check of the pipeline with its result. */
export function SignatureCard({ s }: { s: ChainSignature }) {
  return (
    <li
      className="rounded-lg border border-slate-200 bg-white p-4"
      data-testid="signature"
      data-verdict={s.verdict}
      data-role={s.role ?? ""}
      data-format={s.format}
    >
      <div className="flex flex-wrap items-center gap-2">
        <VerdictBadge verdict={s.verdict} />
        {s.role && (
          <span className="rounded bg-indigo-50 px-1.5 py-0.5 text-xs font-medium text-indigo-800" data-testid="signature-role">
            {s.role === "stage" && s.stage ? `stage ${s.stage}` : s.role}
          </span>
        )}
        <span className="text-sm" data-testid="signature-detail">
          {s.detail}
        </span>
        {s.approval && <span className="rounded bg-slate-100 px-1.5 py-0.5 text-xs">stage {s.approval.stage} approval</span>}
      </div>
      <ol className="mt-3 space-y-0.5 text-xs" data-testid="signature-checks">
        {s.checks.map((c, i) => (
          <li
            key={`${c.check}-${i}`}
            className="grid grid-cols-[1.25rem_16rem_1fr] gap-x-2"
            data-testid="signature-check"
            data-passed={c.passed === null ? "not-run" : String(c.passed)}
          >
            <CheckMark passed={c.passed} />
            <span className={c.passed === false ? "font-medium text-rose-800" : "text-slate-700"}>{c.check}</span>
            <span className="break-all text-slate-500">{c.detail}</span>
          </li>
        ))}
      </ol>
      <dl className="mt-3 grid grid-cols-[10rem_1fr] gap-x-3 gap-y-1 text-xs">
        <dt className="text-slate-500">format</dt>
        <dd>{FORMAT[s.format] ?? s.format}</dd>
        <dt className="text-slate-500">time</dt>
        <dd data-testid="signature-time">
          {s.time?.at ? (
            <>
              <span className={s.time.kind === "trusted" ? "font-medium text-emerald-800" : "text-amber-800"}>{s.time.kind}</span> {utc(s.time.at)}{" "}
              <span className="text-slate-500">({s.time.by})</span>
            </>
          ) : (
            <span className="text-slate-500">no time stated</span>
          )}
        </dd>
        <dt className="text-slate-500">signer</dt>
        <dd className="break-all font-mono">
          <Signer s={s} />
        </dd>
        <dt className="text-slate-500">trusted by</dt>
        <dd className="break-all font-mono">{s.key ? `${s.key.name}` : s.trustedBy ? `${s.trustedBy} (not all checks passed)` : "–"}</dd>
        {s.dockerReference && (
          <>
            <dt className="text-slate-500">docker-reference</dt>
            <dd className="break-all font-mono">{s.dockerReference}</dd>
          </>
        )}
        {s.payloadDigest && (
          <>
            <dt className="text-slate-500">names digest</dt>
            <dd className="break-all font-mono">{s.payloadDigest}</dd>
          </>
        )}
        <dt className="text-slate-500">{s.artifactDigest ? "referrer" : "layer"}</dt>
        <dd className="break-all font-mono">{s.artifactDigest ?? s.layerDigest}</dd>
        {s.optional && Object.keys(s.optional).length > 0 && (
          <>
            <dt className="text-slate-500">optional</dt>
            <dd className="font-mono">
              {Object.entries(s.optional).map(([k, v]) => (
                <div key={k} className="break-all">
                  <span className="text-slate-500">{k}</span> = {typeof v === "string" ? v : JSON.stringify(v)}
                </div>
              ))}
            </dd>
          </>
        )}
      </dl>
    </li>
  );
}
