/**
 * Which analysis verdict may decide what, and which analyses are live. The state machine never
 * reads measurements: it reads the verdicts in the snapshot, and only those computed from the
 * analysis objects it is judging, so a verdict about an analysis that has since been restarted
 * can never decide the new one.
 */
import type { ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { currentStage } from "../../api/release-stages.js";
import { PROBLEM_HOLDS } from "./conditions.js";
import type { AnalysisVerdict } from "./snapshot.js";
import { postPromotionOf } from "./post-promotion.js";
import { rolledBack, verifying, type Ctx } from "./state.js";

/**
 * The step verdict applies only to the analysis it was computed from: the observed
 * `status.analysis`, for the current step. An analysis (re)started during this step is a new
 * object, so a verdict about the previous one can never decide it.
 */
export function stepVerdict(ctx: Ctx, s: ReleaseStatus, i: number): AnalysisVerdict | undefined {
  const observed = ctx.snap.release.status?.analysis;
  return s.analysis && s.analysis === observed && s.analysis.step === i ? ctx.snap.analysis.step : undefined;
}

/** The background verdict, when background analysis is configured and the verdict is about the analysis in `s`. */
export function backgroundVerdict(ctx: Ctx, s: ReleaseStatus): AnalysisVerdict | undefined {
  if (!ctx.spec.strategy.canary?.backgroundAnalysis) return undefined;
  const observed = ctx.snap.release.status?.backgroundAnalysis;
  return s.backgroundAnalysis && s.backgroundAnalysis === observed ? ctx.snap.analysis.background : undefined;
}

/** The post-promotion verdict, when it is about the verification window in `s` as observed. */
export function postPromotionVerdict(ctx: Ctx, s: ReleaseStatus): AnalysisVerdict | undefined {
  const observed = ctx.snap.release.status?.postPromotion;
  return s.postPromotion && s.postPromotion === observed ? ctx.snap.analysis.postPromotion : undefined;
}

/** A new, empty background analysis when the spec has one. */
export function freshBackground(ctx: Ctx): ReleaseStatus["backgroundAnalysis"] {
  return ctx.spec.strategy.canary?.backgroundAnalysis ? { startedAt: ctx.at, metrics: [] } : undefined;
}

/** What the controller should be measuring now. `metrics` absent means all of them. */
export interface LiveAnalysis {
  /** The analysis of the current step, recorded in `status.analysis`. */
  step?: { index: number; metrics?: string[] };
  /** The background analysis, recorded in `status.backgroundAnalysis`. */
  background?: { metrics?: string[] };
  /** The verification after promotion, recorded in `status.postPromotion`. */
  postPromotion?: { metrics: string[] };
}

/**
 * The analyses to measure under `status` (the output of `step`). A step analysis runs while its
 * step is current and nothing holds the rollout; background analysis runs for the whole
 * rollout, through deliberate holds, and stops on a problem hold or a rollback. After promotion,
 * the verification window's analysis runs until the window closes (or the spec drops it).
 */
export function liveAnalysis(spec: ReleaseSpec, status: ReleaseStatus): LiveAnalysis {
  const pp = postPromotionOf(spec);
  if (verifying(status) && pp) return { postPromotion: { metrics: pp.analysis } };
  if (!status.canaryRevision || rolledBack(status)) return {};
  const { index, stage } = currentStage(spec, status);
  const stepLive = stage.kind === "analysis" && !status.pauseReason && status.analysis?.step === index;
  const bg = spec.strategy.canary?.backgroundAnalysis;
  const problem = status.pauseReason !== undefined && PROBLEM_HOLDS.has(status.pauseReason);
  const bgLive = bg !== undefined && status.backgroundAnalysis !== undefined && !problem;
  return {
    ...(stepLive ? { step: { index, ...(stage.metrics ? { metrics: stage.metrics } : {}) } } : {}),
    ...(bgLive ? { background: bg.metrics ? { metrics: bg.metrics } : {} } : {}),
  };
}
