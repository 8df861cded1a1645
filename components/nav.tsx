import Link from "next/link";
import type { Actor } from "@/lib/server/actor";
import { RoleBadge } from "./badges";
import { SignOutButton } from "./sign-out-button";

export function Nav({ actor }: { actor: Actor & { kind: "user" } }) {
  const links = [
    { href: "/images", label: "Images" },
    { href: "/search", label: "Fleet search" },
    { href: "/registries", label: "Registries" },
    { href: "/keys", label: "Keys" },
    ...(actor.role === "admin" || actor.role === "manager" ? [{ href: "/audit", label: "Audit" }] : []),
  ];
  return (
    <header className="border-b border-slate-200 bg-white">
      <div className="mx-auto flex max-w-7xl items-center gap-6 px-6 py-3">
        <Link href="/images" className="flex items-center gap-2 font-semibold tracking-tight">
          <img src="/icon.svg" alt="" className="h-6 w-6" />
          Imprimatur
        </Link>
        <nav className="flex gap-4 text-sm">
          {links.map((l) => (
            <Link key={l.href} href={l.href} className="text-slate-600 hover:text-slate-900">
              {l.label}
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
