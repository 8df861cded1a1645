import { AppError } from "@/lib/errors";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { updateUser, updateUserInput } from "@/lib/server/users/update-user";

export const dynamic = "force-dynamic";

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new AppError("INVALID_INPUT", "email: not a valid URL-encoded address", "email");
  }
}

// Passwords are changed with the CLI (`imprimatur user password`), not over the API.
const body = updateUserInput.pick({ role: true, disabled: true }).strict();

/** PATCH /api/v1/users/{email} with {role?, disabled?}: disabling ends the user's sessions and revokes their tokens. */
export const PATCH = apiHandler<{ email: string }>(
  async ({ req, actor, params }) => {
    const b = await parseBody(req, body);
    const { user, revokedTokens } = await updateUser({ actor, email: safeDecode(params.email), ...b });
    return { user, revokedTokens };
  },
  { roles: ["admin"], what: "managing users" },
);
