/**
 * Which measurements are due and when the next one is. For each analysis still live
 * under the written status: the metrics not already being measured whose interval has passed,
 * and the wait until the earliest of the others. Pure; the reconciler cancels what is no longer
 * live, starts what is due in the `MeasurementRunner`, and requeues for the wait.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import { parseDuration } from "../../api/common.js";
import type { ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { dueMetrics, nextDueInMs } from "../../analysis/index.js";
import { analysisToken, type AnalysisKind } from "./measurements.js";
import { metricsNamed, type AnalysisSetup } from "./spec.js";
import { liveAnalysis } from "./verdicts.js";

/** The token of each analysis live under a status (`analysisToken`); undefined when not live. */
export type LiveTokens = Record<AnalysisKind, string | undefined>;

/** A measurement to start: of `metric`, for the analysis `analysis` (its token) of `kind`. */
export interface DueMeasurement {
  kind: AnalysisKind;
  analysis: string;
  metric: AnalysisMetric;
}

export interface MeasurementSchedule {
  /** What to start now, step analysis first, each in spec order. */
  due: DueMeasurement[];
  /** Milliseconds until the next of the others is due; absent when none waits. */
  nextDueInMs?: number;
}

/**
 * The analyses live under `status` (the output of `step`), by token. Measurements of any other
 * analysis are cancelled: their results would count toward nothing.
 */
export function liveTokens(spec: ReleaseSpec, status: ReleaseStatus): LiveTokens {
  const live = liveAnalysis(spec, status);
  return {
    step: live.step ? analysisToken(status, "step") : undefined,
    background: live.background ? analysisToken(status, "background") : undefined,
    postPromotion: live.postPromotion ? analysisToken(status, "postPromotion") : undefined,
  };
}

/**
 * The measurements due at `now` under the written `status`, and when the next is. `busy` says
 * whether a measurement of a metric is already in flight or settled but not yet recorded: such a
 * metric is neither due nor waited for (its settlement brings the next reconcile).
 */
export function measurementSchedule(input: {
  spec: ReleaseSpec;
  status: ReleaseStatus;
  setup: AnalysisSetup;
  now: number;
  busy: (kind: AnalysisKind, metric: string) => boolean;
  /** Whether a pod of the canary revision is ready; background analysis waits for it. */
  canaryServing?: boolean;
}): MeasurementSchedule {
  const { spec, status, setup, now, busy } = input;
  const live = liveAnalysis(spec, status);
  const tokens = liveTokens(spec, status);
  const intervalMs = parseDuration(setup.defaultInterval);
  const due: DueMeasurement[] = [];
  let next: number | undefined;
  for (const kind of ["step", "background", "postPromotion"] as const) {
    const token = tokens[kind];
    const which = live[kind];
    if (token === undefined || which === undefined) continue;
    const results = resultsOf(status, kind);
    if (kind === "background" && results.length === 0) {
      // Warm-up: background analysis starts with the rollout, before the canary has pods or
      // series; a query then finds no data and would count toward inconclusiveLimit, holding a
      // good rollout. Its first measurement waits for a ready canary pod and one interval.
      const warm = backgroundWarmUpWait(status, input.canaryServing === true, intervalMs, now);
      if (warm !== 0) {
        if (warm !== undefined) next = next === undefined ? warm : Math.min(next, warm);
        continue;
      }
    }
    const idle = metricsNamed(setup.metrics, which.metrics).filter((m) => !busy(kind, m.name));
    const dueNow = new Set(dueMetrics(idle, results, intervalMs, now));
    for (const metric of idle.filter((m) => dueNow.has(m.name))) due.push({ kind, analysis: token, metric });
    const wait = nextDueInMs(
      idle.filter((m) => !dueNow.has(m.name)),
      results,
      intervalMs,
      now,
    );
    if (wait !== undefined) next = next === undefined ? wait : Math.min(next, wait);
  }
  return next === undefined ? { due } : { due, nextDueInMs: next };
}

/** The results recorded so far for the analysis of `kind`. */
function resultsOf(status: ReleaseStatus, kind: AnalysisKind) {
  const analysis = {
    step: status.analysis,
    background: status.backgroundAnalysis,
    postPromotion: status.postPromotion,
  }[kind];
  return analysis?.metrics ?? [];
}

/**
 * Milliseconds until background analysis may take its first measurement: 0 once a canary pod is
 * ready and one interval has passed since the analysis started; undefined while no canary pod
 * is ready (the Deployment's change brings the next reconcile, nothing to wait for by clock).
 */
export function backgroundWarmUpWait(
  status: ReleaseStatus,
  canaryServing: boolean,
  intervalMs: number,
  now: number,
): number | undefined {
  if (!canaryServing) return undefined;
  const started = Date.parse(status.backgroundAnalysis?.startedAt ?? "");
  if (!Number.isFinite(started)) return 0;
  return Math.max(0, started + intervalMs - now);
}
