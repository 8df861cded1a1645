import { afterEach, describe, expect, it } from "vitest";
import { advanceSimClock, installSimClock, realNow, uninstallSimClock } from "../scripts/lib/sim-clock";

// The demo story's clock (scripts/lib/sim-clock.ts): past times that only move forward, never past real time.
const DAY = 86_400_000;
const RealDate = Date;

afterEach(() => uninstallSimClock());

describe("the demo story's clock", () => {
  it("starts in the past and keeps ticking from there", async () => {
    const start = RealDate.now() - 28 * DAY;
    installSimClock(new Date(start));
    expect(Math.abs(Date.now() - start)).toBeLessThan(1000);
    expect(Math.abs(new Date().getTime() - start)).toBeLessThan(1000);
    const a = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    expect(Date.now()).toBeGreaterThan(a);
    expect(realNow() - Date.now()).toBeGreaterThan(27 * DAY);
  });

  it("moves forward only, and never past real time", () => {
    const start = RealDate.now() - 10 * DAY;
    installSimClock(new Date(start));
    advanceSimClock(start + 2 * DAY);
    const t = Date.now();
    expect(Math.abs(t - (start + 2 * DAY))).toBeLessThan(1000);
    advanceSimClock(start);
    expect(Date.now()).toBeGreaterThanOrEqual(t);
    advanceSimClock(RealDate.now() + 5 * DAY);
    expect(Date.now()).toBeLessThanOrEqual(realNow());
  });

  it("leaves dates with arguments alone, keeps instanceof working, and restores the real Date", () => {
    const before = new Date(0);
    installSimClock(new Date(RealDate.now() - DAY));
    expect(new Date(0).getTime()).toBe(0);
    expect(new Date("2026-01-02T03:04:05Z").toISOString()).toBe("2026-01-02T03:04:05.000Z");
    expect(before instanceof Date).toBe(true);
    expect(new Date() instanceof RealDate).toBe(true);
    uninstallSimClock();
    expect(Date).toBe(RealDate);
    expect(Math.abs(Date.now() - realNow())).toBeLessThan(1000);
  });
});
