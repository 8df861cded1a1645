import { NextResponse } from "next/server";
import { AppError } from "@/lib/errors";
import { clientAddress } from "@/lib/server/auth/client-address";
import { apiHandler } from "@/lib/server/http/api-handler";
import { readBodyCapped } from "@/lib/server/http/read-body";
import { handleNotification } from "@/lib/server/registries/handle-notification";

export const dynamic = "force-dynamic";

// Registry webhooks authenticate with the registry's own token, not a user session or API token: apiHandler runs with
// `public` (no user authentication) and handleNotification checks the token before the body is read. No browser
// cookie can act here: the token is a header a cross-site page cannot set. The body is capped while streaming.
export const POST = apiHandler<{ name: string }>(
  async ({ req, params }) => {
    const readJson = async (): Promise<unknown> => {
      const text = (await readBodyCapped(req, 4 * 1024 * 1024)).toString("utf8");
      try {
        return JSON.parse(text);
      } catch {
        throw new AppError("BAD_REQUEST", "body is not valid JSON");
      }
    };
    const r = await handleNotification({
      registryName: params.name,
      authorization: req.headers.get("authorization"),
      body: readJson,
      source: clientAddress(req.headers),
    });
    return NextResponse.json(r, { status: 202, headers: { "cache-control": "no-store" } });
  },
  { public: true },
);
