import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { hasRole } from "@/lib/server/actor";
import { listUsers } from "@/lib/server/users/list-users";
import { UserActions } from "@/components/identity-admin";

export const dynamic = "force-dynamic";

export default async function UsersPage() {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  if (!hasRole(actor, ["admin"])) {
    return <p className="text-sm text-slate-600">Managing users needs the admin role; you are {actor.role}.</p>;
  }
  const users = await listUsers({ actor });
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Users</h1>
      <p className="text-sm text-slate-600">
        Disabling a user ends their sessions at their next request and revokes their API tokens. Users are never deleted: the audit trail names them. Users who
        sign in with OpenID Connect get their role and groups from the provider again at every sign-in.
      </p>
      <table className="w-full text-sm" data-testid="users">
        <thead className="text-left text-xs text-slate-500">
          <tr>
            <th className="py-1">Email</th>
            <th>Name</th>
            <th>Sign-in</th>
            <th>Groups</th>
            <th>Active tokens</th>
            <th>Last sign-in</th>
            <th>Role / state</th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.id} className={`border-t border-slate-100 ${u.disabled ? "text-slate-500" : ""}`} data-testid="user-row">
              <td className="py-1">
                {u.email}
                {u.disabled ? " (disabled)" : ""}
              </td>
              <td>{u.name}</td>
              <td className="text-xs">{u.signIn}</td>
              <td className="text-xs">{u.groups.join(", ") || "–"}</td>
              <td className="text-xs">{u.activeTokens}</td>
              <td className="text-xs">{u.lastSignInAt ? `${u.lastSignInAt.toISOString().slice(0, 16).replace("T", " ")} UTC` : "–"}</td>
              <td>
                <UserActions email={u.email} role={u.role} disabled={u.disabled} oidc={u.signIn === "oidc"} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
