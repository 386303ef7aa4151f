/**
 * Running totals per metric and the analysis verdict. Everything here is pure and works on the
 * shapes stored in `status.analysis`, so an operator restarted mid-analysis continues from
 * status alone (all state needed to resume lives in status).
 */
import type { AnalysisMetric } from "../api/analysis.js";
import { parseDuration } from "../api/common.js";
import type { Measurement, MetricResult } from "../api/release.js";

/** Measurements kept per metric in status (the schema's bound). */
export const MAX_MEASUREMENTS = 10;

/**
 * Adds one measurement to a metric's totals and returns the new totals; `result` is not
 * modified. Measurements are kept oldest first, the last `MAX_MEASUREMENTS` only, so status
 * stays bounded however long a background analysis runs. `consecutiveInconclusive` counts the
 * current run of Inconclusive measurements and resets on any other judgement.
 */
export function recordMeasurement(
  result: MetricResult | undefined,
  name: string,
  m: Measurement,
): MetricResult {
  const previous = result ?? {
    name,
    successful: 0,
    failed: 0,
    inconclusive: 0,
    consecutiveInconclusive: 0,
    measurements: [],
  };
  return {
    name,
    successful: previous.successful + (m.phase === "Successful" ? 1 : 0),
    failed: previous.failed + (m.phase === "Failed" ? 1 : 0),
    inconclusive: previous.inconclusive + (m.phase === "Inconclusive" ? 1 : 0),
    consecutiveInconclusive: m.phase === "Inconclusive" ? previous.consecutiveInconclusive + 1 : 0,
    measurements: [...previous.measurements, m].slice(-MAX_MEASUREMENTS),
  };
}

export type VerdictPhase = "Running" | "Successful" | "Failed" | "Inconclusive";

export interface Verdict {
  phase: VerdictPhase;
  /** The metric that decided a Failed or Inconclusive verdict. */
  metric?: string;
  /** Why, naming the metric, its values and the threshold; ready for an Event or notification. */
  message: string;
}

const EMPTY = (name: string): MetricResult => ({
  name,
  successful: 0,
  failed: 0,
  inconclusive: 0,
  consecutiveInconclusive: 0,
  measurements: [],
});

const times = (n: number) => (n === 1 ? "1 time" : `${n} times`);

/**
 * The state of an analysis over `metrics`, from their recorded `results`, checked in order of
 * severity:
 *
 * 1. Failed: some metric failed more than its `failureLimit` times. The message quotes the
 *    metric's last failed measurement, which says which value broke which threshold.
 * 2. Inconclusive: some metric was inconclusive more than `inconclusiveLimit` times in a row;
 *    the Release pauses (InconclusiveAnalysis) rather than guess.
 * 3. Successful: every metric has at least `minSamples` (default 1) successful measurements.
 *    An analysis with no metrics is Successful: there is nothing to wait for.
 * 4. Running otherwise.
 *
 * Failed wins over Inconclusive so that a real regression is acted on even while another
 * metric's source is flaky. Results for metrics not listed are ignored; a listed metric with no
 * result counts as not yet measured. Ties go to the first metric in `metrics` order.
 */
export function verdict(metrics: readonly AnalysisMetric[], results: readonly MetricResult[]): Verdict {
  const rows = metrics.map((metric) => ({
    metric,
    result: results.find((r) => r.name === metric.name) ?? EMPTY(metric.name),
  }));

  const failed = rows.find(({ metric, result }) => result.failed > metric.failureLimit);
  if (failed) {
    const { metric, result } = failed;
    const last = lastWith(result, "Failed");
    return {
      phase: "Failed",
      metric: metric.name,
      message: `${metric.name} failed ${times(result.failed)}, more than failureLimit ${metric.failureLimit}: ${last}`,
    };
  }

  const stuck = rows.find(({ metric, result }) => result.consecutiveInconclusive > metric.inconclusiveLimit);
  if (stuck) {
    const { metric, result } = stuck;
    const last = lastWith(result, "Inconclusive");
    return {
      phase: "Inconclusive",
      metric: metric.name,
      message: `${metric.name} was inconclusive ${times(result.consecutiveInconclusive)} in a row, more than inconclusiveLimit ${metric.inconclusiveLimit}: ${last}`,
    };
  }

  const progress = rows.map(({ metric, result }) => ({
    name: metric.name,
    have: result.successful,
    need: metric.minSamples ?? 1,
  }));
  const summary = progress.map((p) => `${p.name} ${p.have}/${p.need}`).join(", ");
  if (progress.every((p) => p.have >= p.need)) {
    return {
      phase: "Successful",
      message: progress.length === 0 ? "no metrics to analyse" : `all metrics passed (${summary})`,
    };
  }
  return { phase: "Running", message: `waiting for successful measurements (${summary})` };
}

function lastWith(result: MetricResult, phase: Measurement["phase"]): string {
  const m = result.measurements.findLast((x) => x.phase === phase);
  return m?.message ?? `last ${phase.toLowerCase()} measurement no longer recorded`;
}

/** The metric's own interval, or the analysis default. */
export function intervalMs(metric: AnalysisMetric, defaultIntervalMs: number): number {
  return metric.interval === undefined ? defaultIntervalMs : parseDuration(metric.interval);
}

/**
 * Milliseconds until each metric is next due: its last measurement's time plus its interval,
 * minus now, floored at 0. Never measured, or a time in status that does not parse, is due now.
 */
function dueIn(
  metrics: readonly AnalysisMetric[],
  results: readonly MetricResult[],
  defaultIntervalMs: number,
  now: Date | number,
): { name: string; ms: number }[] {
  const nowMs = new Date(now).getTime();
  return metrics.map((metric) => {
    const last = results.find((r) => r.name === metric.name)?.measurements.at(-1);
    const lastMs = last === undefined ? Number.NaN : Date.parse(last.at);
    const ms = Number.isNaN(lastMs) ? 0 : Math.max(0, lastMs + intervalMs(metric, defaultIntervalMs) - nowMs);
    return { name: metric.name, ms };
  });
}

/**
 * Names of the metrics to measure now: never measured, or their interval has elapsed since their
 * last measurement. In `metrics` order. Time in status has second precision, so a metric can be
 * due up to a second early; that is harmless and keeps status free of sub-second noise.
 */
export function dueMetrics(
  metrics: readonly AnalysisMetric[],
  results: readonly MetricResult[],
  defaultIntervalMs: number,
  now: Date | number,
): string[] {
  return dueIn(metrics, results, defaultIntervalMs, now)
    .filter((d) => d.ms === 0)
    .map((d) => d.name);
}

/**
 * How long until the next metric is due, for the controller's `requeueAfter`: 0 if one is due
 * now, undefined when there are no metrics (nothing to wait for).
 */
export function nextDueInMs(
  metrics: readonly AnalysisMetric[],
  results: readonly MetricResult[],
  defaultIntervalMs: number,
  now: Date | number,
): number | undefined {
  const all = dueIn(metrics, results, defaultIntervalMs, now).map((d) => d.ms);
  return all.length === 0 ? undefined : Math.min(...all);
}

/**
 * How many times the time an analysis needs at most it may take before it is held
 * (`AnalysisDeadlineExceeded`): room for slow queries and retries, never a hair trigger.
 */
export const ANALYSIS_DEADLINE_FACTOR = 2;

/**
 * The deadline of one analysis, in ms: the longest any metric needs to decide when every
 * measurement is on time (`minSamples` successes, `failureLimit` failures and `inconclusiveLimit`
 * inconclusive ones before the one that tips it, at its interval), times
 * ANALYSIS_DEADLINE_FACTOR, and at least that many intervals. An analysis still Running past
 * it is not measuring as it should (a query that never answers, measurements not taken), and
 * holds with a reason instead of keeping the rollout Progressing for ever.
 */
export function analysisDeadlineMs(metrics: readonly AnalysisMetric[], defaultIntervalMs: number): number {
  const needed = metrics.map(
    (m) =>
      intervalMs(m, defaultIntervalMs) * ((m.minSamples ?? 1) + m.failureLimit + m.inconclusiveLimit + 1),
  );
  return ANALYSIS_DEADLINE_FACTOR * Math.max(defaultIntervalMs, ...needed);
}
