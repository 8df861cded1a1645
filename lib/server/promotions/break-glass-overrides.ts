import "server-only";
import { AppError } from "../../errors";
import type { GateResult } from "../../policy/gates";

/**
 * A gate that began to fail after the page was shown (a new advisory, say) is not overridden unseen (found by review),
 * nor a findings gate that now fails on a vulnerability the confirmation did not show (found by a later review: the
 * label alone stayed the same when a critical CVE joined two mediums). A caller that lists nothing has seen nothing.
 */
export function assertOverridesSeen(
  step: { breakGlass: boolean; expectOverrides: readonly string[] | undefined; expectFailingIds: readonly string[] | undefined },
  failing: readonly GateResult[],
) {
  if (!step.breakGlass) return;
  const seenGates = new Set(step.expectOverrides ?? []);
  const seenIds = new Set(step.expectFailingIds ?? []);
  let field = "expectFailingIds";
  const unseen = failing.flatMap((g) => {
    if (!seenGates.has(g.label)) {
      field = "expectOverrides";
      return [`${g.label}: ${g.detail}`];
    }
    const ids = (g.failingIds ?? []).filter((id) => !seenIds.has(id));
    return ids.length ? [`${g.label}: ${ids.slice(0, 10).join(", ")}${ids.length > 10 ? ` and ${ids.length - 10} more` : ""} over the limit`] : [];
  });
  if (unseen.length)
    throw new AppError(
      "CONFLICT",
      `${unseen.join("; ")}: fail${unseen.length === 1 ? "s" : ""} now, and the confirmation did not list ${unseen.length === 1 ? "it" : "them"} (expectOverrides, expectFailingIds); look at the request again`,
      field,
    );
}
