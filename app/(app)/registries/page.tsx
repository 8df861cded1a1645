import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { RegistriesAdmin } from "@/components/registries-admin";
import { ensureDefaultRegistry } from "@/lib/server/registries/resolve-registry";

export const dynamic = "force-dynamic";

export default async function RegistriesPage() {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  await ensureDefaultRegistry();
  return <RegistriesAdmin isAdmin={actor.role === "admin"} />;
}
