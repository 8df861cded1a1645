/**
 * The verifier step runner. A verifier is a list of named steps over a shared state; each step returns the checks it
 * judged, `{ check, passed, detail }`, in the order the UI shows them. The runner stops at the first failed check and
 * words the verdict the same way for every format ("invalid: <check> failed: <detail>").
 */
import { failAt, type CheckResult, type Verdict } from "./verification";

/** A failed check carries the verdict it leads to: "invalid" (broken or about something else) or "unverified". */
export type StepResult = (CheckResult & { passed: true | null }) | (CheckResult & { passed: false; verdict: Exclude<Verdict, "verified"> });

export interface VerifierStep<S> {
  /** What the step does, for reading the list; the checks it reports carry the names the UI shows. */
  name: string;
  run(state: S): StepResult | readonly StepResult[];
}

export const pass = (check: string, detail: string): StepResult => ({ check, passed: true, detail });
/** Not run: it does not apply, or nothing was given to check (the detail says which). */
export const skip = (check: string, detail: string): StepResult => ({ check, passed: null, detail });
export const fail = (verdict: Exclude<Verdict, "verified">, check: string, detail: string): StepResult => ({ check, passed: false, detail, verdict });

export type StepsOutcome = { verdict: "verified"; checks: CheckResult[] } | { verdict: Exclude<Verdict, "verified">; detail: string; checks: CheckResult[] };

/** Runs the steps in order; the first failed check ends the run. */
export function runSteps<S>(steps: readonly VerifierStep<S>[], state: S): StepsOutcome {
  const checks: CheckResult[] = [];
  for (const step of steps) {
    const out = step.run(state);
    for (const r of Array.isArray(out) ? (out as readonly StepResult[]) : [out as StepResult]) {
      if (r.passed === false) return { verdict: r.verdict, detail: failAt(checks, r.verdict, r.check, r.detail).detail, checks };
      checks.push({ check: r.check, passed: r.passed, detail: r.detail });
    }
  }
  return { verdict: "verified", checks };
}

/** Appends the checks of `order` that were not reached, so the UI always shows the whole pipeline. */
export function completeChecks(checks: CheckResult[], order: readonly string[]): CheckResult[] {
  const seen = new Set(checks.map((c) => c.check));
  for (const name of order) if (!seen.has(name)) checks.push({ check: name, passed: null, detail: "not run: an earlier check failed" });
  return checks;
}
