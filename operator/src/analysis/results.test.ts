import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analysisMetric, type AnalysisMetric } from "../api/analysis.js";
import { metricResult, type Measurement, type MetricResult } from "../api/release.js";
import {
  analysisDeadlineMs,
  dueMetrics,
  intervalMs,
  MAX_MEASUREMENTS,
  nextDueInMs,
  recordMeasurement,
  verdict,
} from "./results.js";

const metric = (name: string, fields: Record<string, unknown> = {}): AnalysisMetric =>
  analysisMetric.parse({ name, prometheus: { query: "q" }, thresholdRange: { max: 1 }, ...fields });

let clock = 0;
const m = (
  phase: Measurement["phase"],
  message = `${phase.toLowerCase()} #${++clock}`,
  at = "2025-01-01T00:00:00Z",
): Measurement => ({
  at,
  phase,
  message,
});

/** Folds measurements into a result, as the controller does reconcile after reconcile. */
const record = (name: string, ...phases: (Measurement | Measurement["phase"])[]): MetricResult =>
  phases.reduce<MetricResult | undefined>(
    (r, p) => recordMeasurement(r, name, typeof p === "string" ? m(p) : p),
    undefined,
  ) ?? { name, successful: 0, failed: 0, inconclusive: 0, consecutiveInconclusive: 0, measurements: [] };

describe("recordMeasurement", () => {
  it("starts a result from nothing", () => {
    const first = m("Successful", "ok");
    expect(recordMeasurement(undefined, "error-rate", first)).toEqual({
      name: "error-rate",
      successful: 1,
      failed: 0,
      inconclusive: 0,
      consecutiveInconclusive: 0,
      measurements: [first],
    });
  });

  it("counts each phase and appends, oldest first", () => {
    const ms = [m("Successful"), m("Failed"), m("Inconclusive"), m("Inconclusive"), m("Successful")];
    expect(record("x", ...ms)).toEqual({
      name: "x",
      successful: 2,
      failed: 1,
      inconclusive: 2,
      consecutiveInconclusive: 0,
      measurements: ms,
    });
  });

  it.each([
    [["Inconclusive"], 1],
    [["Inconclusive", "Inconclusive", "Inconclusive"], 3],
    [["Inconclusive", "Inconclusive", "Successful"], 0],
    [["Inconclusive", "Inconclusive", "Failed"], 0],
    [["Inconclusive", "Failed", "Inconclusive"], 1],
  ] as const)("counts consecutive inconclusive measurements: %j → %d", (phases, n) => {
    expect(record("x", ...phases).consecutiveInconclusive).toBe(n);
  });

  it(`keeps only the last ${MAX_MEASUREMENTS} measurements but counts them all`, () => {
    const ms = Array.from({ length: 25 }, (_, i) => m("Successful", `#${i}`));
    const result = record("x", ...ms);
    expect(result.successful).toBe(25);
    expect(result.measurements).toEqual(ms.slice(-10));
  });

  it("does not modify the result it is given", () => {
    const before = record("x", "Successful");
    const copy = structuredClone(before);
    recordMeasurement(before, "x", m("Failed"));
    expect(before).toEqual(copy);
  });

  it("always fits the status schema and keeps counts consistent (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("Successful", "Failed", "Inconclusive"), { maxLength: 40 }),
        (phases) => {
          const result = record("x", ...phases);
          expect(metricResult.parse(result)).toEqual(result);
          expect(result.successful + result.failed + result.inconclusive).toBe(phases.length);
          expect(result.measurements.map((x) => x.phase)).toEqual(phases.slice(-MAX_MEASUREMENTS));
          const run = phases.length - 1 - phases.findLastIndex((p) => p !== "Inconclusive");
          expect(result.consecutiveInconclusive).toBe(run);
        },
      ),
    );
  });
});

describe("verdict", () => {
  it("is Running before anything is measured", () => {
    expect(verdict([metric("error-rate"), metric("latency", { minSamples: 3 })], [])).toEqual({
      phase: "Running",
      message: "waiting for successful measurements (error-rate 0/1, latency 0/3)",
    });
  });

  it("is Successful with no metrics: nothing to wait for", () => {
    expect(verdict([], [])).toEqual({ phase: "Successful", message: "no metrics to analyse" });
  });

  it("is Successful once every metric has minSamples (default 1) successes", () => {
    const metrics = [metric("error-rate"), metric("latency", { minSamples: 2 })];
    expect(verdict(metrics, [record("error-rate", "Successful"), record("latency", "Successful")])).toEqual({
      phase: "Running",
      message: "waiting for successful measurements (error-rate 1/1, latency 1/2)",
    });
    expect(
      verdict(metrics, [
        record("error-rate", "Successful"),
        record("latency", "Successful", "Inconclusive", "Successful"),
      ]),
    ).toEqual({ phase: "Successful", message: "all metrics passed (error-rate 1/1, latency 2/2)" });
  });

  it("is Failed as soon as failures exceed failureLimit (default 0), quoting the last failure", () => {
    const result = record("error-rate", "Successful", m("Failed", "error-rate 0.12 > max 0.05"));
    expect(verdict([metric("error-rate")], [result])).toEqual({
      phase: "Failed",
      metric: "error-rate",
      message: "error-rate failed 1 time, more than failureLimit 0: error-rate 0.12 > max 0.05",
    });
  });

  it("tolerates failures up to failureLimit", () => {
    const metrics = [metric("error-rate", { failureLimit: 2 })];
    const two = record("error-rate", m("Failed", "first"), "Successful", m("Failed", "second"));
    expect(verdict(metrics, [two])).toEqual({
      phase: "Successful",
      message: "all metrics passed (error-rate 1/1)",
    });
    const three = recordMeasurement(two, "error-rate", m("Failed", "error-rate 0.3 > max 0.05"));
    expect(verdict(metrics, [three])).toEqual({
      phase: "Failed",
      metric: "error-rate",
      message: "error-rate failed 3 times, more than failureLimit 2: error-rate 0.3 > max 0.05",
    });
  });

  it("says so when the last failure has scrolled out of the recorded window", () => {
    const result = record("x", "Failed", ...Array<Measurement["phase"]>(12).fill("Successful"));
    expect(verdict([metric("x")], [result])).toEqual({
      phase: "Failed",
      metric: "x",
      message: "x failed 1 time, more than failureLimit 0: last failed measurement no longer recorded",
    });
  });

  it("is Inconclusive when a metric is inconclusive more than inconclusiveLimit (default 3) times in a row", () => {
    const four = record(
      "latency",
      "Inconclusive",
      "Inconclusive",
      "Inconclusive",
      m("Inconclusive", "latency: query failed: x"),
    );
    expect(
      verdict([metric("latency")], [record("latency", "Inconclusive", "Inconclusive", "Inconclusive")]).phase,
    ).toBe("Running");
    expect(verdict([metric("latency")], [four])).toEqual({
      phase: "Inconclusive",
      metric: "latency",
      message:
        "latency was inconclusive 4 times in a row, more than inconclusiveLimit 3: latency: query failed: x",
    });
    expect(
      verdict([metric("latency", { inconclusiveLimit: 0 })], [record("latency", "Inconclusive")]),
    ).toMatchObject({
      phase: "Inconclusive",
      message: expect.stringContaining("inconclusive 1 time in a row, more than inconclusiveLimit 0"),
    });
  });

  it("does not count inconclusive measurements that a success interrupted", () => {
    const result = record("x", "Inconclusive", "Inconclusive", "Successful", "Inconclusive", "Inconclusive");
    expect(verdict([metric("x", { inconclusiveLimit: 2 })], [result]).phase).toBe("Successful");
  });

  it("puts Failed before Inconclusive, whichever metric comes first", () => {
    const metrics = [metric("flaky", { inconclusiveLimit: 0 }), metric("broken")];
    const results = [record("flaky", "Inconclusive"), record("broken", m("Failed", "broken 2 > max 1"))];
    expect(verdict(metrics, results)).toMatchObject({ phase: "Failed", metric: "broken" });
  });

  it("puts Inconclusive before Successful", () => {
    const metrics = [metric("a", { inconclusiveLimit: 0 })];
    expect(verdict(metrics, [record("a", "Successful", "Inconclusive")])).toMatchObject({
      phase: "Inconclusive",
    });
  });

  it("names the first metric in spec order when several failed", () => {
    const metrics = [metric("a"), metric("b")];
    expect(verdict(metrics, [record("b", "Failed"), record("a", "Failed")])).toMatchObject({ metric: "a" });
  });

  it("ignores results of metrics that are not asked about", () => {
    expect(verdict([metric("a")], [record("a", "Successful"), record("gone", "Failed")])).toMatchObject({
      phase: "Successful",
    });
  });

  it("is never Successful while a metric lacks samples, nor Failed without an excess failure (property)", () => {
    const arb = fc.array(
      fc.record({
        failureLimit: fc.nat(3),
        inconclusiveLimit: fc.nat(3),
        minSamples: fc.integer({ min: 1, max: 4 }),
        phases: fc.array(fc.constantFrom("Successful", "Failed", "Inconclusive"), { maxLength: 12 }),
      }),
      { maxLength: 4 },
    );
    fc.assert(
      fc.property(arb, (specs) => {
        const metrics = specs.map((s, i) => metric(`m${i}`, s));
        const results = specs.map((s, i) => record(`m${i}`, ...s.phases));
        const v = verdict(metrics, results);
        const anyFailed = results.some((r, i) => r.failed > metrics[i]!.failureLimit);
        const anyStuck = results.some((r, i) => r.consecutiveInconclusive > metrics[i]!.inconclusiveLimit);
        const allDone = results.every((r, i) => r.successful >= (metrics[i]!.minSamples ?? 1));
        expect(v.phase).toBe(
          anyFailed ? "Failed" : anyStuck ? "Inconclusive" : allDone ? "Successful" : "Running",
        );
      }),
    );
  });
});

describe("dueMetrics and nextDueInMs", () => {
  const NOW = Date.parse("2025-01-01T00:01:00Z");
  const at = (iso: string) => m("Successful", "ok", iso);
  const metrics = [
    metric("never"),
    metric("fast", { interval: "10s" }),
    metric("default"),
    metric("slow", { interval: "5m" }),
  ];

  it("lists metrics never measured or whose interval has elapsed, in spec order", () => {
    const results = [
      record("fast", at("2025-01-01T00:00:50Z")), // 10 s ago, interval 10 s: due
      record("default", at("2025-01-01T00:00:45Z")), // 15 s ago, default 30 s: 15 s to go
      record("slow", at("2025-01-01T00:00:00Z")), // 60 s ago, 5 min: 240 s to go
    ];
    expect(dueMetrics(metrics, results, 30_000, NOW)).toEqual(["never", "fast"]);
    expect(nextDueInMs(metrics, results, 30_000, NOW)).toBe(0);
    const measured = [
      record("never", at("2025-01-01T00:01:00Z")),
      record("fast", at("2025-01-01T00:00:50Z"), at("2025-01-01T00:01:00Z")),
      ...results.slice(1),
    ];
    expect(dueMetrics(metrics, measured, 30_000, new Date(NOW))).toEqual([]);
    expect(nextDueInMs(metrics, measured, 30_000, new Date(NOW))).toBe(10_000);
  });

  it("uses the last measurement only", () => {
    const result = record("default", at("2025-01-01T00:00:00Z"), at("2025-01-01T00:00:50Z"));
    expect(nextDueInMs([metric("default")], [result], 30_000, NOW)).toBe(20_000);
  });

  it("treats a time in status that does not parse as due now", () => {
    const result = record("default", at("yesterday"));
    expect(dueMetrics([metric("default")], [result], 30_000, NOW)).toEqual(["default"]);
  });

  it("treats a measurement from the future (clock skew) as measured, due after its interval", () => {
    const result = record("default", at("2025-01-01T00:02:00Z"));
    expect(dueMetrics([metric("default")], [result], 30_000, NOW)).toEqual([]);
    expect(nextDueInMs([metric("default")], [result], 30_000, NOW)).toBe(90_000);
  });

  it("has nothing to wait for without metrics", () => {
    expect(dueMetrics([], [], 30_000, NOW)).toEqual([]);
    expect(nextDueInMs([], [], 30_000, NOW)).toBeUndefined();
  });

  it("reads a metric's own interval, else the default", () => {
    expect(intervalMs(metric("a", { interval: "1m30s" }), 1)).toBe(90_000);
    expect(intervalMs(metric("a"), 1234)).toBe(1234);
  });
});

describe("analysisDeadlineMs", () => {
  it("is twice the longest any metric needs to decide, at least two default intervals", () => {
    const a = metric("a", { minSamples: 3, failureLimit: 1, inconclusiveLimit: 2 }); // 7 measurements
    const b = metric("b", { interval: "1m" }); // 1 + 0 + 3 + 1 = 5 measurements of 1 min
    expect(analysisDeadlineMs([a], 10_000)).toBe(2 * 7 * 10_000);
    expect(analysisDeadlineMs([a, b], 10_000)).toBe(2 * 5 * 60_000);
    expect(analysisDeadlineMs([], 30_000)).toBe(60_000);
  });
});
