import { describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.js";
import type { AttemptOutcome } from "./notify.js";
import { NotificationRunner } from "./notification-runner.js";

const logger = createLogger({ level: "silent" });
const flush = () => new Promise((r) => setImmediate(r));

function runner() {
  const enqueued: string[] = [];
  let now = 1_000;
  const r = new NotificationRunner({
    clock: { now: () => now },
    logger,
    onSettled: (k) => void enqueued.push(k),
  });
  return { r, enqueued, tick: (ms: number) => (now += ms) };
}

/** An attempt the test ends by hand; it ends as aborted when its signal aborts. */
function controlled() {
  let end: (o: AttemptOutcome) => void = () => undefined;
  let aborted = false;
  const send = (signal: AbortSignal) =>
    new Promise<AttemptOutcome>((resolve) => {
      end = resolve;
      signal.addEventListener("abort", () => {
        aborted = true;
        resolve({ kind: "retryable", error: "aborted" });
      });
    });
  return { send, end: (o: AttemptOutcome) => end(o), aborted: () => aborted };
}

describe("NotificationRunner", () => {
  it("runs one attempt per id at a time, holds its outcome until acked, and enqueues the Release", async () => {
    const { r, enqueued, tick } = runner();
    const a = controlled();
    expect(r.start({ key: "ns/web", id: "x", attemptsBefore: 2, send: a.send })).toBe(true);
    expect(r.start({ key: "ns/web", id: "x", attemptsBefore: 2, send: a.send })).toBe(false);
    expect(r.busy("ns/web", "x")).toBe(true);
    expect(r.busy("ns/web", "y")).toBe(false);
    tick(500);
    a.end({ kind: "delivered" });
    await flush();
    expect(enqueued).toEqual(["ns/web"]);
    expect(r.pending("ns/web")).toEqual([
      { id: "x", attemptsBefore: 2, outcome: { kind: "delivered" }, at: 1_500 },
    ]);
    // Settled but not recorded yet: still busy, so no second attempt starts.
    expect(r.busy("ns/web", "x")).toBe(true);
    r.ack("ns/web", ["x"]);
    expect(r.pending("ns/web")).toEqual([]);
    expect(r.busy("ns/web", "x")).toBe(false);
  });

  it("takes an attempt that throws for a retryable failure", async () => {
    const { r } = runner();
    r.start({
      key: "ns/web",
      id: "x",
      attemptsBefore: 0,
      send: () => {
        throw new Error("boom");
      },
    });
    await flush();
    expect(r.pending("ns/web")[0]?.outcome).toEqual({ kind: "retryable", error: "boom" });
  });

  it("holds nothing for an attempt that found status past its entry and sent nothing", async () => {
    const { r, enqueued } = runner();
    r.start({ key: "ns/web", id: "x", attemptsBefore: 0, send: async () => undefined });
    await flush();
    expect(r.pending("ns/web")).toEqual([]);
    expect(r.busy("ns/web", "x")).toBe(false);
    expect(enqueued).toEqual([]);
  });

  it("on close, aborts attempts in flight, records no outcome, and starts nothing more", async () => {
    const { r, enqueued } = runner();
    const a = controlled();
    r.start({ key: "ns/web", id: "x", attemptsBefore: 0, send: a.send });
    r.close();
    r.close();
    await flush();
    expect(a.aborted()).toBe(true);
    expect(r.pending("ns/web")).toEqual([]);
    expect(enqueued).toEqual([]);
    expect(r.inFlight()).toBe(0);
    expect(r.start({ key: "ns/web", id: "y", attemptsBefore: 0, send: controlled().send })).toBe(false);
  });

  it("on cancel (the Release is gone), aborts its attempts and drops its outcomes", async () => {
    const { r } = runner();
    const a = controlled();
    const b = controlled();
    r.start({ key: "ns/web", id: "x", attemptsBefore: 0, send: a.send });
    r.start({ key: "ns/api", id: "y", attemptsBefore: 0, send: b.send });
    r.cancel("ns/web");
    b.end({ kind: "delivered" });
    await flush();
    expect(a.aborted()).toBe(true);
    expect(r.pending("ns/web")).toEqual([]);
    expect(r.pending("ns/api")).toHaveLength(1);
  });
});
