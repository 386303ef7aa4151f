/**
 * Time nobody measured an analysis. An analysis deadline bounds how long measuring may take; it
 * must not count time in which no operator ran to measure (an operator restarted, a Lease
 * waiting to expire before a standby takes over, an apiserver restart the operator did not
 * survive). Such time shows in status alone, so it survives any restart: a measurement taken
 * much later than it was due. Everything here is pure.
 *
 * Only lateness counts, never outcome: a query that fails or times out is a measurement taken on
 * time (recorded Inconclusive), and a Prometheus that answers slowly or not at all delays the
 * next measurement by at most the query timeout, well within `UNATTENDED_SLACK_MS`. So a broken
 * or hostile Prometheus can never extend a deadline.
 */
import type { AnalysisMetric } from "../api/analysis.js";
import type { MetricResult } from "../api/release.js";
import { DEFAULT_QUERY_TIMEOUT_MS } from "./prometheus.js";
import { intervalMs } from "./results.js";

/**
 * How late a measurement may be before the time counts as unattended: a measurement in flight
 * holds its metric (the Prometheus client cuts a query at DEFAULT_QUERY_TIMEOUT_MS; a
 * `compareToStable` metric's two queries run at once), then a reconcile folds it and starts the
 * next, behind a work queue that may be busy. Three query timeouts cover that with room.
 */
export const UNATTENDED_SLACK_MS = 3 * DEFAULT_QUERY_TIMEOUT_MS;

/** An analysis as status records it: when it began and its metrics' results. */
export interface RecordedAnalysis {
  startedAt: string;
  metrics: readonly MetricResult[];
}

/**
 * The analysis' cadence: the shortest interval of its metrics (the default when it has none).
 * While anyone measures, no gap between two measurements of the analysis is longer.
 */
export function cadenceMs(metrics: readonly AnalysisMetric[], defaultIntervalMs: number): number {
  if (metrics.length === 0) return defaultIntervalMs;
  return Math.min(...metrics.map((m) => intervalMs(m, defaultIntervalMs)));
}

/**
 * When the analysis last measured anything: the latest measurement of any metric, else its start.
 * Times that do not parse are ignored; NaN when even the start does not.
 */
export function lastMeasuredAt(analysis: RecordedAnalysis): number {
  const times = analysis.metrics.flatMap((r) => r.measurements.map((m) => Date.parse(m.at)));
  return Math.max(Date.parse(analysis.startedAt), ...times.filter((t) => !Number.isNaN(t)));
}

/**
 * Of the time from `lastAt` (the analysis' last measurement) to `until`, what nobody measured:
 * what lies beyond one cadence and the slack, else 0. 0 when `lastAt` is unknown (NaN).
 */
export function unattendedGapMs(lastAt: number, cadence: number, until: number): number {
  if (Number.isNaN(lastAt)) return 0;
  return Math.max(0, until - (lastAt + cadence + UNATTENDED_SLACK_MS));
}

/**
 * The unattended time before each of `takenAt` (when new measurements of the analysis began, in
 * ms), in order of time, each gap measured from the measurement before it (recorded or new), so
 * overlapping gaps of different metrics count once. In whole seconds, rounded down.
 */
export function unattendedSecondsBefore(
  analysis: RecordedAnalysis,
  takenAt: readonly number[],
  cadence: number,
): number {
  let last = lastMeasuredAt(analysis);
  let gapMs = 0;
  for (const t of [...takenAt].sort((a, b) => a - b)) {
    gapMs += unattendedGapMs(last, cadence, t);
    last = Number.isNaN(last) ? t : Math.max(last, t);
  }
  return Math.floor(gapMs / 1000);
}
