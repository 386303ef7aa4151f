import { describe, expect, it } from "vitest";
import { createLogger } from "../observability/logger.js";
import { DEFAULT_SYNC_PERIOD_MS, jitteredPeriod, runResync, type Resyncable } from "./resync.js";
import type { Clock } from "./types.js";

const logger = createLogger({ level: "silent" });

/** A clock whose sleeps return at once, advancing time by what was asked; it records them. */
function steppingClock(
  until: (slept: number[]) => boolean,
  stop: AbortController,
): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
      slept.push(ms);
      if (until(slept)) stop.abort();
    },
  };
}

describe("jitteredPeriod", () => {
  it("stays within [0.9, 1.1) of the period, as controller-runtime's resync does", () => {
    expect(jitteredPeriod(1000, () => 0)).toBe(900);
    expect(jitteredPeriod(1000, () => 0.5)).toBe(1000);
    expect(jitteredPeriod(1000, () => 0.999999)).toBe(1100);
    for (let i = 0; i < 1000; i++) {
      const ms = jitteredPeriod(DEFAULT_SYNC_PERIOD_MS, Math.random);
      expect(ms).toBeGreaterThanOrEqual(0.9 * DEFAULT_SYNC_PERIOD_MS);
      expect(ms).toBeLessThanOrEqual(1.1 * DEFAULT_SYNC_PERIOD_MS);
    }
  });

  it("clamps a random source outside [0, 1)", () => {
    expect(jitteredPeriod(1000, () => -3)).toBe(900);
    expect(jitteredPeriod(1000, () => 7)).toBe(1100);
  });

  it("defaults to 10 hours", () => {
    expect(DEFAULT_SYNC_PERIOD_MS).toBe(36_000_000);
  });
});

describe("runResync", () => {
  it("resyncs every controller once per jittered period until stopped", async () => {
    const stop = new AbortController();
    const clock = steppingClock((slept) => slept.length > 3, stop);
    const calls: string[] = [];
    const controllers: Resyncable[] = [
      { name: "release", resync: () => (calls.push("release"), 2) },
      { name: "squad", resync: () => (calls.push("squad"), 1) },
      { name: "no-primaries" },
    ];
    const randoms = [0, 0.5, 0.25, 0.75];
    await runResync({
      periodMs: 1000,
      controllers,
      clock,
      logger,
      stop: stop.signal,
      random: () => randoms.shift() ?? 0.5,
    });
    // Four sleeps; the fourth is cut short by the stop, so three rounds ran.
    expect(clock.slept).toEqual([900, 1000, 950, 1050]);
    expect(calls).toEqual(["release", "squad", "release", "squad", "release", "squad"]);
  });

  it("does nothing with a period of 0", async () => {
    const stop = new AbortController();
    const clock = steppingClock(() => false, stop);
    await runResync({
      periodMs: 0,
      controllers: [{ name: "x", resync: () => 1 }],
      clock,
      logger,
      stop: stop.signal,
    });
    expect(clock.slept).toEqual([]);
  });

  it("returns at once when already stopped", async () => {
    const stop = new AbortController();
    stop.abort();
    let called = false;
    await runResync({
      periodMs: 1000,
      controllers: [{ name: "x", resync: () => ((called = true), 1) }],
      clock: { now: () => 0, sleep: async () => {} },
      logger,
      stop: stop.signal,
    });
    expect(called).toBe(false);
  });
});
