/**
 * What a ramp measures and when, and folding what was measured into its status (with the time
 * nobody measured before it, which moves the deadline: ramp-deadline.ts): the pure half
 * of the Releases' non-blocking measurements (`release/measurements.ts`, whose
 * `MeasurementRunner` the reconciler reuses with one analysis kind, "step").
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import type { MetricResult } from "../../api/release.js";
import type { ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import {
  cadenceMs,
  dueMetrics,
  nextDueInMs,
  recordMeasurement,
  unattendedSecondsBefore,
} from "../../analysis/index.js";
import type { SettledMeasurement } from "../release/measurements.js";
import { metricsNamed } from "../release/spec.js";
import { rampStages } from "./ramp.js";
import type { FeatureToggleSpec } from "../../api/featuretoggle.js";

/**
 * The identity of the ramp's current analysis: ramp, step and start. A result taken for another
 * (a restarted step, a new ramp) is dropped instead of counting toward this one.
 */
export function rampAnalysisToken(r: ToggleRolloutStatus | undefined): string | undefined {
  const a = r?.analysis;
  return r && a ? `${r.id}/${a.step}/${a.startedAt}` : undefined;
}

/** Whether an analysis is being measured: the ramp progresses and stands at that analysis step. */
export function liveRampAnalysis(r: ToggleRolloutStatus | undefined): boolean {
  return r?.phase === "Progressing" && r.analysis !== undefined && r.analysis.step === r.currentStepIndex;
}

export interface RampSchedule {
  token?: string;
  due: AnalysisMetric[];
  nextDueInMs?: number;
}

/** The metrics to measure now for the ramp's live analysis (not those in flight), and the wait for the rest. */
export function rampSchedule(input: {
  spec: Pick<FeatureToggleSpec, "rollout">;
  rollout: ToggleRolloutStatus | undefined;
  metrics: readonly AnalysisMetric[];
  defaultIntervalMs: number;
  now: number;
  busy: (metric: string) => boolean;
}): RampSchedule {
  const { rollout } = input;
  if (!liveRampAnalysis(rollout) || !rollout?.analysis) return { due: [] };
  const stage = rampStages(input.spec)[rollout.currentStepIndex];
  if (stage?.kind !== "analysis") return { due: [] };
  const token = rampAnalysisToken(rollout);
  const idle = metricsNamed(input.metrics, stage.metrics).filter((m) => !input.busy(m.name));
  const results = rollout.analysis.metrics;
  const dueNow = new Set(dueMetrics(idle, results, input.defaultIntervalMs, input.now));
  const wait = nextDueInMs(
    idle.filter((m) => !dueNow.has(m.name)),
    results,
    input.defaultIntervalMs,
    input.now,
  );
  return {
    ...(token ? { token } : {}),
    due: idle.filter((m) => dueNow.has(m.name)),
    ...(wait === undefined ? {} : { nextDueInMs: wait }),
  };
}

/** Records held results into the ramp's analysis; results for another analysis come back as `stale`. */
export function foldRampMeasurements(
  rollout: ToggleRolloutStatus | undefined,
  held: readonly SettledMeasurement[],
): { rollout: ToggleRolloutStatus | undefined; recorded: SettledMeasurement[]; stale: SettledMeasurement[] } {
  let out = rollout;
  const recorded: SettledMeasurement[] = [];
  const stale: SettledMeasurement[] = [];
  for (const s of held) {
    const token = rampAnalysisToken(out);
    if (!out?.analysis || token !== s.analysis) {
      stale.push(s);
      continue;
    }
    recorded.push(s);
    out = { ...out, analysis: { ...out.analysis, metrics: record(out.analysis.metrics, s) } };
  }
  return { rollout: out, recorded, stale };
}

function record(results: readonly MetricResult[], s: SettledMeasurement): MetricResult[] {
  const index = results.findIndex((r) => r.name === s.metric);
  const next = recordMeasurement(results[index], s.metric, s.measurement);
  return index < 0 ? [...results, next] : results.map((r, i) => (i === index ? next : r));
}

/**
 * `rollout` with the unattended time before the held measurements of its analysis added to
 * `analysis.unattendedSeconds`. Call it before those measurements are folded in: each gap runs
 * from the measurement before it. Measurements of another analysis (a restarted step, a new
 * ramp) change nothing.
 */
export function recordRampUnattended(
  rollout: ToggleRolloutStatus | undefined,
  held: readonly Pick<SettledMeasurement, "kind" | "analysis" | "takenAt">[],
  opts: {
    spec: Pick<FeatureToggleSpec, "rollout">;
    metrics: readonly AnalysisMetric[];
    defaultIntervalMs: number;
  },
): ToggleRolloutStatus | undefined {
  const a = rollout?.analysis;
  const token = rampAnalysisToken(rollout);
  if (!rollout || !a || token === undefined) return rollout;
  const taken = held.filter((h) => h.kind === "step" && h.analysis === token).map((h) => h.takenAt);
  if (taken.length === 0) return rollout;
  const stage = rampStages(opts.spec)[a.step];
  const measured = metricsNamed(opts.metrics, stage?.kind === "analysis" ? stage.metrics : undefined);
  const added = unattendedSecondsBefore(a, taken, cadenceMs(measured, opts.defaultIntervalMs));
  if (added === 0) return rollout;
  return { ...rollout, analysis: { ...a, unattendedSeconds: (a.unattendedSeconds ?? 0) + added } };
}
