/**
 * The deadline of a step's analysis: when it is still Running after this long, the rollout holds
 * (`AnalysisDeadlineExceeded`) rather than stay Progressing for ever. The length is the analysis
 * module's (`analysisDeadlineMs`); this file finds its inputs in the snapshot.
 */
import { analysisDeadlineMs } from "../../analysis/index.js";
import { ANALYSIS_INTERVAL_BOUNDS } from "../../api/analysis.js";
import { parseDuration } from "../../api/common.js";
import type { ReleaseStatus } from "../../api/release.js";
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

/** When the analysis in `s` (of a stage measuring `names`, all metrics when absent) runs out of time. */
export function analysisDeadlineAt(ctx: Ctx, s: ReleaseStatus, names: readonly string[] | undefined): number {
  const all = ctx.spec.analysis?.metrics ?? [];
  const metrics = names === undefined ? all : all.filter((m) => names.includes(m.name));
  return time(s.analysis?.startedAt, ctx.now) + analysisDeadlineMs(metrics, defaultIntervalMs(ctx));
}
