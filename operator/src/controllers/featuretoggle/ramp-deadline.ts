/**
 * The deadline of a ramp's analysis step, moved by the time no operator measured
 * (`analysis/unattended.ts`) exactly as a Release's is (`release/analysis-deadline.ts`): a
 * failover during a ramp step (a leader killed, its Lease left to expire) must not hold the ramp
 * `AnalysisDeadlineExceeded` for time nobody could measure in. That time is recorded in
 * `status.rollout.analysis.unattendedSeconds` when a late measurement is folded in
 * (`recordRampUnattended`, ramp-measurements.ts), so it survives any restart; before that, the gap from the last measurement to this leader's start
 * counts too, so a new leader measures before it judges. Time after its start is its own to
 * measure in, so an analysis it never measures still reaches its deadline. Pure.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import type { ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import { analysisDeadlineMs, cadenceMs, lastMeasuredAt, unattendedGapMs } from "../../analysis/index.js";

type RampAnalysis = NonNullable<ToggleRolloutStatus["analysis"]>;

/** A ramp analysis' deadline: when, its length by the metrics, and the time added because nobody measured. */
export interface RampDeadline {
  at: number;
  lengthMs: number;
  addedMs: number;
}

/**
 * When `analysis` (measuring `metrics`, at `defaultIntervalMs` where a metric names none) runs
 * out of time at `now`; `leaderSince` is when this process began to lead, if it has.
 */
export function rampAnalysisDeadline(
  analysis: RampAnalysis,
  metrics: readonly AnalysisMetric[],
  opts: { defaultIntervalMs: number; now: number; leaderSince?: number },
): RampDeadline {
  const lengthMs = analysisDeadlineMs(metrics, opts.defaultIntervalMs);
  const recorded = (analysis.unattendedSeconds ?? 0) * 1000;
  const pending =
    opts.leaderSince === undefined
      ? 0
      : unattendedGapMs(
          lastMeasuredAt(analysis),
          cadenceMs(metrics, opts.defaultIntervalMs),
          Math.min(opts.now, opts.leaderSince),
        );
  const addedMs = recorded + pending;
  const started = Date.parse(analysis.startedAt);
  return { at: (Number.isNaN(started) ? opts.now : started) + lengthMs + addedMs, lengthMs, addedMs };
}
