import { apiHandler } from "@/lib/server/http/api-handler";
import { listUsers } from "@/lib/server/users/list-users";

export const dynamic = "force-dynamic";

/** GET /api/v1/users: every user with role, disabled flag, sign-in method and last sign-in (admins). */
export const GET = apiHandler(async ({ actor }) => ({ users: await listUsers({ actor }) }), { roles: ["admin"], what: "listing users" });
