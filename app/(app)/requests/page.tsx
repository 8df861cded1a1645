import Link from "next/link";
import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { listRequests, type RequestView } from "@/lib/server/promotions/list-requests";
import { RequestsTable } from "@/components/promotion/requests-table";

export const dynamic = "force-dynamic";

const TABS: [RequestView, string][] = [
  ["inbox", "Awaiting my review"],
  ["mine", "My requests"],
  ["all", "All"],
];

const EMPTY: Record<RequestView, string> = {
  inbox: "Nothing awaits your review.",
  mine: "You have not requested any promotion yet. Open an image and use “Request promotion”.",
  all: "No promotion has been requested yet.",
};

export default async function RequestsPage({ searchParams }: { searchParams: Promise<{ view?: string }> }) {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  const sp = await searchParams;
  const reviewer = actor.role === "reviewer" || actor.role === "admin";
  // Reviewers land on their inbox; everyone else on their own requests.
  const view: RequestView = TABS.some(([v]) => v === sp.view) ? (sp.view as RequestView) : reviewer ? "inbox" : "mine";
  const rows = await listRequests({ actor, view });
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Promotion requests</h1>
      <nav className="flex gap-1 border-b border-slate-200" aria-label="Request lists">
        {TABS.map(([v, label]) => (
          <Link
            key={v}
            href={`/requests?view=${v}`}
            className={`-mb-px border-b-2 px-3 py-2 text-sm ${view === v ? "border-slate-900 font-semibold" : "border-transparent text-slate-500 hover:text-slate-800"}`}
            aria-current={view === v ? "page" : undefined}
          >
            {label}
          </Link>
        ))}
      </nav>
      {view === "inbox" && !reviewer && <p className="text-sm text-slate-500">Reviewing needs role reviewer or admin; you are {actor.role}.</p>}
      <RequestsTable rows={rows} empty={EMPTY[view]} />
    </div>
  );
}
