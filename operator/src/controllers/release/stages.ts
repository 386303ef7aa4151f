/**
 * One short function per stage kind, each deciding from the snapshot whether its stage is done
 * (on to the next), still waiting (with a message saying on what) or failed. Stage `i` of
 * `ctx.stages` is what `runStage` is asked about; holds and failures of the whole rollout are
 * checked before it (`rolling` in rollout.ts).
 */
import type { ReleaseStatus } from "../../api/release.js";
import type { Stage } from "../../api/release-stages.js";
import { analysisDeadline } from "./analysis-deadline.js";
import { isReadyAt } from "./observed.js";
import { deploymentOf } from "./snapshot.js";
import { iso, normal, time, toPhase, warning, type Ctx, type Next } from "./state.js";
import { trafficInput } from "./traffic/routing.js";
import { advanceFrom, fail, hold, revert } from "./transitions.js";
import { postPromotionVerdict, stepVerdict } from "./verdicts.js";

/** Decides stage `i` with the function of its kind. */
export function runStage(ctx: Ctx, s: ReleaseStatus, i: number, stage: Stage): Next | undefined {
  switch (stage.kind) {
    case "setWeight":
      return setWeightStage(ctx, s, i, stage.weight);
    case "pause":
      return pauseStage(ctx, s, i, stage.durationMs);
    case "analysis":
      return analysisStage(ctx, s, i, stage.metrics);
    case "preview":
      return previewStage(ctx, s, i, stage.replicas);
    case "awaitPromotion":
      return awaitPromotionStage(ctx, s, i, stage.afterMs);
    case "scaleUp":
      return scaleUpStage(ctx, s, i);
  }
}

/** Done when the router says the weight is in effect (canary ready; route weights applied). */
function setWeightStage(ctx: Ctx, s: ReleaseStatus, i: number, weight: number): Next | undefined {
  const input = trafficInput(ctx.snap, s);
  const plan = ctx.router.setWeight(input, weight);
  if (plan.reached) return advanceFrom(ctx, s, i);
  const available = Math.min(input.canary?.availableReplicas ?? 0, plan.canaryReplicas);
  const observed = ctx.router.getWeight(input);
  return awaitReadiness(
    ctx,
    s,
    `step ${i}: waiting for ${weight}% on the canary (${ctx.router.name}: ${observed ?? "no"} % now, ` +
      `${available}/${plan.canaryReplicas} canary pods available)`,
  );
}

/** A timed pause ends on its own; a pause without duration holds until `promote`. */
function pauseStage(ctx: Ctx, s: ReleaseStatus, i: number, durationMs: number | undefined): Next | undefined {
  if (durationMs === undefined) return hold(ctx, s, "PauseStep", `step ${i}: paused until promote`);
  const end = time(s.stepStartedAt, ctx.now) + durationMs;
  if (ctx.now >= end) return advanceFrom(ctx, s, i);
  return toPhase(s, "Progressing", `step ${i}: pausing until ${iso(end)}`);
}

/**
 * An analysis decides by its verdict; one still undecided at its deadline holds
 * (`AnalysisDeadlineExceeded`), so no rollout stays Progressing for ever on an analysis that
 * cannot finish.
 */
function analysisStage(ctx: Ctx, s: ReleaseStatus, i: number, metrics?: string[]): Next | undefined {
  const v = stepVerdict(ctx, s, i);
  switch (v?.phase) {
    case "Successful":
      return advanceFrom(ctx, s, i);
    case "Failed":
      return fail(ctx, s, "AnalysisFailed", v.message);
    case "Inconclusive":
      return hold(ctx, s, "InconclusiveAnalysis", v.message);
    default: {
      const progress = v?.message ?? "no measurement yet";
      const deadline = analysisDeadline(ctx, s, metrics);
      if (ctx.now >= deadline.at) {
        const since = s.analysis?.startedAt ?? "";
        const added =
          deadline.addedMs > 0
            ? `, ${Math.round(deadline.addedMs / 1000)}s of it added for time no operator measured`
            : "";
        return hold(
          ctx,
          s,
          "AnalysisDeadlineExceeded",
          `step ${i}: analysis started at ${since} reached no decision by its deadline ${iso(deadline.at)}${added} (${progress})`,
        );
      }
      return toPhase(s, "Progressing", `step ${i}: analysing (${progress})`);
    }
  }
}

function previewStage(ctx: Ctx, s: ReleaseStatus, i: number, replicas: number): Next | undefined {
  const dep = deploymentOf(ctx.snap, s.canaryRevision);
  if (isReadyAt(dep, replicas)) return advanceFrom(ctx, s, i);
  return awaitReadiness(ctx, s, `preview: ${dep?.availableReplicas ?? 0}/${replicas} pods available`);
}

/** Starts when the preview is ready and analysed; promotes after the delay, or holds for `promote`. */
function awaitPromotionStage(
  ctx: Ctx,
  s: ReleaseStatus,
  i: number,
  afterMs: number | undefined,
): Next | undefined {
  if (afterMs === undefined) return hold(ctx, s, "AwaitingPromotion", "preview ready: waiting for promote");
  const end = time(s.stepStartedAt, ctx.now) + afterMs;
  if (ctx.now >= end) return advanceFrom(ctx, s, i);
  return toPhase(s, "Progressing", `preview ready: promoting at ${iso(end)}`);
}

/** The new revision must run at full size before it takes the stable Service. */
function scaleUpStage(ctx: Ctx, s: ReleaseStatus, i: number): Next | undefined {
  const dep = deploymentOf(ctx.snap, s.canaryRevision);
  const want = ctx.spec.replicas;
  if (isReadyAt(dep, want)) return advanceFrom(ctx, s, i);
  return awaitReadiness(
    ctx,
    s,
    `scaling up before promotion: ${dep?.availableReplicas ?? 0}/${want} pods available`,
  );
}

/**
 * After promotion, while the window of `status.postPromotion` runs (`post-promotion.ts`): a
 * Failed verdict reverts at once; at the window's end it closes as Verified when every metric
 * passed, else as Unverified with a Warning (nothing proved the revision bad, so it stays, but
 * someone should look); before that, nothing: Healthy and Degraded stay the steady state's.
 */
export function postPromotionStage(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  const v = s.postPromotion;
  if (!v) return undefined;
  const verdict = postPromotionVerdict(ctx, s);
  if (verdict?.phase === "Failed") return revert(ctx, s, verdict.message);
  if (ctx.now < time(v.until, ctx.now)) return undefined;
  const what = `${s.stableVersion ?? ""} (revision ${v.revision})`;
  if (verdict?.phase === "Successful") {
    const note = `${what} verified after promotion: ${verdict.message}`;
    return {
      status: { ...s, postPromotion: { ...v, result: "Verified", message: note } },
      events: [normal("PostPromotionVerified", note)],
    };
  }
  const why = verdict?.message ?? "no measurement was recorded";
  const note = `${what} kept but not verified: the window ended at ${v.until} without every metric passing (${why})`;
  return {
    status: { ...s, postPromotion: { ...v, result: "Unverified", message: note } },
    events: [warning("PostPromotionUnverified", note)],
  };
}

/**
 * Waiting on Deployment readiness is what the progress deadline bounds; pauses and analyses
 * do not count, and a hold freezes the clock (see `resume`).
 */
function awaitReadiness(ctx: Ctx, s: ReleaseStatus, message: string): Next | undefined {
  const since = time(s.stepStartedAt, ctx.now);
  if (ctx.now - since >= ctx.spec.progressDeadlineSeconds * 1000) {
    return fail(
      ctx,
      s,
      "ProgressDeadlineExceeded",
      `no progress in ${ctx.spec.progressDeadlineSeconds}s: ${message}`,
    );
  }
  return toPhase(s, "Progressing", message);
}
