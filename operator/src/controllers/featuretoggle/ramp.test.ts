import { describe, expect, it } from "vitest";
import { analysisMetric, type AnalysisMetric } from "../../api/analysis.js";
import { featureToggleSpec, type FeatureToggleSpec } from "../../api/featuretoggle.js";
import type { Measurement } from "../../api/release.js";
import type { ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import { recordMeasurement, UNATTENDED_SLACK_MS } from "../../analysis/index.js";
import { planRamp, type RampInput } from "./ramp.js";
import { rampId, servedShare } from "./ramp-share.js";
import { foldRampMeasurements, rampAnalysisToken, rampSchedule } from "./ramp-measurements.js";

const T0 = Date.parse("2026-12-03T10:00:00Z");
const errors: AnalysisMetric = analysisMetric.parse({
  name: "errors",
  prometheus: { address: "http://prom:9090", query: 'rate(x{variant="{{variant}}"}[1m])' },
  compareToStable: { maxIncrease: 0.05 },
});

function spec(steps: unknown[], extra: Record<string, unknown> = {}): FeatureToggleSpec {
  return featureToggleSpec.parse({
    variants: { on: true, off: false },
    defaultVariant: "off",
    rollout: { variant: "on", steps, analysis: { metrics: [errors] } },
    ...extra,
  });
}

const STEPS = [
  { setWeight: 1 },
  { pause: { duration: "10s" } },
  { analysis: {} },
  { setWeight: 25 },
  { pause: {} },
  { setWeight: 50 },
];

function input(
  s: FeatureToggleSpec,
  previous: ToggleRolloutStatus | undefined,
  now: number,
  extra: Partial<RampInput> = {},
): RampInput {
  return { spec: s, previous, now, metrics: [errors], defaultIntervalMs: 1000, ...extra };
}

const m = (phase: Measurement["phase"], at = T0): Measurement => ({
  at: new Date(at).toISOString(),
  phase,
  message: `errors ${phase}`,
});

function withResults(r: ToggleRolloutStatus, ...phases: Measurement["phase"][]): ToggleRolloutStatus {
  let result;
  for (const p of phases) result = recordMeasurement(result, "errors", m(p));
  return {
    ...r,
    analysis: { ...(r.analysis ?? { startedAt: "", step: 0 }), metrics: result ? [result] : [] },
  };
}

describe("planRamp", () => {
  it("does nothing for a toggle without steps", () => {
    const s = featureToggleSpec.parse({
      variants: { on: true, off: false },
      defaultVariant: "off",
      rollout: { variant: "on", percentage: 5 },
    });
    expect(planRamp(input(s, undefined, T0))).toEqual({ events: [] });
    expect(servedShare(s, undefined)).toBeUndefined();
  });

  it("starts at step 0, applies the first share at once and waits out the timed pause", () => {
    const s = spec(STEPS);
    const plan = planRamp(input(s, undefined, T0));
    expect(plan.rollout).toMatchObject({
      id: rampId(s),
      phase: "Progressing",
      percentage: 1,
      currentStepIndex: 1,
      variant: "on",
    });
    expect(plan.waitMs).toBe(10_000);
    expect(plan.events.map((e) => e.reason)).toEqual(["RolloutStarted", "RolloutStep"]);
    expect(servedShare(s, { rollout: plan.rollout })).toBe(1);
  });

  it("serves 0% for a ramp that has not started or belongs to another spec", () => {
    const s = spec(STEPS);
    expect(servedShare(s, undefined)).toBe(0);
    const other = planRamp(input(spec([{ setWeight: 30 }, { pause: {} }]), undefined, T0)).rollout;
    expect(servedShare(s, { rollout: other })).toBe(0);
  });

  it("enters the analysis after the pause and waits for measurements until the deadline", () => {
    const s = spec(STEPS);
    const started = planRamp(input(s, undefined, T0)).rollout;
    const plan = planRamp(input(s, started, T0 + 10_000));
    expect(plan.rollout).toMatchObject({
      currentStepIndex: 2,
      phase: "Progressing",
      analysis: { step: 2, metrics: [] },
    });
    // failureLimit 0, inconclusiveLimit 3, minSamples 1: 5 intervals, doubled.
    expect(plan.waitMs).toBe(10_000);
    const late = planRamp(input(s, plan.rollout, T0 + 10_000 + 10_001));
    expect(late.rollout).toMatchObject({
      phase: "Paused",
      pauseReason: "AnalysisDeadlineExceeded",
      percentage: 1,
    });
  });

  it("does not count time no operator measured (a failover during the step) toward the analysis deadline", () => {
    const s = spec(STEPS);
    const slow = { defaultIntervalMs: 10_000 }; // deadline 100 s (5 intervals, doubled); cadence 10 s
    const started = planRamp(input(s, undefined, T0, slow)).rollout;
    const inAnalysis = planRamp(input(s, started, T0 + 10_000, slow)).rollout;
    expect(inAnalysis?.analysis?.startedAt).toBe("2026-12-03T10:00:10Z");
    // The leader died at once; a standby leads from 120 s later, past the 100 s deadline.
    const since = T0 + 130_000;
    const gap = 120_000 - 10_000 - UNATTENDED_SLACK_MS;
    const early = planRamp(input(s, inAnalysis, since + 1000, { ...slow, leaderSince: since }));
    expect(early.rollout).toMatchObject({ phase: "Progressing", currentStepIndex: 2 });
    expect(early.waitMs).toBe(10_000 + 100_000 + gap - 131_000);
    // Without that leader start, the same moment held the ramp: the defect this guards against.
    const counted = planRamp(input(s, inAnalysis, since + 1000, slow));
    expect(counted.rollout?.pauseReason).toBe("AnalysisDeadlineExceeded");
    // Unmeasured still once its moved deadline passes; the hold says what was not counted.
    const late = planRamp(input(s, inAnalysis, T0 + 110_000 + gap + 1, { ...slow, leaderSince: since }));
    expect(late.rollout).toMatchObject({ phase: "Paused", pauseReason: "AnalysisDeadlineExceeded" });
    expect(late.rollout?.message).toBe(
      `analysis at step 3 undecided after 100s (and ${gap / 1000}s no operator measured, not counted): waiting for successful measurements (errors 0/1)`,
    );
  });

  it("moves the analysis deadline by the unattended time status records", () => {
    const s = spec(STEPS);
    const inAnalysis = planRamp(input(s, planRamp(input(s, undefined, T0)).rollout, T0 + 10_000)).rollout!;
    const recorded = { ...inAnalysis, analysis: { ...inAnalysis.analysis!, unattendedSeconds: 30 } };
    // Deadline 10 s (1 s intervals) plus the 30 s recorded.
    expect(planRamp(input(s, recorded, T0 + 30_000)).rollout?.phase).toBe("Progressing");
    expect(planRamp(input(s, recorded, T0 + 50_001)).rollout?.pauseReason).toBe("AnalysisDeadlineExceeded");
  });

  it("walks on after a successful analysis up to the pause that waits for promote", () => {
    const s = spec(STEPS);
    const inAnalysis = planRamp(input(s, planRamp(input(s, undefined, T0)).rollout, T0 + 10_000)).rollout!;
    const plan = planRamp(input(s, withResults(inAnalysis, "Successful"), T0 + 11_000));
    expect(plan.rollout).toMatchObject({
      phase: "Paused",
      pauseReason: "PauseStep",
      percentage: 25,
      currentStepIndex: 4,
    });
    const promoted = planRamp(
      input(s, plan.rollout, T0 + 12_000, { action: { action: "promote", id: "p1" } }),
    );
    expect(promoted.actionResult).toBe("promoted past step 5 (pause until promoted)");
    expect(promoted.rollout).toMatchObject({ phase: "Completed", percentage: 100, currentStepIndex: 6 });
    expect(promoted.rollout?.completedAt).toBe("2026-12-03T10:00:12Z");
    expect(promoted.events.map((e) => e.reason)).toEqual([
      "ActionAccepted",
      "RolloutStep",
      "RolloutCompleted",
    ]);
    expect(servedShare(s, { rollout: promoted.rollout })).toBe(100);
  });

  it("returns everyone to the default variant at the first failed analysis, naming the metric", () => {
    const s = spec(STEPS);
    const inAnalysis = planRamp(input(s, planRamp(input(s, undefined, T0)).rollout, T0 + 10_000)).rollout!;
    const plan = planRamp(input(s, withResults(inAnalysis, "Failed"), T0 + 11_000));
    expect(plan.rollout).toMatchObject({ phase: "RolledBack", percentage: 0, failedMetric: "errors" });
    expect(plan.rollout?.message).toContain('default variant "off"');
    expect(plan.rollout?.message).toContain("errors failed 1 time");
    expect(plan.rolledBack).toBe(true);
    expect(plan.rollbackReason).toBe("AnalysisFailed");
    expect(plan.events).toEqual([expect.objectContaining({ type: "Warning", reason: "RolloutRolledBack" })]);
    expect(servedShare(s, { rollout: plan.rollout })).toBe(0);
    // It stays rolled back, however long: no new events, no re-ramp.
    const later = planRamp(input(s, plan.rollout, T0 + 99_000));
    expect(later).toEqual({ rollout: plan.rollout, events: [] });
  });

  it("holds on an inconclusive analysis; resume measures the step afresh", () => {
    const s = spec(STEPS);
    const inAnalysis = planRamp(input(s, planRamp(input(s, undefined, T0)).rollout, T0 + 10_000)).rollout!;
    const held = planRamp(
      input(
        s,
        withResults(inAnalysis, "Inconclusive", "Inconclusive", "Inconclusive", "Inconclusive"),
        T0 + 11_000,
      ),
    );
    expect(held.rollout).toMatchObject({
      phase: "Paused",
      pauseReason: "InconclusiveAnalysis",
      percentage: 1,
    });
    expect(held.events[0]?.type).toBe("Warning");
    const resumed = planRamp(input(s, held.rollout, T0 + 20_000, { action: { action: "resume", id: "r1" } }));
    expect(resumed.actionResult).toBe("resumed");
    expect(resumed.rollout).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 2,
      analysis: { metrics: [], startedAt: "2026-12-03T10:00:20Z" },
    });
    expect(resumed.rollout?.pauseReason).toBeUndefined();
  });

  it("pause holds at the current share; resume continues; pause twice is ignored", () => {
    const s = spec(STEPS);
    const r = planRamp(input(s, undefined, T0)).rollout;
    const paused = planRamp(input(s, r, T0 + 1000, { action: { action: "pause", id: "a" } }));
    expect(paused.rollout).toMatchObject({ phase: "Paused", pauseReason: "ManualPause", percentage: 1 });
    expect(paused.actionResult).toBe("paused");
    // Still held after the pause step's time has passed.
    expect(planRamp(input(s, paused.rollout, T0 + 60_000)).rollout).toMatchObject({ phase: "Paused" });
    expect(
      planRamp(input(s, paused.rollout, T0 + 2000, { action: { action: "pause", id: "b" } })).actionResult,
    ).toBe("ignored: already paused (ManualPause)");
    const resumed = planRamp(
      input(s, paused.rollout, T0 + 60_000, { action: { action: "resume", id: "c" } }),
    );
    expect(resumed.rollout).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 1,
      stepStartedAt: "2026-12-03T10:01:00Z",
    });
    expect(resumed.waitMs).toBe(10_000);
  });

  it("resume does not pass a pause step that waits for promote", () => {
    const s = spec([{ setWeight: 5 }, { pause: {} }]);
    const r = planRamp(input(s, undefined, T0)).rollout;
    expect(r).toMatchObject({ phase: "Paused", pauseReason: "PauseStep" });
    expect(planRamp(input(s, r, T0, { action: { action: "resume", id: "x" } })).actionResult).toBe(
      "ignored: waiting for promote",
    );
  });

  it("abort returns everyone to the default variant and counts as rolled back", () => {
    const s = spec(STEPS);
    const r = planRamp(input(s, undefined, T0)).rollout;
    const plan = planRamp(input(s, r, T0 + 1000, { action: { action: "abort", id: "z" } }));
    expect(plan.rollout).toMatchObject({ phase: "RolledBack", percentage: 0 });
    expect(plan.rollout?.message).toContain("aborted by action z");
    expect(plan.rolledBack).toBe(true);
    expect(plan.rollbackReason).toBe("Aborted");
    expect(
      planRamp(input(s, plan.rollout, T0 + 2000, { action: { action: "abort", id: "y" } })).actionResult,
    ).toBe("ignored: the ramp was rolled back; use retry or change spec.rollout");
  });

  it("retry restarts a rolled-back ramp from step 1", () => {
    const s = spec(STEPS);
    const r = planRamp(input(s, undefined, T0)).rollout;
    const aborted = planRamp(input(s, r, T0, { action: { action: "abort", id: "z" } })).rollout;
    const retried = planRamp(input(s, aborted, T0 + 5000, { action: { action: "retry", id: "r" } }));
    expect(retried.rollout).toMatchObject({
      phase: "Progressing",
      percentage: 1,
      currentStepIndex: 1,
      startedAt: "2026-12-03T10:00:05Z",
    });
    expect(retried.rollout?.rolledBackAt).toBeUndefined();
    expect(retried.rollout?.failedMetric).toBeUndefined();
  });

  it("promote-full completes at once; actions on a completed ramp are ignored", () => {
    const s = spec(STEPS);
    const done = planRamp(
      input(s, planRamp(input(s, undefined, T0)).rollout, T0, {
        action: { action: "promote-full", id: "f" },
      }),
    );
    expect(done.rollout).toMatchObject({ phase: "Completed", percentage: 100 });
    for (const action of ["promote", "promote-full", "abort", "pause", "resume"] as const) {
      expect(planRamp(input(s, done.rollout, T0, { action: { action, id: "n" } })).actionResult).toBe(
        "ignored: the ramp completed; the variant is served to everyone",
      );
    }
    expect(planRamp(input(s, done.rollout, T0, { action: { action: "retry", id: "n" } })).actionResult).toBe(
      "ignored: nothing to retry",
    );
  });

  it("a changed rollout spec starts a new ramp; a changed analysis does not", () => {
    const s = spec(STEPS);
    const done = planRamp(input(s, undefined, T0, { action: undefined })).rollout;
    const moreSteps = spec([{ setWeight: 1 }, { setWeight: 2 }, ...STEPS.slice(1)]);
    const restarted = planRamp(input(moreSteps, done, T0 + 1000, { action: { action: "promote", id: "p" } }));
    expect(restarted.rollout).toMatchObject({ percentage: 2, startedAt: "2026-12-03T10:00:01Z" });
    expect(restarted.actionResult).toBe("ignored: a new ramp started (the rollout spec changed)");
    const otherDefault = spec(STEPS, {
      variants: { on: true, off: false, dark: false },
      defaultVariant: "dark",
    });
    expect(rampId(otherDefault)).not.toBe(rampId(s));
    const otherMetric = featureToggleSpec.parse({
      ...s,
      rollout: { ...s.rollout, analysis: { metrics: [] } },
    });
    expect(rampId(otherMetric)).toBe(rampId(s));
  });

  it("an analysis step with no metrics passes at once; a ramp ending below 100 completes at 100", () => {
    const s = featureToggleSpec.parse({
      variants: { on: true, off: false },
      defaultVariant: "off",
      rollout: { variant: "on", steps: [{ setWeight: 10 }, { analysis: {} }, { setWeight: 40 }] },
    });
    const plan = planRamp({ spec: s, now: T0, metrics: [], defaultIntervalMs: 1000 });
    expect(plan.rollout).toMatchObject({ phase: "Completed", percentage: 100, currentStepIndex: 3 });
  });

  it("an analysis step judges only the metrics it names", () => {
    const latency = analysisMetric.parse({ ...errors, name: "latency" });
    const s = spec([{ setWeight: 10 }, { analysis: { metrics: ["latency"] } }]);
    const r = planRamp(input(s, undefined, T0, { metrics: [errors, latency] })).rollout!;
    // errors failing does not matter to this step.
    const plan = planRamp(input(s, withResults(r, "Failed"), T0 + 1000, { metrics: [errors, latency] }));
    expect(plan.rollout?.phase).toBe("Progressing");
  });
});

describe("ramp measurements", () => {
  const s = spec(STEPS);
  const inAnalysis = planRamp(input(s, planRamp(input(s, undefined, T0)).rollout, T0 + 10_000)).rollout!;

  it("schedules the step's metrics while it is live, not while held or elsewhere", () => {
    const busy = () => false;
    const live = rampSchedule({
      spec: s,
      rollout: inAnalysis,
      metrics: [errors],
      defaultIntervalMs: 1000,
      now: T0 + 10_000,
      busy,
    });
    expect(live.due.map((d) => d.name)).toEqual(["errors"]);
    expect(live.token).toBe(rampAnalysisToken(inAnalysis));
    expect(
      rampSchedule({
        spec: s,
        rollout: inAnalysis,
        metrics: [errors],
        defaultIntervalMs: 1000,
        now: T0 + 10_000,
        busy: () => true,
      }).due,
    ).toEqual([]);
    const held = { ...inAnalysis, phase: "Paused" as const };
    expect(
      rampSchedule({ spec: s, rollout: held, metrics: [errors], defaultIntervalMs: 1000, now: T0, busy }).due,
    ).toEqual([]);
    const measured = withResults(inAnalysis, "Inconclusive");
    const next = rampSchedule({
      spec: s,
      rollout: measured,
      metrics: [errors],
      defaultIntervalMs: 1000,
      now: T0 + 500,
      busy,
    });
    expect(next).toMatchObject({ due: [], nextDueInMs: 500 });
  });

  it("folds results of the live analysis and returns the others as stale", () => {
    const token = rampAnalysisToken(inAnalysis) ?? "";
    const held = [
      {
        id: 1,
        kind: "step" as const,
        metric: "errors",
        analysis: token,
        measurement: m("Successful"),
        takenAt: T0,
      },
      {
        id: 2,
        kind: "step" as const,
        metric: "errors",
        analysis: "old",
        measurement: m("Failed"),
        takenAt: T0,
      },
    ];
    const folded = foldRampMeasurements(inAnalysis, held);
    expect(folded.recorded.map((h) => h.id)).toEqual([1]);
    expect(folded.stale.map((h) => h.id)).toEqual([2]);
    expect(folded.rollout?.analysis?.metrics[0]).toMatchObject({ name: "errors", successful: 1, failed: 0 });
  });
});
