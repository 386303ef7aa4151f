import { describe, expect, it } from "vitest";
import type { Measurement, ReleaseStatus } from "../../api/release.js";
import { createLogger } from "../../observability/logger.js";
import {
  analysisToken,
  foldMeasurements,
  MeasurementRunner,
  type MeasurementJob,
  type SettledMeasurement,
} from "./measurements.js";

const logger = createLogger({ level: "silent" });
const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const flush = () => new Promise((r) => setImmediate(r));

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

function harness() {
  const settled: { key: string; m: Measurement }[] = [];
  let now = T0;
  const runner = new MeasurementRunner({
    clock: { now: () => now },
    logger,
    onSettled: (key, m) => settled.push({ key, m }),
  });
  const signals: AbortSignal[] = [];
  const job = (over: Partial<MeasurementJob> = {}) => {
    const d = deferred<Measurement>();
    const j: MeasurementJob = {
      key: "shop/web",
      kind: "step",
      metric: "error-rate",
      analysis: "a1",
      run: (signal) => {
        signals.push(signal);
        signal.addEventListener("abort", () => d.reject(signal.reason));
        return d.promise;
      },
      ...over,
    };
    return { job: j, ...d };
  };
  return { runner, settled, job, signals, tick: (ms: number) => (now += ms) };
}

const ok = (at = "2030-01-01T00:00:00Z"): Measurement => ({ at, phase: "Successful", value: "0.01" });

describe("MeasurementRunner", () => {
  it("returns at once, runs one measurement per metric, and holds the result until acknowledged", async () => {
    const { runner, settled, job } = harness();
    const first = job();
    expect(runner.start(first.job)).toBe(true);
    expect(runner.start(job().job)).toBe(false); // same key, kind and metric: already running
    expect(runner.start(job({ kind: "background" }).job)).toBe(true);
    expect(runner.isRunning("shop/web", "step", "error-rate")).toBe(true);
    expect(runner.inFlight()).toBe(2);

    first.resolve(ok());
    await flush();
    expect(settled).toEqual([{ key: "shop/web", m: ok() }]);
    expect(runner.isRunning("shop/web", "step", "error-rate")).toBe(false);
    const held = runner.pending("shop/web");
    expect(held).toMatchObject([{ kind: "step", metric: "error-rate", analysis: "a1", measurement: ok() }]);
    expect(held[0]?.takenAt).toBe(T0);

    runner.ack(
      "shop/web",
      held.map((h) => h.id),
    );
    expect(runner.pending("shop/web")).toEqual([]);
  });

  it("cancels what is not kept: aborts in-flight work and drops held results, reporting nothing", async () => {
    const { runner, settled, job, signals } = harness();
    const stale = job({ analysis: "old" });
    runner.start(stale.job);
    runner.start(job({ kind: "background", analysis: "bg" }).job);
    runner.cancel("shop/web", (kind, analysis) => kind === "background" && analysis === "bg");
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[1]?.aborted).toBe(false);
    await flush();
    expect(settled).toEqual([]);
    expect(runner.isRunning("shop/web", "background", "error-rate")).toBe(true);

    runner.cancel("shop/web");
    expect(runner.inFlight()).toBe(0);
    // A new measurement may start in the freed slot; the cancelled one can never land in it.
    const fresh = job({ analysis: "new" });
    expect(runner.start(fresh.job)).toBe(true);
    stale.resolve(ok());
    fresh.resolve(ok("2030-01-01T00:00:05Z"));
    await flush();
    expect(runner.pending("shop/web").map((p) => p.analysis)).toEqual(["new"]);
  });

  it("aborts on the controller's signal without recording anything", async () => {
    const { runner, settled, job, signals } = harness();
    const parent = new AbortController();
    runner.start(job().job, parent.signal);
    parent.abort(new Error("shutdown"));
    expect(signals[0]?.aborted).toBe(true);
    await flush();
    expect(settled).toEqual([]);
    expect(runner.pending("shop/web")).toEqual([]);
    expect(runner.inFlight()).toBe(0);
  });

  it("records a measurement that failed for another reason as Inconclusive, never as a verdict", async () => {
    const { runner, settled, job } = harness();
    const j = job();
    runner.start(j.job);
    j.reject(new Error("boom"));
    await flush();
    expect(settled[0]?.m).toEqual({
      at: "2030-01-01T00:00:00Z",
      phase: "Inconclusive",
      message: "error-rate: measurement failed: boom",
    });
  });
});

describe("foldMeasurements", () => {
  const status: ReleaseStatus = {
    canaryRevision: "r2",
    analysis: { startedAt: "2030-01-01T00:00:00.000Z", step: 1, metrics: [] },
    backgroundAnalysis: { startedAt: "2030-01-01T00:00:00.000Z", metrics: [] },
  };
  const held = (over: Partial<SettledMeasurement>): SettledMeasurement => ({
    id: 1,
    kind: "step",
    metric: "error-rate",
    analysis: analysisToken(status, "step") ?? "",
    measurement: ok(),
    takenAt: T0,
    ...over,
  });

  it("records each result into the analysis it was taken for, and returns the stale ones", () => {
    const bad: Measurement = { at: "2030-01-01T00:00:02Z", phase: "Failed", value: "0.5" };
    const out = foldMeasurements(status, [
      held({ id: 1 }),
      held({ id: 2, measurement: bad }),
      held({ id: 3, kind: "background", analysis: analysisToken(status, "background") ?? "" }),
      held({ id: 4, analysis: "step/r2/1/an-earlier-start" }),
    ]);
    expect(out.recorded.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(out.stale.map((r) => r.id)).toEqual([4]);
    expect(out.status.analysis?.metrics).toEqual([
      {
        name: "error-rate",
        successful: 1,
        failed: 1,
        inconclusive: 0,
        consecutiveInconclusive: 0,
        measurements: [ok(), bad],
      },
    ]);
    expect(out.status.backgroundAnalysis?.metrics[0]).toMatchObject({ name: "error-rate", successful: 1 });
    // Pure: the input is untouched.
    expect(status.analysis?.metrics).toEqual([]);
  });

  it("tells analyses apart by canary revision, step and start", () => {
    expect(analysisToken(status, "step")).not.toEqual(
      analysisToken({ ...status, canaryRevision: "r3" }, "step"),
    );
    expect(analysisToken({}, "step")).toBeUndefined();
    expect(foldMeasurements({}, [held({})]).stale).toHaveLength(1);
  });

  it("records a post-promotion measurement into the verification window, by promoted revision and start", () => {
    const verifying: ReleaseStatus = {
      stableRevision: "r2",
      postPromotion: {
        revision: "r2",
        previousRevision: "r1",
        startedAt: "2030-01-01T00:00:00.000Z",
        until: "2030-01-01T00:10:00.000Z",
        metrics: [],
        result: "Verifying",
      },
    };
    const token = analysisToken(verifying, "postPromotion") ?? "";
    const out = foldMeasurements(verifying, [
      held({ id: 1, kind: "postPromotion", analysis: token }),
      held({ id: 2, kind: "postPromotion", analysis: "postPromotion/r2/an-earlier-promotion" }),
    ]);
    expect(out.recorded.map((r) => r.id)).toEqual([1]);
    expect(out.stale.map((r) => r.id)).toEqual([2]);
    expect(out.status.postPromotion?.metrics[0]).toMatchObject({ name: "error-rate", successful: 1 });
    expect(analysisToken({}, "postPromotion")).toBeUndefined();
  });
});
