import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { getActor } from "@/lib/auth";
import { Nav } from "@/components/nav";

export const dynamic = "force-dynamic";

export default async function AppLayout({ children }: { children: ReactNode }) {
  const actor = await getActor();
  // The proxy already requires a session cookie; this also catches users deleted or disabled since.
  if (!actor || actor.kind !== "user") redirect("/signin");
  return (
    <>
      <Nav actor={actor} />
      <main className="mx-auto max-w-7xl px-6 py-6">{children}</main>
    </>
  );
}
