import { describe, expect, it } from "vitest";
import { UNATTENDED_SLACK_MS } from "../../analysis/index.js";
import { analysisMetric, type AnalysisMetric } from "../../api/analysis.js";
import { featureToggleSpec } from "../../api/featuretoggle.js";
import type { ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import { rampAnalysisToken, recordRampUnattended } from "./ramp-measurements.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const metric = (name: string, interval: string): AnalysisMetric =>
  analysisMetric.parse({
    name,
    interval,
    prometheus: { address: "http://prom:9090", query: "x" },
    thresholdRange: { max: 1 },
  });
const FAST = metric("errors", "10s");
const SLOW = metric("latency", "5m");
const SPEC = featureToggleSpec.parse({
  variants: { on: true, off: false },
  defaultVariant: "off",
  rollout: {
    variant: "on",
    steps: [{ setWeight: 10 }, { analysis: { metrics: ["errors"] } }, { analysis: { metrics: ["latency"] } }],
    analysis: { metrics: [FAST, SLOW] },
  },
});
const ROLLOUT: ToggleRolloutStatus = {
  id: "r1",
  variant: "on",
  phase: "Progressing",
  percentage: 10,
  currentStepIndex: 1,
  startedAt: at(T0),
  analysis: {
    startedAt: at(T0),
    step: 1,
    metrics: [
      {
        name: "errors",
        successful: 1,
        failed: 0,
        inconclusive: 0,
        consecutiveInconclusive: 0,
        measurements: [{ at: at(T0), phase: "Successful" }],
      },
    ],
  },
};
const TOKEN = rampAnalysisToken(ROLLOUT) ?? "";
const opts = { spec: SPEC, metrics: [FAST, SLOW], defaultIntervalMs: 30_000 };
const late = T0 + 200_000;
// The step measures errors alone: its cadence is 10 s, not the slow metric's 5 min.
const gap = Math.floor((200_000 - 10_000 - UNATTENDED_SLACK_MS) / 1000);

describe("recordRampUnattended", () => {
  it("adds the gap before a late measurement of the ramp's analysis, to what earlier gaps recorded", () => {
    const out = recordRampUnattended(ROLLOUT, [{ kind: "step", analysis: TOKEN, takenAt: late }], opts);
    expect(out?.analysis?.unattendedSeconds).toBe(gap);
    expect(out?.analysis?.metrics).toEqual(ROLLOUT.analysis?.metrics);
    const before = { ...ROLLOUT, analysis: { ...ROLLOUT.analysis!, unattendedSeconds: 7 } };
    const again = recordRampUnattended(before, [{ kind: "step", analysis: TOKEN, takenAt: late }], opts);
    expect(again?.analysis?.unattendedSeconds).toBe(gap + 7);
  });

  it("counts overlapping gaps of two late measurements once", () => {
    const out = recordRampUnattended(
      ROLLOUT,
      [
        { kind: "step", analysis: TOKEN, takenAt: late },
        { kind: "step", analysis: TOKEN, takenAt: late + 1000 },
      ],
      opts,
    );
    expect(out?.analysis?.unattendedSeconds).toBe(gap);
  });

  it("leaves the status as it is for measurements on time, of another analysis, or with no analysis", () => {
    expect(
      recordRampUnattended(ROLLOUT, [{ kind: "step", analysis: TOKEN, takenAt: T0 + 12_000 }], opts),
    ).toBe(ROLLOUT);
    expect(recordRampUnattended(ROLLOUT, [{ kind: "step", analysis: "r0/1/x", takenAt: late }], opts)).toBe(
      ROLLOUT,
    );
    expect(recordRampUnattended(ROLLOUT, [], opts)).toBe(ROLLOUT);
    const { analysis: _a, ...none } = ROLLOUT;
    expect(recordRampUnattended(none, [{ kind: "step", analysis: TOKEN, takenAt: late }], opts)).toBe(none);
    expect(recordRampUnattended(undefined, [], opts)).toBeUndefined();
  });
});
