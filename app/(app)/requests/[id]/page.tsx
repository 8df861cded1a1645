import { redirect } from "next/navigation";
import { z } from "zod";
import { getActor } from "@/lib/auth";
import { isAppError } from "@/lib/errors";
import { getRequest, type RequestRecord } from "@/lib/server/promotions/get-request";
import { RequestRecordView } from "@/components/promotion/request-record";

export const dynamic = "force-dynamic";

export default async function RequestPage({ params }: { params: Promise<{ id: string }> }) {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  const { id } = await params;
  let record: RequestRecord | null = null;
  let error: string | null = null;
  if (!z.uuid().safeParse(id).success) error = "no such promotion request";
  else {
    try {
      record = await getRequest({ actor, requestId: id });
    } catch (e) {
      if (!isAppError(e)) throw e;
      error = e.message;
    }
  }
  if (!record) {
    return (
      <div className="rounded-lg border border-rose-200 bg-rose-50 p-6 text-rose-800" role="alert">
        <h1 className="font-semibold">Promotion request not found</h1>
        <p className="mt-1 text-sm">{error}</p>
      </div>
    );
  }
  return <RequestRecordView record={record} />;
}
