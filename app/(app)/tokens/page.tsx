import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { env } from "@/lib/env";
import { ROLE_SCOPES } from "@/lib/server/auth/token-scope";
import { listTokens } from "@/lib/server/tokens/list-tokens";
import { ownTemporaryPassword } from "@/lib/server/users/password-standing";
import { ChangePasswordForm, CreateTokenForm, RevokeTokenButton } from "@/components/identity-admin";

export const dynamic = "force-dynamic";

const utc = (d: Date | null) => (d ? `${d.toISOString().slice(0, 16).replace("T", " ")} UTC` : "never");

export default async function TokensPage() {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  const tokens = await listTokens({ actor });
  // A temporary password (set by an admin) is changed here: this is the page for one's own credentials.
  const temporaryFrom = actor.via === "session" ? await ownTemporaryPassword(actor) : null;
  const e = env();
  const now = new Date();
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">API tokens</h1>
      <p className="text-sm text-slate-600">
        A token acts for its user with at most the scopes it was given, and never more than the user&apos;s current role allows. Tokens expire (default{" "}
        {e.IMPRIMATUR_TOKEN_DEFAULT_DAYS} days, at most {e.IMPRIMATUR_TOKEN_MAX_DAYS}); disabling a user revokes theirs.
        {actor.role === "admin" ? " As an admin you see everyone's tokens." : ""}
      </p>
      <CreateTokenForm
        allowed={[...ROLE_SCOPES[actor.role]]}
        defaultDays={e.IMPRIMATUR_TOKEN_DEFAULT_DAYS}
        maxDays={e.IMPRIMATUR_TOKEN_MAX_DAYS}
        forOthers={actor.role === "admin"}
      />
      {actor.via === "session" && <ChangePasswordForm temporaryFrom={temporaryFrom} />}
      <table className="w-full text-sm" data-testid="tokens">
        <thead className="text-left text-xs text-slate-500">
          <tr>
            <th className="py-1">Prefix</th>
            <th>Name</th>
            <th>User</th>
            <th>Scopes</th>
            <th>Expires</th>
            <th>Last used</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {tokens.map((t) => {
            const state = t.revokedAt ? "revoked" : t.expiresAt && t.expiresAt <= now ? "expired" : "active";
            return (
              <tr key={t.id} className="border-t border-slate-100" data-testid="token-row">
                <td className="py-1 font-mono text-xs">{t.prefix}…</td>
                <td>{t.name}</td>
                <td>{t.email}</td>
                <td className="text-xs">{t.scopes.join(", ")}</td>
                <td className="text-xs">{utc(t.expiresAt)}</td>
                <td className="text-xs">{utc(t.lastUsedAt)}</td>
                <td className={state === "active" ? "text-emerald-700" : "text-slate-500"}>{state}</td>
                <td>{state === "active" && <RevokeTokenButton id={t.id} />}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
