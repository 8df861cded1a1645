import type { Dispatcher } from "undici";

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

/** The error a request's budget ends it with (in the dispatcher, where no AbortSignal is involved). */
export class DeadlineError extends Error {
  override readonly name = "TimeoutError";
  readonly code = "IMPRIMATUR_DEADLINE";
  constructor(ms: number) {
    super(`request did not finish within ${ms} ms`);
  }
}

/** Whether `e`, or an error it wraps (fetch wraps dispatcher errors as causes), is a request timeout. */
export function isTimeout(e: unknown): boolean {
  let cur: unknown = e;
  for (let i = 0; i < 6 && cur; i++) {
    const name = (cur as Error).name;
    if (cur instanceof DeadlineError || name === "TimeoutError") return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The same budget enforced in the dispatcher instead: a timer started when the request is dispatched, cleared when
 * its response body completes or it fails, that aborts the exchange (before or during the body) when it fires.
 * No AbortSignal at all, so fetch skips following one (undici ties a followed signal to each Request through a
 * WeakRef, a FinalizationRegistry entry and a listener). Handler methods are undici 6's.
 */
export function deadlineInterceptor(ms: number): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => dispatch(options, new DeadlineHandler(handler, ms));
}

type Handler = Dispatcher.DispatchHandlers;

/** Forwards every callback to the handler it wraps (as undici's DecoratorHandler does), minding the budget. */
class DeadlineHandler implements Handler {
  private abort: ((err: Error) => void) | undefined;
  private fired: DeadlineError | undefined;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly handler: Handler,
    ms: number,
  ) {
    this.timer = setTimeout(() => {
      this.fired = new DeadlineError(ms);
      this.abort?.(this.fired);
    }, ms);
    this.timer.unref?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    this.handler.onConnect?.(abort);
    // The budget ran out before the request got a connection: end it now.
    if (this.fired) abort(this.fired);
  }

  onError(err: Error): void {
    clearTimeout(this.timer);
    this.handler.onError?.(err);
  }

  onComplete(trailers: string[] | null): void {
    clearTimeout(this.timer);
    this.handler.onComplete?.(trailers);
  }

  onUpgrade(...args: Parameters<NonNullable<Handler["onUpgrade"]>>): void {
    clearTimeout(this.timer);
    this.handler.onUpgrade?.(...args);
  }

  onResponseStarted(): void {
    this.handler.onResponseStarted?.();
  }

  onHeaders(...args: Parameters<NonNullable<Handler["onHeaders"]>>): boolean {
    return this.handler.onHeaders?.(...args) ?? true;
  }

  onData(chunk: Buffer): boolean {
    return this.handler.onData?.(chunk) ?? true;
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.handler.onBodySent?.(chunkSize, totalBytesSent);
  }
}
