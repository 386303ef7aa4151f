/**
 * The transitions of a rollout: entering and leaving a stage, promotion, failure (a rollback or
 * a hold, as `spec.rollback.onFailure` says), holds and their release, retry, and the abort of a
 * promotion. Each returns the status it leads to and the events it causes; none decides when it
 * applies (the stages, the actions and `step` do).
 */
import type { PauseReason, ReleaseChange, ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { currentStage } from "../../api/release-stages.js";
import { PROBLEM_HOLDS } from "./conditions.js";
import { endDegradation, firstFailure, historyEntry, recordHistory } from "./history.js";
import { firstFailed, startVerification } from "./post-promotion.js";
import { park, previousStable, without, type ScaleDownEntry } from "./scale-down.js";
import { holdMessage, rollbackHolds, STABLE_UNAVAILABLE, stableShortfall } from "./stable-hold.js";
import {
  describeStage,
  iso,
  normal,
  ROLLOUT_CLEARED,
  time,
  warning,
  type Ctx,
  type Next,
  type RollbackReason,
} from "./state.js";
import { backgroundVerdict, freshBackground } from "./verdicts.js";

/** `spec.rollback.onFailure` when the block is absent. */
export const DEFAULT_ON_FAILURE = "Rollback";

/** What a failure does under this spec: roll back (the default) or hold for a person. */
export function onFailure(spec: ReleaseSpec): "Rollback" | "Pause" {
  return spec.rollback?.onFailure ?? DEFAULT_ON_FAILURE;
}

/** Starts stage `i`: its clock, its weight, or a fresh analysis. */
export function enterStage(ctx: Ctx, s: ReleaseStatus, i: number): ReleaseStatus {
  const base: ReleaseStatus = { ...s, currentStepIndex: i, stepStartedAt: ctx.at };
  const stage = ctx.stages[i];
  if (stage?.kind === "setWeight") return { ...base, desiredWeight: stage.weight };
  if (stage?.kind === "analysis") return { ...base, analysis: { startedAt: ctx.at, step: i, metrics: [] } };
  return base;
}

/**
 * Starts a rollout recorded in `base` (a new revision, or a retry): stage 0 with a fresh
 * background analysis, or, while `spec.paused` is set, only the record of it, held as `Paused`
 * with no stage, so no canary pod, traffic or measurement exists until `begin`. `reason` names
 * the event of a rollout that does start.
 */
export function startStages(ctx: Ctx, base: ReleaseStatus, note: string, reason = "RolloutStarted"): Next {
  if (ctx.spec.paused) {
    const message = `${note}; spec.paused is set: the rollout starts when it is cleared`;
    return {
      status: {
        ...base,
        currentStepIndex: undefined,
        stepStartedAt: undefined,
        backgroundAnalysis: undefined,
        phase: "Paused",
        pauseReason: "Paused",
        pausedAt: ctx.at,
        message,
      },
      events: [normal("RolloutPending", message)],
    };
  }
  const status = enterStage(ctx, { ...base, backgroundAnalysis: freshBackground(ctx) }, 0);
  return {
    status: { ...status, phase: "Progressing", message: note },
    events: [normal(reason, note)],
  };
}

/** `spec.paused` was cleared on a rollout recorded while it was set: stage 0 starts now. */
export function begin(ctx: Ctx, s: ReleaseStatus): Next {
  const note = `spec.paused was cleared: rolling out ${s.canaryVersion ?? ""} (revision ${s.canaryRevision ?? ""})`;
  const base: ReleaseStatus = { ...s, phase: "Progressing", pauseReason: undefined, pausedAt: undefined };
  const status = enterStage(ctx, { ...base, backgroundAnalysis: freshBackground(ctx) }, 0);
  return { status: { ...status, message: note }, events: [normal("RolloutStarted", note)] };
}

/** Leaves stage `i`: on to the next one, or promotion after the last. */
export function advanceFrom(ctx: Ctx, s: ReleaseStatus, i: number): Next {
  const done = normal("StepCompleted", `step ${i} (${describeStage(ctx.stages[i])}) completed`);
  if (i + 1 >= ctx.stages.length) {
    const promoted = promote(ctx, s);
    return { ...promoted, events: [done, ...(promoted.events ?? [])] };
  }
  return { status: enterStage(ctx, { ...s, phase: "Progressing" }, i + 1), events: [done] };
}

/**
 * The canary becomes stable: the stable Service now selects its revision (its pods keep
 * running untouched); the old stable is kept for the scale-down delay so a switch back is
 * instant, or, when the spec verifies after promotion, until the verification window ends
 * (`post-promotion.ts`), at the size the spec asks.
 */
function promote(ctx: Ctx, s: ReleaseStatus): Next {
  const revision = s.canaryRevision ?? "";
  const version = s.canaryVersion ?? "";
  const note = `promoted ${version} (revision ${revision})`;
  const entry = historyEntry(
    revision,
    version,
    s.rolloutStartedAt ?? ctx.at,
    ctx.at,
    "Promoted",
    "Completed",
    { change: changeOf(ctx, revision), replacedRevision: s.stableRevision },
  );
  // A Degraded stable ends here: traffic moves to the new, available revision.
  const restored = endDegradation(s, ctx.at, "Promoted");
  const verification = startVerification(ctx, s, revision);
  const verifyNote = verification
    ? `; verifying it until ${verification.postPromotion.until}, ${verification.parked.version ?? ""} (revision ${verification.parked.revision}) kept with ${verification.parked.replicas ?? 0} replicas to revert to`
    : "";
  return {
    status: {
      ...restored,
      ...ROLLOUT_CLEARED,
      stableRevision: revision,
      stableVersion: version,
      scaleDown: park(s.scaleDown, verification?.parked ?? previousStable(ctx, s)),
      history: recordHistory(restored.history, entry),
      ...(verification ? { postPromotion: verification.postPromotion } : {}),
      phase: "Healthy",
      message: note + verifyNote,
    },
    events: [normal("Promoted", note + verifyNote)],
    promoted: { revision, version },
  };
}

/**
 * Post-promotion verification failed (`post-promotion.ts`): back to the previous revision in one
 * write. It becomes stable again (the plan moves the Services and the HTTPRoute to it and sizes
 * it to `spec.replicas`); the promoted revision is recorded as the canary turned away, so the
 * spec's template is not rolled out again until it changes or `retry` is asked. When the
 * previous revision was kept at a share and is not ready at full size yet, the revert holds like
 * any rollback (`stable-hold.ts`): traffic goes wherever pods are ready until it is.
 */
export function revert(ctx: Ctx, s: ReleaseStatus, why: string): Next | undefined {
  const v = s.postPromotion;
  if (!v) return undefined;
  const revision = v.revision;
  const version = s.stableVersion ?? "";
  const message = `post-promotion analysis failed: ${why}`;
  const entry = historyEntry(
    revision,
    version,
    v.startedAt,
    ctx.at,
    "RolledBack",
    "PostPromotionAnalysisFailed",
    { change: changeOf(ctx, revision), failureStartedAt: firstFailed(v.metrics) },
  );
  const reverted: ReleaseStatus = {
    ...s,
    ...ROLLOUT_CLEARED,
    stableRevision: v.previousRevision,
    stableVersion: v.previousVersion,
    canaryRevision: revision,
    canaryVersion: version,
    abortedAt: ctx.at,
    scaleDown: without(s.scaleDown, v.previousRevision),
    history: recordHistory(s.history, entry),
    postPromotion: { ...v, result: "Reverted", message },
    phase: "Reverted",
  };
  const note = `reverted ${version} (revision ${revision}) to ${v.previousVersion ?? ""} (revision ${v.previousRevision}): ${message}`;
  const next = rolledBackTo(ctx, reverted, note, {
    reason: "PostPromotionAnalysisFailed",
    message,
    revision,
    version,
  });
  // The Event names what happened to the Release: Reverted, not a rollback during a rollout.
  const events = (next.events ?? []).map((e) =>
    e.reason === "RolledBack" ? { ...e, reason: "Reverted" } : e,
  );
  return { ...next, events };
}

/** A failure: a rollback, or with `onFailure: Pause` a problem hold. */
export function fail(
  ctx: Ctx,
  s: ReleaseStatus,
  reason: Exclude<RollbackReason, "Aborted" | "PostPromotionAnalysisFailed">,
  message: string,
): Next {
  return onFailure(ctx.spec) === "Pause" ? hold(ctx, s, reason, message) : rollback(ctx, s, reason, message);
}

/**
 * Rollback in one step: all traffic to stable and the canary to zero replicas (the plan and
 * the router carry it out in the same reconcile). The canary revision stays recorded, so the
 * Release stays RolledBack until the template changes or `retry` is asked. When the stable
 * revision is not ready, the rollback holds instead of leaving no pods (`stable-hold.ts`), and
 * says so: in the message, a `StableUnavailable` Warning, and the notification.
 */
export function rollback(ctx: Ctx, s: ReleaseStatus, reason: RollbackReason, message: string): Next {
  const revision = s.canaryRevision ?? "";
  const version = s.canaryVersion ?? "";
  const entry = historyEntry(revision, version, s.rolloutStartedAt ?? ctx.at, ctx.at, "RolledBack", reason, {
    change: changeOf(ctx, revision),
    failureStartedAt: firstFailure(s),
  });
  const rolled: ReleaseStatus = {
    ...s,
    phase: "RolledBack",
    desiredWeight: 0,
    canaryWeight: 0,
    abortedAt: ctx.at,
    pauseReason: undefined,
    pausedAt: undefined,
    history: recordHistory(s.history, entry),
  };
  return rolledBackTo(ctx, rolled, `rolled back ${version} (revision ${revision}): ${message}`, {
    reason,
    message,
    revision,
    version,
  });
}

/**
 * The status, events and report of a rollback whose status is `rolled`: the note as is when the
 * stable revision is ready, else followed by why the canary keeps serving.
 */
function rolledBackTo(
  ctx: Ctx,
  rolled: ReleaseStatus,
  note: string,
  facts: { reason: RollbackReason; message: string; revision: string; version: string },
): Next {
  const short = rollbackHolds(ctx.snap, rolled) ? stableShortfall(ctx.snap, rolled) : undefined;
  if (!short) {
    return {
      status: { ...rolled, message: note },
      events: [warning("RolledBack", note)],
      rolledBack: { ...facts, stableAvailable: true },
    };
  }
  const held = holdMessage(short);
  return {
    status: { ...rolled, message: `${note}; ${held}` },
    events: [warning("RolledBack", note), warning(STABLE_UNAVAILABLE, held)],
    rolledBack: { ...facts, message: `${facts.message}; ${held}`, stableAvailable: false },
  };
}

/** Holds the rollout for `reason`; a problem hold is a Warning, a deliberate one is not. */
export function hold(ctx: Ctx, s: ReleaseStatus, reason: PauseReason, message: string): Next {
  const event = PROBLEM_HOLDS.has(reason) ? warning(reason, message) : normal(reason, message);
  return {
    status: { ...s, phase: "Paused", pauseReason: reason, pausedAt: ctx.at, message },
    events: [event],
  };
}

/**
 * Releases a hold. A deliberate pause froze the stage's clock, so the step start moves by the
 * time spent paused: a timed pause and the progress deadline resume where they stopped. After a
 * problem hold the stage starts over: a fresh deadline, and a fresh analysis for the one whose
 * verdict caused it.
 */
export function resume(ctx: Ctx, s: ReleaseStatus, note: string): Next {
  const problem = s.pauseReason !== undefined && PROBLEM_HOLDS.has(s.pauseReason);
  const paused = ctx.now - time(s.pausedAt, ctx.now);
  const base = unheld(ctx, s);
  const status: ReleaseStatus = problem
    ? restartStage(ctx, base)
    : { ...base, stepStartedAt: iso(time(s.stepStartedAt, ctx.now) + paused) };
  return { status: { ...status, message: note }, events: [normal("Resumed", note)] };
}

/** Clears a hold; a background analysis that caused it starts afresh so it cannot re-trigger. */
export function unheld(ctx: Ctx, s: ReleaseStatus): ReleaseStatus {
  const bg = backgroundVerdict(ctx, s);
  const reset = bg?.phase === "Failed" || bg?.phase === "Inconclusive";
  return {
    ...s,
    phase: "Progressing",
    pauseReason: undefined,
    pausedAt: undefined,
    ...(reset ? { backgroundAnalysis: freshBackground(ctx) } : {}),
  };
}

function restartStage(ctx: Ctx, s: ReleaseStatus): ReleaseStatus {
  return enterStage(ctx, s, currentStage(ctx.spec, s).index);
}

/** The rollout of the same canary revision again, from step 0 (after RolledBack). */
export function retry(ctx: Ctx, s: ReleaseStatus): Next {
  const note = `retrying the rollout of ${s.canaryVersion ?? ""} (revision ${s.canaryRevision ?? ""}) from step 0`;
  const base: ReleaseStatus = {
    ...s,
    ...ROLLOUT_CLEARED,
    canaryRevision: s.canaryRevision,
    canaryVersion: s.canaryVersion,
    rolloutStartedAt: ctx.at,
    analysis: undefined,
  };
  return startStages(ctx, base, note, "RolloutRetried");
}

/**
 * `abort` after promotion, while the previous stable still runs (its scale-down is pending):
 * switch back to it, and record the promoted revision as rolled back.
 */
export function abortPromotion(ctx: Ctx, s: ReleaseStatus, parked: ScaleDownEntry, id: string): Next {
  const revision = s.stableRevision ?? "";
  const version = s.stableVersion ?? "";
  const previous = parked.version ?? "";
  const message = `aborted by action ${id}: switched back to ${previous} (revision ${parked.revision})`;
  const live = s.history?.find((h) => h.revision === revision && h.outcome === "Promoted")?.finishedAt;
  const entry = historyEntry(revision, version, live ?? ctx.at, ctx.at, "RolledBack", "Aborted", {
    change: changeOf(ctx, revision),
  });
  const note = `rolled back ${version} (revision ${revision}): ${message}`;
  // The aborted revision's Degraded period, if any, ends with the switch back.
  const restored = endDegradation(s, ctx.at, "SwitchedBack");
  const rolled: ReleaseStatus = {
    ...restored,
    ...ROLLOUT_CLEARED,
    stableRevision: parked.revision,
    stableVersion: previous,
    canaryRevision: revision,
    canaryVersion: version,
    abortedAt: ctx.at,
    scaleDown: without(s.scaleDown, parked.revision),
    history: recordHistory(restored.history, entry),
    phase: "RolledBack",
  };
  return rolledBackTo(ctx, rolled, note, { reason: "Aborted", message, revision, version });
}

/**
 * `spec.change` when it describes `revision`: the spec's template is that revision. A change
 * set for another template (the spec moved on) says nothing about this one.
 */
export function changeOf(ctx: Ctx, revision: string): ReleaseChange | undefined {
  return ctx.revision === revision ? ctx.spec.change : undefined;
}
