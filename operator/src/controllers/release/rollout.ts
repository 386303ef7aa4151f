/**
 * The Release as a state machine. `step` is pure: from one
 * snapshot it computes the next status, the events to record and whether the rollout was just
 * promoted or rolled back. The status *is* the state (stable/canary revisions, step index and
 * its start, hold reason), so an operator killed at any instant resumes exactly where it was.
 *
 * A rollout is a list of stages: the canary steps followed by a final scale-up, or for
 * blue-green: preview, analysis (when metrics exist), await promotion, scale-up. `step` applies
 * the pending action once, then applies transitions until none applies (several can chain in
 * one reconcile, e.g. a `pause: 0s` step), so running it again on its own output changes
 * nothing: a reconcile that observes nothing new writes nothing.
 *
 * The parts, one responsibility each: `state.ts` (states, the context), `actions.ts` (manual
 * actions), `template-change.ts` (how a new revision enters), `stages.ts` (one function per
 * stage kind; the stages themselves come from `api/release-stages.ts`), `transitions.ts`
 * (promotion, rollback, holds), `verdicts.ts` (which analysis verdict decides what),
 * `conditions.ts` (the kstatus condition table), `history.ts` and `scale-down.ts` (the bounded
 * status lists), `observed.ts` (what the Deployments show). This file holds `step` and the
 * phase dispatch.
 */
import { isDeepStrictEqual } from "node:util";
import type { ReleaseStatus } from "../../api/release.js";
import type { Stage } from "../../api/release-stages.js";
import { act } from "./actions.js";
import { analysisDeadlineAt } from "./analysis-deadline.js";
import { conditionsFor } from "./conditions.js";
import { addNotification, pending, rollbackId } from "./delivery.js";
import { endDegradation } from "./history.js";
import { failedVerdict } from "./report.js";
import { liveScaleDown } from "./scale-down.js";
import { isReadyAt, type ObservedDeployment } from "./observed.js";
import { deploymentOf, type ReleaseSnapshot } from "./snapshot.js";
import {
  clean,
  contextOf,
  phaseEvent,
  rolledBack,
  rolloutStarted,
  stateOf,
  time,
  toPhase,
  normal,
  warning,
  type Ctx,
  type Next,
  type RolloutEvent,
  type StepResult,
} from "./state.js";
import { holdMessage, rollbackHolds, STABLE_UNAVAILABLE, stableShortfall } from "./stable-hold.js";
import { postPromotionStage, runStage } from "./stages.js";
import { firstApply, templateChange } from "./template-change.js";
import { begin, fail, hold, onFailure, resume } from "./transitions.js";
import { trafficInput } from "./traffic/routing.js";
import { endOverride } from "./undo.js";
import { backgroundVerdict } from "./verdicts.js";

export { HISTORY_LIMIT } from "./history.js";
export { SCALE_DOWN_LIMIT, DEFAULT_SCALE_DOWN_DELAY_SECONDS } from "./scale-down.js";
export { DEFAULT_ON_FAILURE } from "./transitions.js";
export { type RolloutEvent, type StepResult } from "./state.js";
export { routerFor, trafficInput } from "./traffic/routing.js";
export { liveAnalysis, type LiveAnalysis } from "./verdicts.js";

/** A guard, far above any real chain (at most 52 stages), against a transition that never settles. */
const MAX_TRANSITIONS = 256;

/** Computes the Release's next status and decisions from one snapshot. Pure. */
export function step(snapshot: ReleaseSnapshot): StepResult {
  const ctx = contextOf(snapshot);
  const result: StepResult = { status: snapshot.release.status ?? {}, events: [] };
  const take = (next: Next | undefined): boolean => {
    if (!next || (isDeepStrictEqual(clean(next.status), clean(result.status)) && !next.events?.length))
      return false;
    const events = next.events ?? [];
    const phaseChanged = next.status.phase !== result.status.phase;
    result.events.push(...(phaseChanged && events.length === 0 ? [phaseEvent(next.status)] : events));
    if (next.rolledBack) result.rolledBack = next.rolledBack;
    if (next.promoted) result.promoted = next.promoted;
    result.status = next.status;
    return true;
  };
  take(act(ctx, result.status));
  for (let i = 0; i < MAX_TRANSITIONS && take(advance(ctx, result.status)); i++);
  result.status = finish(ctx, withNotification(ctx, result));
  result.events.push(...holdEvents(ctx, snapshot.release.status ?? {}, result.status, result.events));
  const requeue = requeueAfterMs(ctx, result.status);
  return requeue === undefined ? result : { ...result, requeueAfterMs: requeue };
}

function advance(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  const state = stateOf(ctx, s);
  if (state.kind === "Initial") return firstApply(ctx, s);
  // An undo's override holds spec.template back until it changes (undo.ts).
  const changed = endOverride(ctx, s, (base) => templateChange(ctx, base));
  if (changed) return changed;
  switch (state.kind) {
    case "Steady":
      return steady(ctx, s);
    case "Verifying":
      return postPromotionStage(ctx, s) ?? steady(ctx, s);
    case "Rolling":
      return rolling(ctx, s, state.index, state.stage);
    case "RolledBack":
      return undefined; // stays until the template changes or `retry` is asked
  }
}

/**
 * No rollout in flight: Healthy when the stable revision is available, Degraded when not.
 *
 * A Deployment whose latest generation the Deployment controller has not observed yet (our own
 * relabel right after a promotion or a switch back, a resize) still reports the numbers of its
 * previous spec: they prove nothing either way, so the phase stays what it is until they are
 * observed (that status update is a watch event, hence the next reconcile). kstatus and Argo CD
 * call such a Deployment in progress, never failed: Degraded is decided on observed numbers only.
 */
function steady(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  const want = ctx.spec.replicas;
  const dep = deploymentOf(ctx.snap, s.stableRevision);
  const version = s.stableVersion ?? "";
  if (isReadyAt(dep, want)) {
    const healthy = toPhase(
      s,
      "Healthy",
      `${version} is available with ${want} replicas`,
      normal("Healthy", `${version} is available`),
    );
    // A Degraded period ends when the revision is available again: service restored.
    return healthy && { ...healthy, status: endDegradation(healthy.status, ctx.at, "Recovered") };
  }
  if (dep && !observed(dep)) return undefined;
  const count = shortfall(dep, want, version);
  // Still Progressing until the very first revision has been available once.
  if (s.phase === "Progressing") return toPhase(s, "Progressing", `deploying ${version}: ${count}`);
  const degraded = toPhase(s, "Degraded", count, warning("Degraded", count));
  // The period starts once: a changing count of missing pods is the same incident.
  return (
    degraded && { ...degraded, status: { ...degraded.status, degradedSince: s.degradedSince ?? ctx.at } }
  );
}

/** Whether the Deployment controller has observed the Deployment's latest spec (as `isReadyAt` requires). */
function observed(dep: ObservedDeployment): boolean {
  return dep.generation === undefined || (dep.observedGeneration ?? 0) >= dep.generation;
}

/**
 * What keeps an observed stable Deployment from being ready, for the Degraded message: its
 * available pods, and when all of them are available, how few run its current pod template.
 */
function shortfall(dep: ObservedDeployment | undefined, want: number, version: string): string {
  const available = `${dep?.availableReplicas ?? 0}/${want} replicas of ${version} available`;
  if (!dep || dep.availableReplicas < want || dep.updatedReplicas >= want) return available;
  return `${available}, only ${dep.updatedReplicas}/${want} updated`;
}

/** A rollout in flight: failures first, then holds, then the current stage. */
function rolling(ctx: Ctx, s: ReleaseStatus, index: number, stage: Stage): Next | undefined {
  const failed = backgroundCheck(ctx, s);
  if (failed) return failed;
  if (ctx.spec.paused) return s.pauseReason ? undefined : hold(ctx, s, "Paused", "spec.paused is set");
  if (!rolloutStarted(s)) return begin(ctx, s);
  if (s.pauseReason === "Paused") return resume(ctx, s, "spec.paused was cleared");
  if (s.pauseReason) return undefined; // held until an action releases it
  return runStage(ctx, s, index, stage);
}

/** Background analysis judges the whole rollout, whatever the stage or hold. */
function backgroundCheck(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  const v = backgroundVerdict(ctx, s);
  if (v?.phase === "Failed") {
    if (onFailure(ctx.spec) === "Pause" && s.pauseReason) return undefined;
    return fail(ctx, s, "AnalysisFailed", `background analysis: ${v.message}`);
  }
  if (v?.phase === "Inconclusive" && !s.pauseReason) {
    return hold(ctx, s, "InconclusiveAnalysis", `background analysis: ${v.message}`);
  }
  return undefined;
}

/** Fills in what is derived from the state and observation rather than decided by a transition. */
function finish(ctx: Ctx, s: ReleaseStatus): ReleaseStatus {
  const state = stateOf(ctx, s);
  const splitting = state.kind === "Rolling" && !ctx.spec.strategy.blueGreen;
  // A holding rollback still sends the canary its share of traffic: report it truthfully.
  const holding = rollbackHolds(ctx.snap, s);
  const scaleDown = liveScaleDown(ctx, s).filter(
    (e) => e.revision !== s.stableRevision && e.revision !== s.canaryRevision,
  );
  const live = [s.stableRevision, s.canaryRevision, ...scaleDown.map((e) => e.revision)];
  const ready = live.reduce((n, rev) => n + (deploymentOf(ctx.snap, rev)?.readyReplicas ?? 0), 0);
  const status: ReleaseStatus = {
    ...s,
    observedGeneration: ctx.snap.release.metadata.generation,
    canaryWeight: splitting || holding ? (ctx.router.getWeight(trafficInput(ctx.snap, s)) ?? 0) : 0,
    desiredWeight: splitting ? (s.desiredWeight ?? 0) : 0,
    scaleDown: scaleDown.length > 0 ? scaleDown : undefined,
    replicas: live.reduce((n, rev) => n + (deploymentOf(ctx.snap, rev)?.replicas ?? 0), 0),
    readyReplicas: ready,
    selector: `crescendo.dev/release=${ctx.snap.release.metadata.name ?? ""}`,
  };
  return clean({ ...status, conditions: conditionsFor(status, ctx) });
}

/**
 * A rollback of a squad with an on-call webhook records its notification as pending in the
 * rollback's own status write (`delivery.ts`): whichever process leads next delivers it. The
 * reconciler requeues for its next attempt (it knows which attempts are in flight).
 */
function withNotification(ctx: Ctx, result: StepResult): ReleaseStatus {
  const s = result.status;
  if (!result.rolledBack || !ctx.snap.squad?.oncall || !s.abortedAt) return s;
  const id = rollbackId(ctx.snap.release.metadata.uid ?? "", result.rolledBack.revision, s.abortedAt);
  // Rolled back during a rollout or reverted after promotion: either way an analysis decided.
  const byAnalysis =
    result.rolledBack.reason === "AnalysisFailed" ||
    result.rolledBack.reason === "PostPromotionAnalysisFailed";
  const metric = byAnalysis ? failedVerdict(ctx.snap)?.metric : undefined;
  return {
    ...s,
    notifications: addNotification(s.notifications, pending(id, result.rolledBack, s.abortedAt, metric)),
  };
}

/**
 * A rollback's hold for an unready stable revision begins or ends without a transition (pods
 * come and go): its Warning `StableUnavailable` when it begins (unless the rollback's own events
 * said it), its Normal `StableAvailable` when the stable revision is ready and the rollback
 * completes. Read from the Ready condition before and after, so it is said once.
 */
function holdEvents(ctx: Ctx, before: ReleaseStatus, after: ReleaseStatus, said: readonly RolloutEvent[]) {
  const reasonOf = (s: ReleaseStatus) => s.conditions?.find((c) => c.type === "Ready")?.reason;
  const was = reasonOf(before) === STABLE_UNAVAILABLE;
  const is = reasonOf(after) === STABLE_UNAVAILABLE;
  if (is && !was && !said.some((e) => e.reason === STABLE_UNAVAILABLE)) {
    const short = stableShortfall(ctx.snap, after);
    return short ? [warning(STABLE_UNAVAILABLE, holdMessage(short))] : [];
  }
  if (was && !is && rolledBack(after)) {
    const note = `the stable revision ${after.stableRevision ?? ""} is ready: traffic is back on it and the canary scales to zero`;
    return [normal("StableAvailable", note)];
  }
  return [];
}

/** Milliseconds to the next thing that happens with no watch event to announce it. */
function requeueAfterMs(ctx: Ctx, s: ReleaseStatus): number | undefined {
  const times = (s.scaleDown ?? []).map((e) => time(e.at, ctx.now));
  const state = stateOf(ctx, s);
  if (state.kind === "Rolling" && !s.pauseReason) {
    const start = time(s.stepStartedAt, ctx.now);
    const stage = state.stage;
    if (stage.kind === "pause" && stage.durationMs !== undefined) times.push(start + stage.durationMs);
    if (stage.kind === "awaitPromotion" && stage.afterMs !== undefined) times.push(start + stage.afterMs);
    if (stage.kind === "setWeight" || stage.kind === "preview" || stage.kind === "scaleUp") {
      times.push(start + ctx.spec.progressDeadlineSeconds * 1000);
    }
    if (stage.kind === "analysis") times.push(analysisDeadlineAt(ctx, s, stage.metrics));
  }
  if (state.kind === "Verifying" && s.postPromotion) times.push(time(s.postPromotion.until, ctx.now));
  const future = times.filter((t) => t > ctx.now);
  return future.length === 0 ? undefined : Math.min(...future) - ctx.now;
}
