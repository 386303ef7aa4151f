import { describe, expect, it } from "vitest";
import type { Release } from "../../api/kinds.js";
import { releaseSpec, type Measurement, type ReleaseStatus } from "../../api/release.js";
import type { SettledMeasurement } from "./measurements.js";
import { actionOf, decidingMeasurementTime, failedVerdict, rollbackReport } from "./report.js";
import type { AnalysisVerdict, ReleaseSnapshot } from "./snapshot.js";
import type { StepResult } from "./state.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

const failed = (metric: string): AnalysisVerdict => ({
  phase: "Failed",
  metric,
  message: `${metric} failed`,
});
const running: AnalysisVerdict = { phase: "Running", message: "" };

function snapshot(
  analysis: ReleaseSnapshot["analysis"],
  status: ReleaseStatus = {},
  now = T0,
): ReleaseSnapshot {
  const release: Release = {
    metadata: { name: "web", namespace: "shop" },
    spec: releaseSpec.parse({ version: "2", template: {}, strategy: { blueGreen: {} } }),
    status,
  };
  return { release, deployments: {}, analysis, now };
}

const m = (phase: Measurement["phase"], ms: number): Measurement => ({ at: at(ms), phase, value: "1" });
/** Status whose step analysis recorded error-rate: passed, failed at T0−20 s, failed at T0−10 s. */
const measured: ReleaseStatus = {
  analysis: {
    step: 1,
    startedAt: at(T0 - 60_000),
    metrics: [
      {
        name: "error-rate",
        successful: 1,
        failed: 2,
        inconclusive: 0,
        consecutiveInconclusive: 0,
        measurements: [m("Successful", T0 - 30_000), m("Failed", T0 - 20_000), m("Failed", T0 - 10_000)],
      },
    ],
  },
};
const lastFailed = measured.analysis!.metrics[0]!.measurements[2]!;

describe("actionOf", () => {
  it("names what the controller did for each step event", () => {
    expect(
      [
        "RolledBack",
        "Promoted",
        "PromotedFull",
        "SwitchedBack",
        "ActionAccepted",
        "ActionIgnored",
        "StepCompleted",
      ].map(actionOf),
    ).toEqual(["Rollback", "Promote", "Promote", "Promote", "Action", "Action", "Rollout"]);
  });
});

describe("failedVerdict", () => {
  it("is the Failed verdict, the step analysis's before the background's", () => {
    expect(failedVerdict(snapshot({ step: failed("a"), background: failed("b") }))).toEqual({
      kind: "step",
      metric: "a",
    });
    expect(failedVerdict(snapshot({ step: running, background: failed("b") }))).toEqual({
      kind: "background",
      metric: "b",
    });
    expect(failedVerdict(snapshot({ step: running }))).toBeUndefined();
    expect(failedVerdict(snapshot({}))).toBeUndefined();
  });
});

describe("decidingMeasurementTime", () => {
  const step = { kind: "step" as const, metric: "error-rate" };

  it("is the last Failed measurement's time, exact when this reconcile folded it in", () => {
    expect(decidingMeasurementTime(measured, step, [])).toBe(T0 - 10_000);
    const settled: SettledMeasurement = {
      id: 1,
      kind: "step",
      metric: "error-rate",
      analysis: "step/r2/1/x",
      measurement: lastFailed,
      takenAt: T0 - 10_400,
    };
    expect(decidingMeasurementTime(measured, step, [settled])).toBe(T0 - 10_400);
    // The same measurement recorded for the other analysis is not this one.
    expect(decidingMeasurementTime(measured, step, [{ ...settled, kind: "background" }])).toBe(T0 - 10_000);
  });

  it("is unknown without a Failed measurement of the metric, or with a time that does not parse", () => {
    expect(
      decidingMeasurementTime(measured, { kind: "background", metric: "error-rate" }, []),
    ).toBeUndefined();
    expect(decidingMeasurementTime(measured, { kind: "step", metric: "latency" }, [])).toBeUndefined();
    const garbled: ReleaseStatus = {
      analysis: {
        ...measured.analysis!,
        metrics: [{ ...measured.analysis!.metrics[0]!, measurements: [{ ...lastFailed, at: "yesterday" }] }],
      },
    };
    expect(decidingMeasurementTime(garbled, step, [])).toBeUndefined();
  });
});

describe("rollbackReport", () => {
  const abortedAt = at(T0);
  const rolledBackStatus: ReleaseStatus = {
    phase: "RolledBack",
    stableRevision: "r1",
    canaryRevision: "r2",
    abortedAt,
    history: [
      {
        revision: "r2",
        version: "2",
        startedAt: at(T0 - 60_000),
        finishedAt: abortedAt,
        outcome: "RolledBack",
        reason: "AnalysisFailed",
      },
    ],
  };
  const result = (reason: "AnalysisFailed" | "Aborted"): StepResult => ({
    status: rolledBackStatus,
    events: [],
    rolledBack: { reason, message: "why", revision: "r2", version: "2" },
  });

  it("reports a rollback decided by analysis: the time from the deciding measurement, the metric, the squad", () => {
    const report = rollbackReport({
      before: measured,
      result: result("AnalysisFailed"),
      snapshot: snapshot({ step: failed("error-rate") }, measured, T0 + 500),
      recorded: [],
      appliedAt: T0 + 1_200,
    });
    expect(report).toEqual({ reason: "AnalysisFailed", revision: "r2", seconds: 11.2 });
  });

  it("counts any other rollback from the reconcile's clock reading, with no metric and no squad", () => {
    const report = rollbackReport({
      before: {},
      result: result("Aborted"),
      snapshot: snapshot({ step: failed("error-rate") }, measured, T0 + 500),
      recorded: [],
      appliedAt: T0 + 1_200,
    });
    expect(report).toEqual({ reason: "Aborted", revision: "r2", seconds: 0.7 });
  });

  it("reports nothing without a rollback, or for one an earlier status already recorded", () => {
    const base = {
      snapshot: snapshot({}),
      recorded: [],
      appliedAt: T0,
    };
    expect(
      rollbackReport({ ...base, before: {}, result: { status: rolledBackStatus, events: [] } }),
    ).toBeUndefined();
    expect(rollbackReport({ ...base, before: rolledBackStatus, result: result("Aborted") })).toBeUndefined();
  });
});
