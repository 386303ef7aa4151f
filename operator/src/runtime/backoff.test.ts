import { describe, expect, it } from "vitest";
import { Backoff, exponentialDelay, TokenBucket } from "./backoff.js";
import type { Clock } from "./types.js";

/** A clock whose sleeps are recorded and advance time instantly. */
function steppingClock(): Clock & { t: number; sleeps: number[] } {
  const clock = {
    t: 0,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number, signal?: AbortSignal) => {
      clock.sleeps.push(ms);
      if (!signal?.aborted) clock.t += ms;
    },
  };
  return clock;
}

describe("exponentialDelay", () => {
  it("doubles from the initial delay and caps", () => {
    expect([0, 1, 2, 3].map((n) => exponentialDelay(n, 5, 1000))).toEqual([5, 10, 20, 40]);
    expect(exponentialDelay(20, 5, 1000)).toBe(1000);
  });

  it("stays finite for absurd attempt counts", () => {
    expect(exponentialDelay(1e9, 5, 300_000)).toBe(300_000);
    expect(exponentialDelay(1e9, 0, 300_000)).toBe(0);
  });
});

describe("Backoff", () => {
  it("grows without jitter when random() is 0, caps, and resets", () => {
    const b = new Backoff({ initialMs: 800, maxMs: 30_000, random: () => 0 });
    expect(Array.from({ length: 8 }, () => b.next())).toEqual([
      800, 1600, 3200, 6400, 12800, 25600, 30000, 30000,
    ]);
    b.reset();
    expect(b.next()).toBe(800);
  });

  it("jitters downward, never above the un-jittered delay", () => {
    let r = 0;
    const values = [0, 0.5, 0.999];
    const b = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => values[r++ % 3]! });
    const delays = [b.next(), b.next(), b.next()];
    expect(delays[0]).toBe(1000);
    expect(delays[1]).toBe(750);
    expect(delays[2]).toBeCloseTo(500.5);
    for (const d of delays) expect(d).toBeLessThanOrEqual(1000);
  });
});

describe("TokenBucket", () => {
  it("lets a burst through, then paces at qps", async () => {
    const clock = steppingClock();
    const bucket = new TokenBucket(10, 3, clock);
    for (let i = 0; i < 3; i++) await bucket.take();
    expect(clock.sleeps).toEqual([]);
    await bucket.take();
    await bucket.take();
    expect(clock.sleeps).toEqual([100, 100]);
  });

  it("refills with elapsed time, up to the burst", async () => {
    const clock = steppingClock();
    const bucket = new TokenBucket(10, 2, clock);
    await bucket.take();
    await bucket.take();
    clock.t += 10_000; // long idle: refills to 2, not 100
    await bucket.take();
    await bucket.take();
    await bucket.take();
    expect(clock.sleeps).toEqual([100]);
  });

  it("queues concurrent waiters in order by reserving tokens", async () => {
    const frozen = {
      now: () => 0,
      sleeps: [] as number[],
      sleep: async (ms: number) => void frozen.sleeps.push(ms),
    };
    const bucket = new TokenBucket(4, 1, frozen);
    await Promise.all([bucket.take(), bucket.take(), bucket.take()]);
    expect(frozen.sleeps).toEqual([250, 500]);
  });

  it("rejects with the abort reason and gives the reservation back", async () => {
    const sleeps: number[] = [];
    const clock: Clock = {
      now: () => 0,
      sleep: (ms, signal) => {
        sleeps.push(ms);
        return signal
          ? new Promise((resolve) => signal.addEventListener("abort", () => resolve()))
          : Promise.resolve();
      },
    };
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.take();
    const early = new AbortController();
    early.abort(new Error("early"));
    await expect(bucket.take(early.signal)).rejects.toThrow("early"); // before reserving: no sleep
    const late = new AbortController();
    const pending = bucket.take(late.signal);
    late.abort(new Error("late"));
    await expect(pending).rejects.toThrow("late");
    await bucket.take(); // waits one token, not two: the aborted reservation was returned
    expect(sleeps).toEqual([1000, 1000]);
  });

  it("refuses a nonsensical configuration", () => {
    const clock = steppingClock();
    expect(() => new TokenBucket(0, 10, clock)).toThrow(/invalid rate limit/);
    expect(() => new TokenBucket(10, 0, clock)).toThrow(/invalid rate limit/);
  });
});
