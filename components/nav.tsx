import Link from "next/link";
import type { Actor } from "@/lib/server/actor";
import { listRequests } from "@/lib/server/promotions/list-requests";
import { RoleBadge } from "./badges";
import { SignOutButton } from "./sign-out-button";

export async function Nav({ actor }: { actor: Actor & { kind: "user" } }) {
  const reviewer = actor.role === "reviewer" || actor.role === "admin";
  // The inbox count: open requests awaiting this reviewer (the same list as /requests?view=inbox).
  const inbox = reviewer ? (await listRequests({ actor, view: "inbox" })).length : 0;
  const links: { href: string; label: string; count?: number }[] = [
    { href: "/images", label: "Images" },
    reviewer ? { href: "/requests", label: "Inbox", count: inbox } : { href: "/requests?view=mine", label: "Requests" },
    { href: "/my", label: "My images" },
    { href: "/search", label: "Fleet search" },
    { href: "/advisories", label: "Advisories" },
    { href: "/stages", label: "Stages" },
    { href: "/waivers", label: "Waivers" },
    { href: "/registries", label: "Registries" },
    { href: "/keys", label: "Keys" },
    ...(actor.role === "admin" || actor.role === "manager"
      ? [
          { href: "/audit", label: "Audit" },
          { href: "/reports", label: "Reports" },
        ]
      : []),
    { href: "/tokens", label: "Tokens" },
    { href: "/api-docs", label: "API" },
    ...(actor.role === "admin" ? [{ href: "/users", label: "Users" }] : []),
  ];
  return (
    <header className="border-b border-slate-200 bg-white print:hidden">
      <div className="mx-auto flex max-w-7xl items-center gap-6 px-6 py-3">
        <Link href="/images" className="flex items-center gap-2 font-semibold tracking-tight">
          <img src="/icon.svg" alt="" className="h-6 w-6" />
          Imprimatur
        </Link>
        <nav className="flex flex-wrap gap-4 text-sm">
          {links.map((l) => (
            <Link key={l.href} href={l.href} className="inline-flex items-center gap-1 text-slate-600 hover:text-slate-900">
              {l.label}
              {l.count !== undefined && (
                <span
                  className={`rounded-full px-1.5 text-[11px] font-semibold ${l.count > 0 ? "bg-sky-600 text-white" : "bg-slate-100 text-slate-700"}`}
                  data-testid="inbox-count"
                  aria-label={`${l.count} awaiting your review`}
                >
                  {l.count}
                </span>
              )}
            </Link>
          ))}
        </nav>
        <div className="ml-auto flex items-center gap-3 text-sm text-slate-600">
          <span data-testid="whoami">{actor.email}</span>
          <RoleBadge role={actor.role} />
          <SignOutButton />
        </div>
      </div>
    </header>
  );
}
