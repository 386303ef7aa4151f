import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Clock } from "./types.js";
import { WorkQueue, type WorkQueueMetrics } from "./workqueue.js";

/** A clock that only moves when the test says so. */
class FakeClock implements Clock {
  private t = 0;
  private sleepers: { at: number; resolve: () => void }[] = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper = { at: this.t + ms, resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener("abort", () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      });
    });
  }

  /** Moves time forward, waking sleepers in deadline order and letting their continuations run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.sleepers.filter((s) => s.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      this.sleepers = this.sleepers.filter((s) => s !== due);
      due.resolve();
      await flush();
    }
    this.t = end;
    await flush();
  }

  pending(): number {
    return this.sleepers.length;
  }

  /** Milliseconds until the earliest sleeper wakes. */
  untilNext(): number {
    return Math.min(...this.sleepers.map((s) => s.at)) - this.t;
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function setup(opts: { metrics?: WorkQueueMetrics } = {}) {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock, ...opts });
  return { clock, queue };
}

/** Resolves the promise if it settles within a few microtasks, else "pending". */
async function peek<T>(p: Promise<T>): Promise<T | "pending"> {
  return Promise.race([p, flush().then(() => "pending" as const)]);
}

describe("WorkQueue basics", () => {
  it("hands out keys in FIFO order", async () => {
    const { queue } = setup();
    queue.add("a");
    queue.add("b");
    queue.add("c");
    expect(queue.len()).toBe(3);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBe("b");
    expect(await queue.get()).toBe("c");
    expect(queue.len()).toBe(0);
  });

  it("deduplicates a key added while queued", async () => {
    const { queue } = setup();
    queue.add("a");
    queue.add("b");
    queue.add("a");
    expect(queue.len()).toBe(2);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBe("b");
    expect(await peek(queue.get())).toBe("pending");
  });

  it("get waits for an add", async () => {
    const { queue } = setup();
    const next = queue.get();
    expect(await peek(next)).toBe("pending");
    queue.add("x");
    expect(await next).toBe("x");
  });

  it("serves waiting workers in order, one key each", async () => {
    const { queue } = setup();
    const w1 = queue.get();
    const w2 = queue.get();
    queue.add("a");
    queue.add("b");
    expect(await w1).toBe("a");
    expect(await w2).toBe("b");
  });

  it("never hands a key being processed to a second worker, and reruns it once after done", async () => {
    const { queue } = setup();
    queue.add("a");
    expect(await queue.get()).toBe("a");
    queue.add("a");
    queue.add("a");
    expect(queue.len()).toBe(0);
    const second = queue.get();
    expect(await peek(second)).toBe("pending");
    queue.done("a");
    expect(await second).toBe("a");
    queue.done("a");
    expect(await peek(queue.get())).toBe("pending");
  });

  it("does not rerun a key that was not added during processing", async () => {
    const { queue } = setup();
    queue.add("a");
    await queue.get();
    queue.done("a");
    expect(queue.len()).toBe(0);
  });

  it("ignores done for a key that is not processing", () => {
    const { queue } = setup();
    queue.add("a");
    queue.done("a");
    expect(queue.len()).toBe(1);
  });

  it("keeps order across many adds (internal compaction)", async () => {
    const { queue } = setup();
    for (let i = 0; i < 3000; i++) queue.add(`k${i}`);
    for (let i = 0; i < 3000; i++) expect(await queue.get()).toBe(`k${i}`);
    expect(queue.len()).toBe(0);
  });
});

describe("WorkQueue shutdown", () => {
  it("drains queued keys, then resolves undefined", async () => {
    const { queue } = setup();
    queue.add("a");
    queue.shutDown();
    expect(queue.isShuttingDown()).toBe(true);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBeUndefined();
  });

  it("releases waiting workers with undefined", async () => {
    const { queue } = setup();
    const w = queue.get();
    queue.shutDown();
    expect(await w).toBeUndefined();
  });

  it("ignores adds after shutdown and drops delayed keys", async () => {
    const { clock, queue } = setup();
    queue.addAfter("later", 100);
    queue.shutDown();
    queue.add("a");
    queue.addAfter("b", 10);
    queue.addRateLimited("c");
    await clock.advance(1000);
    expect(queue.len()).toBe(0);
    expect(clock.pending()).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });
});

describe("WorkQueue addAfter", () => {
  it("adds the key once the delay has passed", async () => {
    const { clock, queue } = setup();
    queue.addAfter("a", 100);
    expect(queue.len()).toBe(0);
    await clock.advance(99);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("a");
  });

  it("with a non-positive delay adds immediately", () => {
    const { queue } = setup();
    queue.addAfter("a", 0);
    queue.addAfter("b", -5);
    expect(queue.len()).toBe(2);
  });

  it("keeps the earliest deadline for a key", async () => {
    const { clock, queue } = setup();
    queue.addAfter("a", 100);
    queue.addAfter("a", 500); // later: ignored
    queue.addAfter("a", 50); // earlier: wins
    await clock.advance(50);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("a");
    queue.done("a");
    await clock.advance(1000);
    expect(queue.len()).toBe(0); // superseded deadlines do not fire again
  });

  it("fires keys in deadline order regardless of insertion order", async () => {
    const { clock, queue } = setup();
    queue.addAfter("c", 30);
    queue.addAfter("a", 10);
    queue.addAfter("b", 20);
    await clock.advance(30);
    expect([await queue.get(), await queue.get(), await queue.get()]).toEqual(["a", "b", "c"]);
  });

  it("deduplicates with a key that is already queued", async () => {
    const { clock, queue } = setup();
    queue.add("a");
    queue.addAfter("a", 10);
    await clock.advance(10);
    expect(queue.len()).toBe(1);
  });

  it("keeps one timer armed", async () => {
    const { clock, queue } = setup();
    for (let i = 0; i < 50; i++) queue.addAfter(`k${i}`, 1000 - i);
    expect(clock.pending()).toBe(1);
    await clock.advance(1000);
    expect(queue.len()).toBe(50);
    expect(clock.pending()).toBe(0);
  });
});

describe("WorkQueue rate limiting", () => {
  it("backs off exponentially per key from 5 ms, capped at 5 min", async () => {
    const { clock, queue } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = clock.now();
      queue.addRateLimited("a");
      expect(clock.pending()).toBe(1);
      await clock.advance(clock.untilNext());
      expect(queue.len()).toBe(1);
      delays.push(clock.now() - before);
      await queue.get();
      queue.done("a");
    }
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays.at(-1)).toBe(300_000);
    expect(queue.numRequeues("a")).toBe(20);
  });

  it("forget resets the backoff; keys back off independently", async () => {
    const { clock, queue } = setup();
    queue.addRateLimited("a");
    queue.addRateLimited("a");
    queue.addRateLimited("b");
    expect(queue.numRequeues("a")).toBe(2);
    expect(queue.numRequeues("b")).toBe(1);
    queue.forget("a");
    expect(queue.numRequeues("a")).toBe(0);
    await clock.advance(5);
    expect(queue.len()).toBe(2); // "a" (earliest deadline 5 ms) and "b"
  });
});

describe("WorkQueue.addWithin", () => {
  it("turns a burst into one add at the end of a window opened by the first call", async () => {
    const { clock, queue } = setup();
    queue.addWithin("squad", 2000);
    await clock.advance(500);
    queue.addWithin("squad", 2000);
    await clock.advance(1000);
    queue.addWithin("squad", 2000);
    expect(queue.len()).toBe(0);
    await clock.advance(499);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("squad");

    // While it is being processed, a call opens the next window; the key runs again after it.
    queue.addWithin("squad", 2000);
    queue.done("squad");
    expect(queue.len()).toBe(0);
    await clock.advance(2000);
    expect(queue.len()).toBe(1);
  });

  it("leaves a queued key where it is, and an earlier requeue wins", async () => {
    const { clock, queue } = setup();
    queue.add("a");
    queue.addWithin("a", 2000);
    expect(queue.len()).toBe(1);
    queue.addAfter("b", 100);
    queue.addWithin("b", 2000);
    await clock.advance(100);
    expect(queue.len()).toBe(2);
  });
});

describe("WorkQueue metrics", () => {
  it("reports adds, depth, retries, latency and work duration", async () => {
    const seen = {
      adds: 0,
      retries: 0,
      depth: [] as number[],
      latency: [] as number[],
      work: [] as number[],
    };
    const metrics: WorkQueueMetrics = {
      onAdd: () => seen.adds++,
      onDepth: (n) => seen.depth.push(n),
      onRetry: () => seen.retries++,
      onQueueLatency: (s) => seen.latency.push(s),
      onWorkDuration: (s) => seen.work.push(s),
    };
    const { clock, queue } = setup({ metrics });
    queue.add("a");
    queue.add("a"); // deduplicated: not an add
    queue.add("b");
    await clock.advance(2000);
    expect(await queue.get()).toBe("a");
    await clock.advance(500);
    queue.done("a");
    queue.addAfter("c", 10);
    queue.addRateLimited("d");
    queue.addWithin("e", 10); // a batching window, not a retry
    expect(seen.adds).toBe(2);
    expect(seen.retries).toBe(2);
    expect(seen.depth).toEqual([1, 2, 1]);
    expect(seen.latency).toEqual([2]);
    expect(seen.work).toEqual([0.5]);
  });
});

describe("WorkQueue properties", () => {
  type Op =
    | { op: "add"; key: string }
    | { op: "addAfter"; key: string; ms: number }
    | { op: "rateLimited"; key: string }
    | { op: "forget"; key: string }
    | { op: "advance"; ms: number }
    | { op: "yield"; n: number };

  const key = fc.constantFrom("a", "b", "c", "d", "e");
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant("add" as const), key }),
    fc.record({ op: fc.constant("addAfter" as const), key, ms: fc.integer({ min: -5, max: 200 }) }),
    fc.record({ op: fc.constant("rateLimited" as const), key }),
    fc.record({ op: fc.constant("forget" as const), key }),
    fc.record({ op: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 100 }) }),
    fc.record({ op: fc.constant("yield" as const), n: fc.integer({ min: 1, max: 10 }) }),
  );

  it("never processes a key concurrently, and processes every key after its last add", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { maxLength: 80 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 10 }),
        async (ops, workers, workTicks) => {
          const { clock, queue } = setup();
          let seq = 0;
          const lastAdd = new Map<string, number>();
          const lastStart = new Map<string, number>();
          const inFlight = new Set<string>();
          let violation: string | undefined;
          let runs = 0;

          const worker = async (): Promise<void> => {
            for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
              if (inFlight.has(key)) violation ??= `${key} handed to two workers`;
              inFlight.add(key);
              lastStart.set(key, ++seq);
              for (let i = 0; i < workTicks[runs++ % workTicks.length]!; i++) await Promise.resolve();
              inFlight.delete(key);
              queue.done(key);
            }
          };
          const running = Array.from({ length: workers }, worker);

          for (const o of ops) {
            switch (o.op) {
              case "add":
                lastAdd.set(o.key, ++seq);
                queue.add(o.key);
                break;
              case "addAfter":
                lastAdd.set(o.key, ++seq);
                queue.addAfter(o.key, o.ms);
                break;
              case "rateLimited":
                lastAdd.set(o.key, ++seq);
                queue.addRateLimited(o.key);
                break;
              case "forget":
                queue.forget(o.key);
                break;
              case "advance":
                await clock.advance(o.ms);
                break;
              case "yield":
                for (let i = 0; i < o.n; i++) await Promise.resolve();
                break;
            }
          }
          // Let every delayed add fire (rate-limited delays stay well under 10 s here) and drain.
          await clock.advance(10_000);
          for (let i = 0; i < 50 && (queue.len() > 0 || inFlight.size > 0); i++) await flush();
          queue.shutDown();
          await Promise.all(running);

          expect(violation).toBeUndefined();
          for (const [k, added] of lastAdd) {
            expect(lastStart.get(k) ?? 0, `key ${k} added at ${added}`).toBeGreaterThan(added);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
