import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { listKeys } from "@/lib/server/keys/list-keys";

export const dynamic = "force-dynamic";

export default async function KeysPage() {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  const { signingKeys, trustedKeys } = await listKeys({ actor });
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Keys</h1>
      <section>
        <h2 className="mb-2 text-lg font-semibold">Stage signing keys</h2>
        <p className="mb-2 text-xs text-slate-500">Generated on the server; private keys are encrypted at rest and never leave it. Verify a stage signature with the public key below and <span className="font-mono">cosign verify --key</span>.</p>
        <div className="space-y-3">
          {signingKeys.map((k) => (
            <div key={k.id} className="rounded-lg border border-slate-200 bg-white p-4 text-sm" data-testid="signing-key">
              <div className="flex flex-wrap gap-3">
                <span className="font-medium">{k.name}</span>
                <span className="text-slate-500">stage {k.stage ?? "–"}</span>
                <span className="text-slate-500">{k.algorithm}</span>
                <span className={k.status === "valid" ? "text-emerald-700" : "text-rose-700"}>{k.status}</span>
                <span className="font-mono text-xs text-slate-500">{k.fingerprint}</span>
              </div>
              <pre className="mt-2 overflow-x-auto rounded bg-slate-50 p-2 text-xs">{k.publicKeyPem}</pre>
            </div>
          ))}
        </div>
      </section>
      <section>
        <h2 className="mb-2 text-lg font-semibold">Trusted outside keys</h2>
        {trustedKeys.length === 0 && <p className="text-sm text-slate-500">None. Add one with <span className="font-mono">npx imprimatur trust add --name N --pem-file F</span>.</p>}
        <div className="space-y-3">
          {trustedKeys.map((k) => (
            <div key={k.id} className="rounded-lg border border-slate-200 bg-white p-4 text-sm">
              <div className="flex gap-3"><span className="font-medium">{k.name}</span><span className="font-mono text-xs text-slate-500">{k.fingerprint}</span></div>
              <pre className="mt-2 overflow-x-auto rounded bg-slate-50 p-2 text-xs">{k.publicKeyPem}</pre>
            </div>
          ))}
        </div>
      </section>
    </div>
  );
}
