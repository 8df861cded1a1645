// A controllable clock for building the demo's history: `new Date()` and `Date.now()` read real time plus an offset
// that only ever grows, so the history the demo seed writes through the product's actions (audit events with their
// hash chain, requests, reviews, signatures) carries times spread over past weeks, in order, and the audit chain is
// built as it would have been then — nothing is edited afterwards. Only the seed process installs it; the server never.
const RealDate = Date;
let offset = 0;
let installed = false;

class SimDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...(args as [string | number | Date]));
  }
  static now(): number {
    return RealDate.now() + offset;
  }
  // Dates made before the clock was installed (and by code holding the real Date) are still Dates.
  static [Symbol.hasInstance](v: unknown): boolean {
    return v instanceof RealDate;
  }
}

/** Installs the clock at `start` (in the past). Idempotent: a second call only moves the clock forward. */
export function installSimClock(start: Date): void {
  if (!installed) {
    globalThis.Date = SimDate as DateConstructor;
    installed = true;
    offset = Math.min(start.getTime() - RealDate.now(), 0);
    return;
  }
  advanceSimClock(start);
}

/** Moves the simulated time forward to `t`; never backward (the audit chain's times stay in order), never past real time. */
export function advanceSimClock(t: Date | number): void {
  const target = Math.min(typeof t === "number" ? t : t.getTime(), RealDate.now());
  offset = Math.max(offset, target - RealDate.now());
}

/** Back to real time (the offset is dropped; the real Date is restored). */
export function uninstallSimClock(): void {
  offset = 0;
  if (installed) globalThis.Date = RealDate;
  installed = false;
}

export function realNow(): number {
  return RealDate.now();
}
