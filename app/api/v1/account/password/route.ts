import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { changeOwnPassword, changeOwnPasswordInput } from "@/lib/server/users/change-own-password";

export const dynamic = "force-dynamic";

/**
 * POST /api/v1/account/password {currentPassword, newPassword}: the signed-in user sets their own password (a
 * temporary one an admin set stops being one). Ends every session, this one too: sign in again with the new password.
 */
export const POST = apiHandler(async ({ req, actor }) => {
  const b = await parseBody(req, changeOwnPasswordInput);
  return changeOwnPassword({ actor, ...b });
});
