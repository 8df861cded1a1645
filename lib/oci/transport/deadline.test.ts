import { describe, expect, it } from "vitest";
import { Deadline, holdDeadline, releaseDeadline } from "./deadline";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Deadline", () => {
  it("aborts its signal with a TimeoutError when the budget runs out", async () => {
    const d = new Deadline(20);
    expect(d.signal.aborted).toBe(false);
    await wait(80);
    expect(d.signal.aborted).toBe(true);
    expect((d.signal.reason as Error).name).toBe("TimeoutError");
  });

  it("never aborts once released", async () => {
    const d = new Deadline(20);
    d.release();
    await wait(80);
    expect(d.signal.aborted).toBe(false);
  });

  it("releases the deadline held for a response, once", async () => {
    const res = {};
    const d = new Deadline(20);
    holdDeadline(res, d);
    releaseDeadline(res);
    releaseDeadline(res);
    await wait(80);
    expect(d.signal.aborted).toBe(false);
  });

  it("leaves a deadline no response holds running", async () => {
    const d = new Deadline(20);
    holdDeadline({}, d);
    releaseDeadline({});
    await wait(80);
    expect(d.signal.aborted).toBe(true);
  });
});
