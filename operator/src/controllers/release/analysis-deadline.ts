/**
 * The deadline of a step's analysis: when it is still Running after this long, the rollout holds
 * (`AnalysisDeadlineExceeded`) rather than stay Progressing for ever. The length is the analysis
 * module's (`analysisDeadlineMs`); this file finds its inputs in the snapshot, and moves it by
 * the time no operator measured (`analysis/unattended.ts`): recorded in status
 * (`analysis.unattendedSeconds`) when a late measurement is folded in, and, before that, the gap
 * from the last measurement to this leader's start, so a new leader does not hold an analysis
 * at once for time nobody could measure it.
 */
import {
  analysisDeadlineMs,
  cadenceMs,
  lastMeasuredAt,
  unattendedGapMs,
  unattendedSecondsBefore,
} from "../../analysis/index.js";
import type { AnalysisMetric } from "../../api/analysis.js";
import { ANALYSIS_INTERVAL_BOUNDS } from "../../api/analysis.js";
import { parseDuration } from "../../api/common.js";
import { stagesOf } from "../../api/release-stages.js";
import type { ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { analysisToken, type SettledMeasurement } from "./measurements.js";
import { metricsNamed } from "./spec.js";
import { time, type Ctx } from "./state.js";

/**
 * The default interval the analysis runs at: as the controller resolved it (Release, squad,
 * 30s), else the Release's own, else the longest the CRD allows, so a deadline computed without
 * the squad's default is late rather than early.
 */
function defaultIntervalMs(ctx: Ctx): number {
  if (ctx.snap.analysisIntervalMs !== undefined) return ctx.snap.analysisIntervalMs;
  const own = ctx.spec.analysis?.interval;
  return own ? parseDuration(own) : ANALYSIS_INTERVAL_BOUNDS.maxMs;
}

/** A step analysis' deadline, and how much of it is time added because nobody measured. */
export interface AnalysisDeadline {
  at: number;
  addedMs: number;
}

/** When the analysis in `s` (of a stage measuring `names`, all metrics when absent) runs out of time. */
export function analysisDeadline(
  ctx: Ctx,
  s: ReleaseStatus,
  names: readonly string[] | undefined,
): AnalysisDeadline {
  const metrics = metricsNamed(ctx.spec.analysis?.metrics ?? [], names);
  const interval = defaultIntervalMs(ctx);
  const a = s.analysis;
  const recorded = (a?.unattendedSeconds ?? 0) * 1000;
  // Not yet recorded: the gap up to when this leader started. Time since is this leader's to
  // measure in, so an analysis it never measures still reaches its deadline.
  const since = ctx.snap.leaderSince;
  const pending =
    a && since !== undefined
      ? unattendedGapMs(lastMeasuredAt(a), cadenceMs(metrics, interval), Math.min(ctx.now, since))
      : 0;
  const addedMs = recorded + pending;
  return { at: time(a?.startedAt, ctx.now) + analysisDeadlineMs(metrics, interval) + addedMs, addedMs };
}

/** `analysisDeadline(…).at`. */
export function analysisDeadlineAt(ctx: Ctx, s: ReleaseStatus, names: readonly string[] | undefined): number {
  return analysisDeadline(ctx, s, names).at;
}

/**
 * `status` with the unattended time before the held step measurements of its live analysis
 * added to `analysis.unattendedSeconds`. Call it on the status before those measurements are
 * folded in: each gap runs from the measurement before it. Measurements of another analysis
 * (stale, or background and post-promotion ones, which have no deadline) change nothing.
 */
export function recordUnattended(
  spec: ReleaseSpec,
  status: ReleaseStatus,
  held: readonly Pick<SettledMeasurement, "kind" | "analysis" | "takenAt">[],
  metrics: readonly AnalysisMetric[],
  defaultIntervalMs: number,
): ReleaseStatus {
  const a = status.analysis;
  const token = analysisToken(status, "step");
  if (!a || token === undefined) return status;
  const taken = held.filter((h) => h.kind === "step" && h.analysis === token).map((h) => h.takenAt);
  if (taken.length === 0) return status;
  const stage = stagesOf(spec)[a.step ?? -1];
  const measured = metricsNamed(metrics, stage?.kind === "analysis" ? stage.metrics : undefined);
  const added = unattendedSecondsBefore(a, taken, cadenceMs(measured, defaultIntervalMs));
  if (added === 0) return status;
  return { ...status, analysis: { ...a, unattendedSeconds: (a.unattendedSeconds ?? 0) + added } };
}
