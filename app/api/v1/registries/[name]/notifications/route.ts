import { NextResponse, type NextRequest } from "next/server";
import { AppError, isAppError } from "@/lib/errors";
import { clientAddress } from "@/lib/server/auth/client-address";
import { readBodyCapped } from "@/lib/server/http/read-body";
import { readCleanParams } from "@/lib/server/http/hostile-input";
import { handleNotification } from "@/lib/server/registries/handle-notification";

export const dynamic = "force-dynamic";

// Registry webhooks authenticate with the registry's own token, not a user session, so this route does not
// use apiHandler (and no browser cookie can act here: the token is a header a cross-site page cannot set).
// The token is checked before the body is read; the body is capped while streaming; errors use the same shape.
export async function POST(req: NextRequest, ctx: { params: Promise<{ name: string }> }) {
  try {
    const { name } = await readCleanParams(ctx.params, req.nextUrl.searchParams);
    const readJson = async (): Promise<unknown> => {
      const text = (await readBodyCapped(req, 4 * 1024 * 1024)).toString("utf8");
      try {
        return JSON.parse(text);
      } catch {
        throw new AppError("BAD_REQUEST", "body is not valid JSON");
      }
    };
    const r = await handleNotification({ registryName: name, authorization: req.headers.get("authorization"), body: readJson, source: clientAddress(req.headers) });
    return NextResponse.json(r, { status: 202 });
  } catch (e) {
    if (isAppError(e)) return NextResponse.json(e.toJSON(), { status: e.status });
    console.error("[notifications]", e);
    return NextResponse.json(new AppError("INTERNAL", "internal error").toJSON(), { status: 500 });
  }
}
