/**
 * A request's time budget: an AbortController aborted by a plain timer. It replaces `AbortSignal.timeout`, which
 * in Node 20 ties every timer to the signal through a WeakRef and a FinalizationRegistry entry; at thousands of
 * requests a second that bookkeeping showed in sync profiles. The budget covers the body as well as the headers,
 * so the timer runs until the body is read: `release` (called by readCapped once the body is consumed, and at
 * once for a response without a body) clears it early. A deadline nobody releases fires later on a finished
 * exchange, which aborts nothing (as `AbortSignal.timeout` did); its timer is unref'd so it keeps no process alive.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(readonly ms: number) {
    const controller = this.controller;
    this.timer = setTimeout(() => controller.abort(new DOMException(`The operation was aborted due to timeout`, "TimeoutError")), ms);
    this.timer.unref?.();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  release(): void {
    clearTimeout(this.timer);
  }
}

const pending = new WeakMap<object, Deadline>();

/** Ties a deadline to the response whose body it still covers. */
export function holdDeadline(res: object, deadline: Deadline): void {
  pending.set(res, deadline);
}

/** The response's body is consumed (or given up): its deadline has nothing left to cover. */
export function releaseDeadline(res: object): void {
  const d = pending.get(res);
  if (!d) return;
  pending.delete(res);
  d.release();
}
