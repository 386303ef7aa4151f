/**
 * Manual actions (`crescendo.dev/action` with a `crescendo.dev/action-id`): each id acts once,
 * and is recorded in `status.lastAction` whether it applied or not, with the reason when it did
 * not. One handler per action; an action that does not apply in the current state is ignored
 * with a reason, never guessed at.
 */
import { ACTIONS, type Action } from "../../api/common.js";
import type { ReleaseStatus } from "../../api/release.js";
import { PROBLEM_HOLDS } from "./conditions.js";
import { liveScaleDown } from "./scale-down.js";
import type { PendingAction } from "./snapshot.js";
import { describeStage, normal, rolloutStarted, stateOf, type Ctx, type Next, type State } from "./state.js";
import {
  abortPromotion,
  advanceFrom,
  enterStage,
  hold,
  resume,
  retry,
  rollback,
  unheld,
} from "./transitions.js";
import { undo } from "./undo.js";

type ActionOutcome = { next?: Next; result: string };

type Handler = (ctx: Ctx, s: ReleaseStatus, state: State, id: string) => ActionOutcome;

const ignored = (why: string): ActionOutcome => ({ result: `ignored: ${why}` });

function notRolling(state: State): ActionOutcome {
  if (state.kind === "Initial") return ignored("nothing is deployed yet");
  if (state.kind === "RolledBack")
    return ignored("the rollout was rolled back; use retry or change the template");
  return ignored("no rollout in progress");
}

/** A revision recorded while `spec.paused` was set has no stage to promote past yet. */
const NOT_STARTED = "the rollout has not started (it was recorded while spec.paused was set)";

const onPromote: Handler = (ctx, s, state) => {
  if (state.kind !== "Rolling") return notRolling(state);
  if (ctx.spec.paused) return ignored("spec.paused is set");
  if (!rolloutStarted(s)) return ignored(NOT_STARTED);
  // Taking the stable Service with an undersized revision would cut capacity: the scale-up is not skippable.
  if (state.stage.kind === "scaleUp")
    return ignored("already promoting: waiting for the new revision to scale up");
  const next = advanceFrom(ctx, unheld(ctx, s), state.index);
  return { next, result: `promoted past step ${state.index} (${describeStage(state.stage)})` };
};

const onPromoteFull: Handler = (ctx, s, state) => {
  if (state.kind !== "Rolling") return notRolling(state);
  if (ctx.spec.paused) return ignored("spec.paused is set");
  if (!rolloutStarted(s)) return ignored(NOT_STARTED);
  const last = ctx.stages.length - 1;
  if (state.index === last) return ignored("already scaling up for promotion");
  const note = `skipping steps ${state.index}-${last - 1}: scaling up for promotion`;
  return {
    next: { status: enterStage(ctx, unheld(ctx, s), last), events: [normal("PromotedFull", note)] },
    result: note,
  };
};

const onAbort: Handler = (ctx, s, state, id) => {
  // Switching back to the parked revision would run spec.template under the override's name.
  if (s.override)
    return ignored(`running revision ${s.override.revision} by undo; undo again or change spec.template`);
  if (state.kind === "Rolling")
    return { next: rollback(ctx, s, "Aborted", `aborted by action ${id}`), result: "rolled back" };
  const parked = liveScaleDown(ctx, s)[0];
  if ((state.kind === "Steady" || state.kind === "Verifying") && parked) {
    return {
      next: abortPromotion(ctx, s, parked, id),
      result: `switched back to revision ${parked.revision}`,
    };
  }
  return state.kind === "RolledBack" ? ignored("already rolled back") : notRolling(state);
};

const onRetry: Handler = (ctx, s, state) => {
  if (state.kind === "Rolling" && s.pauseReason && PROBLEM_HOLDS.has(s.pauseReason)) {
    return { next: resume(ctx, s, `step ${state.index} retried`), result: `retrying step ${state.index}` };
  }
  if (state.kind !== "RolledBack") return ignored("nothing to retry");
  if (ctx.revision !== s.canaryRevision)
    return ignored("the template changed; the new revision rolls out instead");
  return { next: retry(ctx, s), result: "restarted the rollout from step 0" };
};

const onPause: Handler = (ctx, s, state, id) => {
  if (state.kind !== "Rolling") return notRolling(state);
  if (s.pauseReason) return ignored(`already paused (${s.pauseReason})`);
  return { next: hold(ctx, s, "ManualPause", `paused by action ${id}`), result: "paused" };
};

const onResume: Handler = (ctx, s, state, id) => {
  if (state.kind !== "Rolling") return notRolling(state);
  const reason = s.pauseReason;
  if (reason === undefined) return ignored("not paused");
  if (reason === "Paused") return ignored("spec.paused is set; set it to false to resume");
  if (reason === "PauseStep" || reason === "AwaitingPromotion") return ignored("waiting for promote");
  return { next: resume(ctx, s, `resumed by action ${id}`), result: "resumed" };
};

const ACTION_HANDLERS: Record<Action, Handler> = {
  promote: onPromote,
  "promote-full": onPromoteFull,
  abort: onAbort,
  retry: onRetry,
  pause: onPause,
  resume: onResume,
  rearm: () => ignored("rearm applies to FeatureToggles"),
  kill: () => ignored("kill applies to FeatureToggles"),
  undo: (ctx, s, state, id) => undo(ctx, s, state, id, ctx.snap.action?.revision),
};

/**
 * Applies the pending action (if its id has not been acted on): the transition of its handler,
 * or none, and in either case `status.lastAction` with the result and an event saying it.
 */
export function act(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  const pending = ctx.snap.action;
  if (!pending || pending.id === s.lastAction?.id) return undefined;
  const outcome = isAction(pending.action)
    ? ACTION_HANDLERS[pending.action](ctx, s, stateOf(ctx, s), pending.id)
    : ignored(`unknown action "${pending.action}"`);
  const lastAction = { id: pending.id, action: pending.action, acceptedAt: ctx.at, result: outcome.result };
  const event =
    outcome.next && !outcome.result.startsWith("refused")
      ? normal("ActionAccepted", actionNote(pending, outcome.result))
      : normal("ActionIgnored", actionNote(pending, outcome.result));
  const next = outcome.next ?? { status: s };
  return { ...next, status: { ...next.status, lastAction }, events: [event, ...(next.events ?? [])] };
}

function isAction(text: string): text is Action {
  return (ACTIONS as readonly string[]).includes(text);
}

function actionNote(a: PendingAction, result: string): string {
  return `${a.action} (id ${a.id}): ${result}`;
}
