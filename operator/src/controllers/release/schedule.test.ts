import { describe, expect, it } from "vitest";
import { releaseSpec, type ReleaseStatus } from "../../api/release.js";
import { measurementTime, recordMeasurement } from "../../analysis/index.js";
import { analysisToken } from "./measurements.js";
import { liveTokens, measurementSchedule } from "./schedule.js";
import type { AnalysisSetup } from "./spec.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const metric = (name: string, interval?: string) => ({
  name,
  ...(interval ? { interval } : {}),
  prometheus: { address: "http://prom:9090", query: "up" },
  thresholdRange: { max: 1 },
});

/** setWeight 25 → analysis of `errors` → setWeight 50; background analysis of `latency` (every 1m). */
const spec = releaseSpec.parse({
  version: "2",
  template: {},
  strategy: {
    canary: {
      steps: [{ setWeight: 25 }, { analysis: { metrics: ["errors"] } }, { setWeight: 50 }],
      backgroundAnalysis: { metrics: ["latency"] },
    },
  },
  analysis: { metrics: [metric("errors"), metric("latency", "1m"), metric("unused")] },
});
const setup: AnalysisSetup = { metrics: spec.analysis?.metrics ?? [], defaultInterval: "10s" };

const started = new Date(T0 - 60_000).toISOString();
/** At the analysis step, nothing measured yet. */
const atAnalysis: ReleaseStatus = {
  phase: "Progressing",
  stableRevision: "r1",
  canaryRevision: "r2",
  currentStepIndex: 1,
  stepStartedAt: started,
  analysis: { step: 1, startedAt: started, metrics: [] },
  backgroundAnalysis: { startedAt: started, metrics: [] },
};
const idle = () => false;
const measuredAt = (name: string, at: number) =>
  recordMeasurement(undefined, name, { at: measurementTime(at), phase: "Successful", value: "0" });

describe("liveTokens", () => {
  it("names each live analysis by its token", () => {
    expect(liveTokens(spec, atAnalysis)).toEqual({
      step: analysisToken(atAnalysis, "step"),
      background: analysisToken(atAnalysis, "background"),
    });
  });

  it("has no step analysis off its step or while held; background runs through a deliberate hold only", () => {
    const background = analysisToken(atAnalysis, "background");
    expect(liveTokens(spec, { ...atAnalysis, currentStepIndex: 0 })).toEqual({ step: undefined, background });
    expect(liveTokens(spec, { ...atAnalysis, phase: "Paused", pauseReason: "ManualPause" })).toEqual({
      step: undefined,
      background,
    });
    expect(liveTokens(spec, { ...atAnalysis, phase: "Paused", pauseReason: "InconclusiveAnalysis" })).toEqual(
      {
        step: undefined,
        background: undefined,
      },
    );
    expect(liveTokens(spec, { ...atAnalysis, phase: "RolledBack" })).toEqual({
      step: undefined,
      background: undefined,
    });
  });
});

describe("measurementSchedule", () => {
  it("makes every never-measured metric of a live analysis due, step analysis first, and nothing else", () => {
    const schedule = measurementSchedule({
      spec,
      status: atAnalysis,
      setup,
      now: T0,
      busy: idle,
      canaryServing: true,
    });
    expect(schedule.due.map((d) => [d.kind, d.metric.name, d.analysis])).toEqual([
      ["step", "errors", analysisToken(atAnalysis, "step")],
      ["background", "latency", analysisToken(atAnalysis, "background")],
    ]);
    expect(schedule.nextDueInMs).toBeUndefined();
  });

  it("waits for each metric's own interval, else the default, and says when the next is due", () => {
    const status: ReleaseStatus = {
      ...atAnalysis,
      analysis: { step: 1, startedAt: started, metrics: [measuredAt("errors", T0 - 4_000)] },
      backgroundAnalysis: { startedAt: started, metrics: [measuredAt("latency", T0 - 30_000)] },
    };
    // errors: every 10 s (the default), due in 6 s; latency: every minute, due in 30 s.
    expect(measurementSchedule({ spec, status, setup, now: T0, busy: idle })).toEqual({
      due: [],
      nextDueInMs: 6_000,
    });
    const later = measurementSchedule({ spec, status, setup, now: T0 + 6_000, busy: idle });
    expect(later.due.map((d) => d.metric.name)).toEqual(["errors"]);
    expect(later.nextDueInMs).toBe(24_000);
  });

  it("neither starts nor waits for a metric already being measured (its settlement reconciles)", () => {
    const busy = (kind: string, name: string) => kind === "step" && name === "errors";
    expect(
      measurementSchedule({ spec, status: atAnalysis, setup, now: T0, busy, canaryServing: true }).due.map(
        (d) => d.metric.name,
      ),
    ).toEqual(["latency"]);
    const status: ReleaseStatus = {
      ...atAnalysis,
      backgroundAnalysis: { startedAt: started, metrics: [measuredAt("latency", T0 - 30_000)] },
    };
    expect(measurementSchedule({ spec, status, setup, now: T0, busy })).toEqual({
      due: [],
      nextDueInMs: 30_000,
    });
  });

  describe("background analysis warm-up", () => {
    const fresh = (startedAt: number): ReleaseStatus => ({
      ...atAnalysis,
      analysis: { step: 1, startedAt: started, metrics: [measuredAt("errors", T0 - 1_000)] },
      backgroundAnalysis: { startedAt: new Date(startedAt).toISOString(), metrics: [] },
    });
    const background = (status: ReleaseStatus, canaryServing: boolean, now = T0) =>
      measurementSchedule({ spec, status, setup, now, busy: idle, canaryServing });

    it("takes no measurement while no canary pod is ready, and waits on no clock for it", () => {
      const schedule = background(fresh(T0 - 120_000), false);
      expect(schedule.due).toEqual([]);
      expect(schedule.nextDueInMs).toBe(9_000); // the step analysis' errors, not the background
    });

    it("waits one interval after the analysis started, even with a ready canary", () => {
      const schedule = background(fresh(T0 - 4_000), true);
      expect(schedule.due).toEqual([]);
      expect(schedule.nextDueInMs).toBe(6_000);
      expect(background(fresh(T0 - 4_000), true, T0 + 6_000).due.map((d) => d.metric.name)).toEqual([
        "latency",
      ]);
    });

    it("applies only to the first measurement: once measured, the metric's own interval rules", () => {
      const status: ReleaseStatus = {
        ...fresh(T0 - 1_000),
        backgroundAnalysis: {
          startedAt: new Date(T0 - 1_000).toISOString(),
          metrics: [measuredAt("latency", T0 - 60_000)],
        },
      };
      expect(background(status, false).due.map((d) => d.metric.name)).toEqual(["latency"]);
    });
  });

  it("measures all metrics for an analysis that names none, and nothing when no analysis is live", () => {
    const all = releaseSpec.parse({
      ...spec,
      strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: {} }] } },
    });
    expect(
      measurementSchedule({ spec: all, status: atAnalysis, setup, now: T0, busy: idle }).due.map(
        (d) => d.metric.name,
      ),
    ).toEqual(["errors", "latency", "unused"]);
    expect(
      measurementSchedule({
        spec,
        status: { ...atAnalysis, phase: "RolledBack" },
        setup,
        now: T0,
        busy: idle,
      }),
    ).toEqual({ due: [] });
  });
});

describe("post-promotion verification", () => {
  const verified = releaseSpec.parse({
    version: "2",
    template: {},
    strategy: {
      canary: { steps: [{ setWeight: 50 }], postPromotion: { duration: "10m", analysis: ["errors"] } },
    },
    analysis: { metrics: [metric("errors"), metric("latency")] },
  });
  const verifying: ReleaseStatus = {
    phase: "Healthy",
    stableRevision: "r2",
    postPromotion: {
      revision: "r2",
      previousRevision: "r1",
      startedAt: started,
      until: new Date(T0 + 60_000).toISOString(),
      metrics: [],
      result: "Verifying",
    },
  };
  const vSetup: AnalysisSetup = { metrics: verified.analysis?.metrics ?? [], defaultInterval: "10s" };

  it("measures the metrics the window names while it runs, under the window's own token", () => {
    const token = analysisToken(verifying, "postPromotion");
    expect(token).toBe(`postPromotion/r2/${started}`);
    expect(liveTokens(verified, verifying)).toEqual({ postPromotion: token });
    const s = measurementSchedule({ spec: verified, status: verifying, setup: vSetup, now: T0, busy: idle });
    expect(s.due.map((d) => [d.kind, d.metric.name, d.analysis])).toEqual([
      ["postPromotion", "errors", token],
    ]);
  });

  it("waits one interval after a measurement, and measures nothing once the window closed or reverted", () => {
    const measured = {
      ...verifying,
      postPromotion: { ...verifying.postPromotion!, metrics: [measuredAt("errors", T0 - 4_000)] },
    };
    expect(
      measurementSchedule({ spec: verified, status: measured, setup: vSetup, now: T0, busy: idle }),
    ).toEqual({
      due: [],
      nextDueInMs: 6_000,
    });
    for (const result of ["Verified", "Unverified", "Reverted"] as const) {
      const closed = { ...verifying, postPromotion: { ...verifying.postPromotion!, result } };
      expect(liveTokens(verified, closed).postPromotion).toBeUndefined();
      expect(
        measurementSchedule({ spec: verified, status: closed, setup: vSetup, now: T0, busy: idle }).due,
      ).toEqual([]);
    }
  });
});
