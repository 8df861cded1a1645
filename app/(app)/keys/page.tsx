import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { listStageNames } from "@/lib/server/stages/list-stage-names";
import { hasRole } from "@/lib/server/actor";
import { listKeys } from "@/lib/server/keys/list-keys";
import { RevokeStageKeyForm, StageKeyActions } from "@/components/keys-admin";
import { AddTrustIdentityForm, BuilderIds, TrustIdentityActions } from "@/components/trust-identity-admin";

export const dynamic = "force-dynamic";

const utc = (iso: string | null) => (iso ? `${new Date(iso).toLocaleString("en-GB", { timeZone: "UTC" })} UTC` : "–");

export default async function KeysPage() {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  const { signingKeys, trustIdentities } = await listKeys({ actor });
  const stages = await listStageNames({ actor });
  const admin = hasRole(actor, ["admin"]);
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">Keys and trust</h1>

      <section aria-labelledby="stage-keys-h">
        <h2 id="stage-keys-h" className="mb-2 text-lg font-semibold">
          Stage signing keys
        </h2>
        <p className="mb-3 text-xs text-slate-500">
          Software keys are generated on the server (or imported) and encrypted at rest; PKCS#11 keys are generated inside the token and never leave it. A
          rotated key is retired, not deleted: signatures made while it was current keep verifying. Verify a stage signature with
          <span className="font-mono"> cosign verify --key</span> and the key below.
        </p>
        <div className="space-y-4">
          {stages.map((st) => {
            const keys = signingKeys.filter((k) => k.stage === st.name);
            return (
              <div key={st.name} className="rounded-lg border border-slate-200 bg-white p-4" data-testid={`stage-keys-${st.name}`}>
                <div className="flex flex-wrap items-center gap-3">
                  <span className="font-medium">stage {st.name}</span>
                  <span className="text-xs text-slate-500">
                    backend {st.keyBackend}
                    {st.emitBundle ? " · also emits Sigstore bundles" : ""}
                  </span>
                  <a className="ml-auto text-xs text-sky-700 hover:underline" href={`/api/v1/keys/stages/${encodeURIComponent(st.name)}?format=pem`}>
                    Export key history (PEM)
                  </a>
                  <a className="text-xs text-sky-700 hover:underline" href={`/api/v1/keys/stages/${encodeURIComponent(st.name)}`}>
                    (JSON)
                  </a>
                </div>
                <ol className="mt-2 space-y-2">
                  {keys.map((k) => (
                    <li key={k.id} className="rounded border border-slate-100 p-2 text-sm" data-testid="signing-key">
                      <div className="flex flex-wrap gap-3">
                        <span className="font-medium">{k.name}</span>
                        <span className={k.status === "valid" ? "text-emerald-700" : k.status === "retired" ? "text-slate-500" : "text-rose-700"}>
                          {k.status}
                        </span>
                        <span className="text-slate-500">
                          {k.algorithm} · {k.backend}
                          {k.imported ? " · imported" : ""}
                          {k.pkcs11TokenLabel ? ` · token ${k.pkcs11TokenLabel}` : ""}
                        </span>
                        <span className="text-xs text-slate-500">
                          valid {utc(k.notBefore)} → {k.notAfter ? utc(k.notAfter) : "current"}
                        </span>
                        <a className="text-xs text-sky-700 hover:underline" href={`/api/v1/keys/${encodeURIComponent(k.name)}`}>
                          cosign.pub
                        </a>
                      </div>
                      <div className="font-mono text-xs text-slate-500">{k.fingerprint}</div>
                      <details className="mt-1">
                        <summary className="cursor-pointer text-xs text-slate-600">Public key</summary>
                        <pre className="mt-1 overflow-x-auto rounded bg-slate-50 p-2 text-xs">{k.publicKeyPem}</pre>
                      </details>
                    </li>
                  ))}
                  {keys.length === 0 && (
                    <li className="text-sm text-slate-500">No key: approvals of this stage cannot be signed until one is created or imported.</li>
                  )}
                </ol>
                {admin && <StageKeyActions stage={st.name} backend={st.keyBackend} />}
                {admin && <RevokeStageKeyForm stage={st.name} />}
              </div>
            );
          })}
        </div>
      </section>

      <section aria-labelledby="trust-h">
        <h2 id="trust-h" className="mb-2 text-lg font-semibold">
          Trust identities
        </h2>
        <p className="mb-3 text-xs text-slate-500">
          Who may vouch for which repositories, in which role. A revocation takes an effective time: signatures whose trusted time (a trusted TSA or Rekor log,
          or Imprimatur&apos;s own approval record) is earlier keep verifying.
        </p>
        {trustIdentities.length === 0 && (
          <p className="text-sm text-slate-500">
            None. Add one below, or with{" "}
            <span className="font-mono">npx imprimatur trust add --name N --pem-file F --role publisher --scope &apos;**&apos;</span>.
          </p>
        )}
        <div className="space-y-3">
          {trustIdentities.map((i) => (
            <div key={i.id} className="rounded-lg border border-slate-200 bg-white p-4 text-sm" data-testid="trust-identity" data-name={i.name}>
              <div className="flex flex-wrap gap-3">
                <span className="font-medium">{i.name}</span>
                <span className="rounded bg-indigo-50 px-1.5 text-xs text-indigo-800">{i.role}</span>
                <span className="text-xs text-slate-500">{i.kind}</span>
                <span className={i.status === "valid" ? "text-xs text-emerald-700" : "text-xs text-rose-700"}>{i.status}</span>
                <span className="font-mono text-xs text-slate-500">scope {i.scope.join(", ")}</span>
              </div>
              {i.fingerprint && <div className="font-mono text-xs text-slate-500">{i.fingerprint}</div>}
              {i.role === "builder" && <BuilderIds name={i.name} builderIds={i.builderIds} admin={admin} />}
              {i.anyIdentityUnderRoot && (
                <div role="note" data-testid="any-identity-badge" className="mt-1 rounded bg-amber-50 px-2 py-1 text-xs text-amber-800">
                  Any identity under this root: every certificate it issues is trusted as {i.role}
                  {i.kind === "sigstore" ? " (with the public Sigstore root, anyone with an e-mail or CI account)" : ""}.
                </div>
              )}
              {(i.subject || i.san || i.oidcIssuer) && (
                <div className="text-xs text-slate-600">
                  identity: {i.subject ? `subject ${i.subject}` : ""}
                  {i.san ? ` SAN ${i.san}` : ""}
                  {i.oidcIssuer ? ` issuer ${i.oidcIssuer}` : ""}
                </div>
              )}
              {i.sigstore && (
                <div className="text-xs text-slate-600">
                  Sigstore material: {i.sigstore.certificateAuthorities} Fulcio CA(s), {i.sigstore.tlogs} Rekor key(s), {i.sigstore.ctlogs} CT log key(s),{" "}
                  {i.sigstore.timestampAuthorities} TSA(s)
                </div>
              )}
              {i.certificates.length > 0 && <div className="text-xs text-slate-600">{i.certificates.length} certificate(s)</div>}
              <div className="text-xs text-slate-500">
                valid {utc(i.validFrom)} → {utc(i.validUntil)}
                {i.revokedAt ? ` · revoked from ${utc(i.revokedAt)}` : ""} · added by {i.createdBy ?? "–"}
              </div>
              {admin && <TrustIdentityActions name={i.name} revoked={Boolean(i.revokedAt)} />}
            </div>
          ))}
        </div>
        {admin && (
          <div className="mt-4">
            <AddTrustIdentityForm />
          </div>
        )}
      </section>
    </div>
  );
}
