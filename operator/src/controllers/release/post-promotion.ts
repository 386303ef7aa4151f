/**
 * Verification after promotion (`strategy.canary.postPromotion`, `strategy.blueGreen.postPromotion`).
 * A promotion with it starts a window (`status.postPromotion`) during which the promoted revision
 * keeps being measured under full traffic and the revision it replaced keeps running (parked in
 * `status.scaleDown` until the window ends, at full size or the share the spec asks). This file
 * holds what the spec asks and what a promotion records; the stage function
 * `postPromotionStage` (stages.ts) decides, once per reconcile, with `revert` (transitions.ts):
 *
 * - a Failed verdict reverts at once, in one write: the stable revision is the previous one
 *   again (Services, HTTPRoute and its size follow in the same reconcile's plan), the promoted
 *   revision is recorded as the canary turned away, phase `Reverted`, a `RolledBack` history
 *   entry with reason `PostPromotionAnalysisFailed` (a failed change for delivery metrics), a
 *   Warning Event and the on-call notification (`rolledBack` in the step result);
 * - the window's end closes it: `Verified` when every metric passed, else `Unverified` with a
 *   Warning (nothing proved the revision bad, so it stays, but someone should look); the
 *   previous revision is scaled down when its parked time comes, which is the window's end;
 * - otherwise nothing: Healthy/Degraded stay the steady state's business.
 *
 * Pure, like every part of `step`.
 */
import { parseDuration } from "../../api/common.js";
import type { MetricResult, PostPromotion, ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import type { ScaleDownEntry } from "./scale-down.js";
import { iso, type Ctx } from "./state.js";

/** The strategy's post-promotion verification, whichever strategy it is. */
export function postPromotionOf(spec: ReleaseSpec): PostPromotion | undefined {
  return spec.strategy.canary?.postPromotion ?? spec.strategy.blueGreen?.postPromotion;
}

/** Pods the previous revision keeps during the window: its share of `spec.replicas`, at least 1. */
export function previousReplicas(spec: ReleaseSpec, pp: PostPromotion): number {
  if (spec.replicas === 0) return 0;
  return Math.max(1, Math.ceil((spec.replicas * pp.previousReplicasPercent) / 100));
}

/**
 * What a promotion of `revision` over the stable revision in `s` records when the spec verifies
 * after promotion: the window, and the previous revision parked until it ends (at the share the
 * spec asks). Undefined without verification or without a previous revision to return to.
 */
export function startVerification(
  ctx: Ctx,
  s: ReleaseStatus,
  revision: string,
): { postPromotion: NonNullable<ReleaseStatus["postPromotion"]>; parked: ScaleDownEntry } | undefined {
  const pp = postPromotionOf(ctx.spec);
  if (!pp || !s.stableRevision || s.stableRevision === revision) return undefined;
  const until = iso(ctx.now + parseDuration(pp.duration));
  return {
    postPromotion: {
      revision,
      previousRevision: s.stableRevision,
      ...(s.stableVersion !== undefined ? { previousVersion: s.stableVersion } : {}),
      startedAt: ctx.at,
      until,
      metrics: [],
      result: "Verifying",
    },
    parked: {
      revision: s.stableRevision,
      version: s.stableVersion,
      at: until,
      replicas: previousReplicas(ctx.spec, pp),
    },
  };
}

/** The earliest failing measurement of the window: when the failure began, as measured. */
export function firstFailed(metrics: readonly MetricResult[]): string | undefined {
  const failed = metrics
    .flatMap((m) => m.measurements)
    .filter((m) => m.phase === "Failed" && !Number.isNaN(Date.parse(m.at)))
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return failed[0]?.at;
}
