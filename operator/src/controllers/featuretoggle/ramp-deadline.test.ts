import { describe, expect, it } from "vitest";
import { analysisDeadlineMs, UNATTENDED_SLACK_MS } from "../../analysis/index.js";
import { analysisMetric, type AnalysisMetric } from "../../api/analysis.js";
import type { ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import { rampAnalysisDeadline } from "./ramp-deadline.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const errors: AnalysisMetric = analysisMetric.parse({
  name: "errors",
  interval: "10s",
  prometheus: { address: "http://prom:9090", query: "x" },
  thresholdRange: { max: 1 },
});
const LENGTH = analysisDeadlineMs([errors], 30_000);
type RampAnalysis = NonNullable<ToggleRolloutStatus["analysis"]>;
const measuredAt = (ms: number, extra: Partial<RampAnalysis> = {}): RampAnalysis => ({
  startedAt: at(T0),
  step: 2,
  metrics: [
    {
      name: "errors",
      successful: 0,
      failed: 0,
      inconclusive: 1,
      consecutiveInconclusive: 1,
      measurements: [{ at: at(ms), phase: "Inconclusive" }],
    },
  ],
  ...extra,
});
const opts = (now: number, leaderSince?: number) => ({
  defaultIntervalMs: 30_000,
  now,
  ...(leaderSince === undefined ? {} : { leaderSince }),
});

describe("rampAnalysisDeadline", () => {
  it("is the analysis' start plus its length when every measurement was on time", () => {
    expect(rampAnalysisDeadline(measuredAt(T0 + 10_000), [errors], opts(T0 + 20_000, T0))).toEqual({
      at: T0 + LENGTH,
      lengthMs: LENGTH,
      addedMs: 0,
    });
  });

  it("adds the unattended time status records (a failover already measured across)", () => {
    const d = rampAnalysisDeadline(measuredAt(T0, { unattendedSeconds: 90 }), [errors], opts(T0 + 1000));
    expect(d).toEqual({ at: T0 + LENGTH + 90_000, lengthMs: LENGTH, addedMs: 90_000 });
  });

  it("adds the gap before this leader started, not yet recorded: a new leader measures before it judges", () => {
    // Last measured at T0; the new leader started at T0 + 200 s, past the old deadline.
    const since = T0 + 200_000;
    const gap = 200_000 - 10_000 - UNATTENDED_SLACK_MS;
    const d = rampAnalysisDeadline(measuredAt(T0), [errors], opts(since + 1000, since));
    expect(d.addedMs).toBe(gap);
    expect(d.at).toBe(T0 + LENGTH + gap);
    expect(d.at).toBeGreaterThan(since + 1000);
  });

  it("counts time after this leader started as its own: an analysis it never measures still runs out", () => {
    const since = T0 + 5_000;
    const d = rampAnalysisDeadline(measuredAt(T0), [errors], opts(T0 + LENGTH + 1, since));
    expect(d.addedMs).toBe(0);
    expect(d.at).toBeLessThan(T0 + LENGTH + 1);
  });

  it("without a leader start (no reconcile yet) adds only what status records", () => {
    expect(rampAnalysisDeadline(measuredAt(T0), [errors], opts(T0 + 500_000)).addedMs).toBe(0);
  });

  it("starts the clock now for a start time that does not parse", () => {
    const d = rampAnalysisDeadline({ startedAt: "nonsense", step: 2, metrics: [] }, [errors], opts(T0));
    expect(d.at).toBe(T0 + LENGTH);
  });
});
