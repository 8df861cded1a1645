import { NextResponse, type NextRequest } from "next/server";
import { AppError, isAppError } from "@/lib/errors";
import { readCleanParams } from "@/lib/server/http/hostile-input";
import { handleNotification } from "@/lib/server/registries/handle-notification";

export const dynamic = "force-dynamic";

// Registry webhooks authenticate with the registry's own token, not a user session, so this route does not
// use apiHandler. Bodies are capped; errors use the same shape.
export async function POST(req: NextRequest, ctx: { params: Promise<{ name: string }> }) {
  try {
    const { name } = await readCleanParams(ctx.params, req.nextUrl.searchParams);
    const text = await req.text();
    if (text.length > 4 * 1024 * 1024) throw new AppError("BAD_REQUEST", "notification body over 4 MiB");
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new AppError("BAD_REQUEST", "body is not valid JSON");
    }
    const r = await handleNotification({ registryName: name, authorization: req.headers.get("authorization"), body });
    return NextResponse.json(r, { status: 202 });
  } catch (e) {
    if (isAppError(e)) return NextResponse.json(e.toJSON(), { status: e.status });
    console.error("[notifications]", e);
    return NextResponse.json(new AppError("INTERNAL", "internal error").toJSON(), { status: 500 });
  }
}
