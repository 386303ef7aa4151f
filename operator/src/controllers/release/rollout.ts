/**
 * The Release as a state machine (DESIGN §5, STYLE "Avoid 2"). `step` is pure: from one
 * snapshot it computes the next status, the events to record and whether the rollout was just
 * promoted or rolled back. The status *is* the state (stable/canary revisions, step index and
 * its start, hold reason), so an operator killed at any instant resumes exactly where it was.
 *
 * A rollout is a list of stages: the canary steps followed by a final scale-up, or for
 * blue-green: preview, analysis (when metrics exist), await promotion, scale-up. Each stage
 * kind has one short function that decides "done", "wait" or "fail". `step` applies the pending
 * action once, then applies transitions until none applies (several can chain in one reconcile,
 * e.g. a `pause: 0s` step), so running it again on its own output changes nothing: a reconcile
 * that observes nothing new writes nothing.
 *
 * kstatus conditions (what Flux, Argo CD and `kubectl wait` read), by phase:
 *
 * | phase                                | Ready | Reconciling | Stalled |
 * | ------------------------------------ | ----- | ----------- | ------- |
 * | Healthy                              | True  | False       | False   |
 * | Progressing, Degraded                | False | True        | False   |
 * | Paused, deliberately                 | False | False       | False   |
 * | Paused on a problem (see below)      | False | False       | True    |
 * | RolledBack                           | False | False       | False   |
 *
 * Degraded is Reconciling because Kubernetes is restoring the stable pods on its own, as kstatus
 * reports an unavailable Deployment. Deliberate holds (spec.paused, the pause action, a pause
 * step, a blue-green preview awaiting promotion) are neither in progress nor failed. Holds on a
 * problem (AnalysisFailed or ProgressDeadlineExceeded with `onFailure: Pause`, and
 * InconclusiveAnalysis) are Stalled: the rollout cannot finish until a person acts. RolledBack
 * is a reported outcome, not a stall: production runs the stable revision as intended, so
 * Stalled is False, Ready is False with reason RolledBack, and a kind-specific `RolledBack`
 * condition (True only in that phase) carries the cause (AnalysisFailed,
 * ProgressDeadlineExceeded, Aborted) and the message naming metric, values and threshold.
 */
import { isDeepStrictEqual } from "node:util";
import { ACTIONS, parseDuration, type Action } from "../../api/common.js";
import type {
  CanaryStep,
  HistoryEntry,
  PauseReason,
  ReleasePhase,
  ReleaseSpec,
  ReleaseStatus,
} from "../../api/release.js";
import { removeCondition, setCondition, type Condition } from "../../runtime/conditions.js";
import { revisionOf } from "./revision.js";
import {
  deploymentOf,
  isReadyAt,
  type AnalysisVerdict,
  type PendingAction,
  type ReleaseSnapshot,
} from "./snapshot.js";
import { gatewayApiRouter } from "./traffic/gateway-api.js";
import { replicaRatioRouter } from "./traffic/replicas.js";
import type { TrafficInput, TrafficRouter } from "./traffic/router.js";

/** `status.history` keeps this many rollouts, newest first. */
export const HISTORY_LIMIT = 20;
/** `status.scaleDown` holds at most this many revisions (the schema's bound). */
export const SCALE_DOWN_LIMIT = 10;
/** Defaults of `spec.rollback` when the block is absent. */
export const DEFAULT_ON_FAILURE = "Rollback";
export const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30;
/** A guard, far above any real chain (at most 52 stages), against a transition that never settles. */
const MAX_TRANSITIONS = 256;

/** One stage of a rollout; canary steps map one to one, the rest are implied by the strategy. */
export type Stage =
  | { kind: "setWeight"; weight: number }
  | { kind: "pause"; durationMs?: number }
  | { kind: "analysis"; metrics?: string[] }
  | { kind: "preview"; replicas: number }
  | { kind: "awaitPromotion"; afterMs?: number }
  | { kind: "scaleUp" };

/** A Kubernetes Event to record: reason in CamelCase, note for people. */
export interface RolloutEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

export interface StepResult {
  /** The complete new status; write it only if it differs from the observed one. */
  status: ReleaseStatus;
  /** The next timed event (pause end, auto-promotion, progress deadline, scale-down). */
  requeueAfterMs?: number;
  /** Events for every phase change and notable transition, oldest first. */
  events: RolloutEvent[];
  /** Set when this step rolled back: notify on-call, count it, observe time-to-rollback. */
  rolledBack?: { reason: string; message: string; revision: string; version: string };
  /** Set when this step promoted a revision (or switched back to one). */
  promoted?: { revision: string; version: string };
}

interface Ctx {
  snap: ReleaseSnapshot;
  spec: ReleaseSpec;
  now: number;
  /** `now` as RFC 3339, for status timestamps. */
  at: string;
  /** Revision of the current `spec.template`. */
  revision: string;
  stages: Stage[];
  router: TrafficRouter;
}

/** A transition: the status it leads to and what it tells the world. */
interface Next {
  status: ReleaseStatus;
  events?: RolloutEvent[];
  rolledBack?: StepResult["rolledBack"];
  promoted?: StepResult["promoted"];
}

type State =
  | { kind: "Initial" }
  | { kind: "Steady" }
  | { kind: "Rolling"; index: number; stage: Stage }
  | { kind: "RolledBack" };

/** Holds that are problems (Stalled=True); the others are deliberate. */
const PROBLEM_HOLDS: ReadonlySet<PauseReason> = new Set([
  "InconclusiveAnalysis",
  "AnalysisFailed",
  "ProgressDeadlineExceeded",
]);

/** What no longer exists once a rollout ends (promotion, revert, switch back). */
const ROLLOUT_CLEARED: ReleaseStatus = {
  canaryRevision: undefined,
  canaryVersion: undefined,
  currentStepIndex: undefined,
  stepStartedAt: undefined,
  rolloutStartedAt: undefined,
  pausedAt: undefined,
  pauseReason: undefined,
  abortedAt: undefined,
  desiredWeight: 0,
  canaryWeight: 0,
};

// ---------------------------------------------------------------------------------------------
// Entry point

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
  result.status = finish(ctx, result.status);
  const requeue = requeueAfterMs(ctx, result.status);
  return requeue === undefined ? result : { ...result, requeueAfterMs: requeue };
}

function contextOf(snap: ReleaseSnapshot): Ctx {
  const spec = snap.release.spec;
  return {
    snap,
    spec,
    now: snap.now,
    at: iso(snap.now),
    revision: revisionOf(spec.template),
    stages: stagesOf(spec),
    router: routerFor(spec),
  };
}

/** The stages of a rollout under this spec. The last one is always the scale-up before promotion. */
export function stagesOf(spec: ReleaseSpec): Stage[] {
  const bg = spec.strategy.blueGreen;
  if (!bg) return [...(spec.strategy.canary?.steps ?? []).map(stageOfStep), { kind: "scaleUp" }];
  const analysis: Stage[] = (spec.analysis?.metrics.length ?? 0) > 0 ? [{ kind: "analysis" }] : [];
  const afterMs = bg.autoPromotionSeconds === undefined ? undefined : bg.autoPromotionSeconds * 1000;
  return [
    { kind: "preview", replicas: bg.previewReplicas ?? spec.replicas },
    ...analysis,
    { kind: "awaitPromotion", afterMs },
    { kind: "scaleUp" },
  ];
}

function stageOfStep(s: CanaryStep): Stage {
  if (s.setWeight !== undefined) return { kind: "setWeight", weight: s.setWeight };
  if (s.pause)
    return { kind: "pause", durationMs: s.pause.duration ? parseDuration(s.pause.duration) : undefined };
  return { kind: "analysis", metrics: s.analysis?.metrics };
}

/**
 * The stage the status points at. An index past the end (the steps were shortened mid-rollout)
 * means the final scale-up: the canary has passed every step that still exists.
 */
export function currentStage(spec: ReleaseSpec, status: ReleaseStatus): { index: number; stage: Stage } {
  const stages = stagesOf(spec);
  const index = Math.min(Math.max(status.currentStepIndex ?? 0, 0), stages.length - 1);
  return { index, stage: stages[index] ?? { kind: "scaleUp" } };
}

/** The router a spec asks for: Gateway API when configured, replica ratio otherwise (and for blue-green). */
export function routerFor(spec: ReleaseSpec): TrafficRouter {
  const gateway = spec.strategy.canary?.trafficRouting?.gatewayAPI;
  return gateway ? gatewayApiRouter({ httpRoute: gateway.httpRoute }) : replicaRatioRouter;
}

/** What a router sees of this Release under `status`. */
export function trafficInput(snap: ReleaseSnapshot, status: ReleaseStatus): TrafficInput {
  const { metadata, spec } = snap.release;
  return {
    release: metadata.name ?? "",
    namespace: metadata.namespace ?? "",
    replicas: spec.replicas,
    stable: deploymentOf(snap, status.stableRevision),
    canary: deploymentOf(snap, status.canaryRevision),
    ...(snap.route ? { route: snap.route } : {}),
  };
}

function stateOf(ctx: Ctx, s: ReleaseStatus): State {
  if (!s.stableRevision) return { kind: "Initial" };
  if (!s.canaryRevision) return { kind: "Steady" };
  if (s.phase === "RolledBack") return { kind: "RolledBack" };
  return { kind: "Rolling", ...currentStage(ctx.spec, s) };
}

function advance(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  const state = stateOf(ctx, s);
  if (state.kind === "Initial") return firstApply(ctx, s);
  const changed = templateChange(ctx, s);
  if (changed) return changed;
  switch (state.kind) {
    case "Steady":
      return steady(ctx, s);
    case "Rolling":
      return rolling(ctx, s, state.index, state.stage);
    case "RolledBack":
      return undefined; // stays until the template changes or `retry` is asked
  }
}

// ---------------------------------------------------------------------------------------------
// Template changes: the only way a new revision enters

function templateChange(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  if (ctx.revision === s.stableRevision) return s.canaryRevision ? revertToStable(ctx, s) : undefined;
  if (ctx.revision === s.canaryRevision) return undefined;
  const parked = liveScaleDown(ctx, s).find((e) => e.revision === ctx.revision);
  return parked ? switchBack(ctx, s, parked) : startRollout(ctx, s);
}

/** The very first revision has nothing to be compared with: it becomes stable directly. */
function firstApply(ctx: Ctx, s: ReleaseStatus): Next {
  const note = `deploying ${ctx.spec.version} (revision ${ctx.revision})`;
  return {
    status: {
      ...s,
      stableRevision: ctx.revision,
      stableVersion: ctx.spec.version,
      phase: "Progressing",
      message: note,
    },
    events: [normal("Deploying", note)],
  };
}

function startRollout(ctx: Ctx, s: ReleaseStatus): Next {
  const superseded = supersede(ctx, s, "NewRevision");
  const note = `rolling out ${ctx.spec.version} (revision ${ctx.revision}) to replace ${s.stableVersion ?? ""}`;
  const base: ReleaseStatus = {
    ...superseded.status,
    ...ROLLOUT_CLEARED,
    canaryRevision: ctx.revision,
    canaryVersion: ctx.spec.version,
    rolloutStartedAt: ctx.at,
    analysis: undefined,
    backgroundAnalysis: freshBackground(ctx),
    scaleDown: without(s.scaleDown, ctx.revision),
    phase: "Progressing",
    message: note,
  };
  return { status: enterStage(ctx, base, 0), events: [...superseded.events, normal("RolloutStarted", note)] };
}

/** The template was set back to the stable revision: the canary goes, the stable stays as it is. */
function revertToStable(ctx: Ctx, s: ReleaseStatus): Next {
  const superseded = supersede(ctx, s, "RevertedToStable");
  const note = `template reverted to ${s.stableVersion ?? ""}; canary ${s.canaryVersion ?? ""} removed`;
  return {
    status: { ...superseded.status, ...ROLLOUT_CLEARED, phase: "Healthy", message: note },
    events: [...superseded.events, normal("RevertedToStable", note)],
  };
}

/**
 * The template names a revision that was replaced recently and still runs at full size, kept
 * for `scaleDownDelaySeconds`: switch back to it at once (a selector switch, as Argo Rollouts'
 * rollback window), with no steps to go through again.
 */
function switchBack(ctx: Ctx, s: ReleaseStatus, parked: ScaleDownEntry): Next {
  const superseded = supersede(ctx, s, "SwitchedBack");
  const version = parked.version ?? ctx.spec.version;
  const note = `switched back to ${version} (revision ${parked.revision}), still running`;
  const entry = historyEntry(parked.revision, version, ctx.at, ctx.at, "Promoted", "SwitchedBack");
  return {
    status: {
      ...superseded.status,
      ...ROLLOUT_CLEARED,
      stableRevision: parked.revision,
      stableVersion: version,
      scaleDown: park(without(s.scaleDown, parked.revision), previousStable(ctx, s)),
      history: record(superseded.status.history, entry),
      phase: "Healthy",
      message: note,
    },
    events: [...superseded.events, normal("SwitchedBack", note)],
    promoted: { revision: parked.revision, version },
  };
}

/** Ends an in-flight canary as Superseded in the history; a rolled-back one is already recorded. */
function supersede(
  ctx: Ctx,
  s: ReleaseStatus,
  reason: string,
): { status: ReleaseStatus; events: RolloutEvent[] } {
  if (!s.canaryRevision || s.phase === "RolledBack") return { status: s, events: [] };
  const version = s.canaryVersion ?? "";
  const entry = historyEntry(
    s.canaryRevision,
    version,
    s.rolloutStartedAt ?? ctx.at,
    ctx.at,
    "Superseded",
    reason,
  );
  const note = `rollout of ${version} (revision ${s.canaryRevision}) superseded: ${reason}`;
  return { status: { ...s, history: record(s.history, entry) }, events: [normal("Superseded", note)] };
}

// ---------------------------------------------------------------------------------------------
// Phases

/** No rollout in flight: Healthy when the stable revision is available, Degraded when not. */
function steady(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  const want = ctx.spec.replicas;
  const dep = deploymentOf(ctx.snap, s.stableRevision);
  const version = s.stableVersion ?? "";
  if (isReadyAt(dep, want)) {
    return toPhase(
      s,
      "Healthy",
      `${version} is available with ${want} replicas`,
      normal("Healthy", `${version} is available`),
    );
  }
  const count = `${dep?.availableReplicas ?? 0}/${want} replicas of ${version} available`;
  // Still Progressing until the very first revision has been available once.
  if (s.phase === "Progressing") return toPhase(s, "Progressing", `deploying ${version}: ${count}`);
  return toPhase(s, "Degraded", count, warning("Degraded", count));
}

/** A rollout in flight: failures first, then holds, then the current stage. */
function rolling(ctx: Ctx, s: ReleaseStatus, index: number, stage: Stage): Next | undefined {
  const failed = backgroundCheck(ctx, s);
  if (failed) return failed;
  if (ctx.spec.paused) return s.pauseReason ? undefined : hold(ctx, s, "Paused", "spec.paused is set");
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

function runStage(ctx: Ctx, s: ReleaseStatus, i: number, stage: Stage): Next | undefined {
  switch (stage.kind) {
    case "setWeight":
      return setWeightStage(ctx, s, i, stage.weight);
    case "pause":
      return pauseStage(ctx, s, i, stage.durationMs);
    case "analysis":
      return analysisStage(ctx, s, i);
    case "preview":
      return previewStage(ctx, s, i, stage.replicas);
    case "awaitPromotion":
      return awaitPromotionStage(ctx, s, i, stage.afterMs);
    case "scaleUp":
      return scaleUpStage(ctx, s, i);
  }
}

// ---------------------------------------------------------------------------------------------
// Stages: one function each

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

function analysisStage(ctx: Ctx, s: ReleaseStatus, i: number): Next | undefined {
  const v = stepVerdict(ctx, s, i);
  switch (v?.phase) {
    case "Successful":
      return advanceFrom(ctx, s, i);
    case "Failed":
      return fail(ctx, s, "AnalysisFailed", v.message);
    case "Inconclusive":
      return hold(ctx, s, "InconclusiveAnalysis", v.message);
    default:
      return toPhase(s, "Progressing", `step ${i}: analysing (${v?.message ?? "no measurement yet"})`);
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

// ---------------------------------------------------------------------------------------------
// Transitions

function enterStage(ctx: Ctx, s: ReleaseStatus, i: number): ReleaseStatus {
  const base: ReleaseStatus = { ...s, currentStepIndex: i, stepStartedAt: ctx.at };
  const stage = ctx.stages[i];
  if (stage?.kind === "setWeight") return { ...base, desiredWeight: stage.weight };
  if (stage?.kind === "analysis") return { ...base, analysis: { startedAt: ctx.at, step: i, metrics: [] } };
  return base;
}

/** Leaves stage `i`: on to the next one, or promotion after the last. */
function advanceFrom(ctx: Ctx, s: ReleaseStatus, i: number): Next {
  const done = normal("StepCompleted", `step ${i} (${describe(ctx.stages[i])}) completed`);
  if (i + 1 >= ctx.stages.length) {
    const promoted = promote(ctx, s);
    return { ...promoted, events: [done, ...(promoted.events ?? [])] };
  }
  return { status: enterStage(ctx, { ...s, phase: "Progressing" }, i + 1), events: [done] };
}

/**
 * The canary becomes stable: the stable Service now selects its revision (its pods keep
 * running untouched); the old stable is kept for the scale-down delay so a switch back is
 * instant.
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
  );
  return {
    status: {
      ...s,
      ...ROLLOUT_CLEARED,
      stableRevision: revision,
      stableVersion: version,
      scaleDown: park(s.scaleDown, previousStable(ctx, s)),
      history: record(s.history, entry),
      phase: "Healthy",
      message: note,
    },
    events: [normal("Promoted", note)],
    promoted: { revision, version },
  };
}

function fail(ctx: Ctx, s: ReleaseStatus, reason: PauseReason, message: string): Next {
  return onFailure(ctx.spec) === "Pause" ? hold(ctx, s, reason, message) : rollback(ctx, s, reason, message);
}

/**
 * Rollback in one step: all traffic to stable and the canary to zero replicas (the plan and
 * the router carry it out in the same reconcile). The canary revision stays recorded, so the
 * Release stays RolledBack until the template changes or `retry` is asked.
 */
function rollback(ctx: Ctx, s: ReleaseStatus, reason: string, message: string): Next {
  const revision = s.canaryRevision ?? "";
  const version = s.canaryVersion ?? "";
  const note = `rolled back ${version} (revision ${revision}): ${message}`;
  const entry = historyEntry(revision, version, s.rolloutStartedAt ?? ctx.at, ctx.at, "RolledBack", reason);
  return {
    status: {
      ...s,
      phase: "RolledBack",
      message: note,
      desiredWeight: 0,
      canaryWeight: 0,
      abortedAt: ctx.at,
      pauseReason: undefined,
      pausedAt: undefined,
      history: record(s.history, entry),
    },
    events: [warning("RolledBack", note)],
    rolledBack: { reason, message, revision, version },
  };
}

function hold(ctx: Ctx, s: ReleaseStatus, reason: PauseReason, message: string): Next {
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
function resume(ctx: Ctx, s: ReleaseStatus, note: string): Next {
  const problem = s.pauseReason !== undefined && PROBLEM_HOLDS.has(s.pauseReason);
  const paused = ctx.now - time(s.pausedAt, ctx.now);
  const base = unheld(ctx, s);
  const status: ReleaseStatus = problem
    ? restartStage(ctx, base)
    : { ...base, stepStartedAt: iso(time(s.stepStartedAt, ctx.now) + paused) };
  return { status: { ...status, message: note }, events: [normal("Resumed", note)] };
}

/** Clears a hold; a background analysis that caused it starts afresh so it cannot re-trigger. */
function unheld(ctx: Ctx, s: ReleaseStatus): ReleaseStatus {
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
function retry(ctx: Ctx, s: ReleaseStatus): Next {
  const note = `retrying the rollout of ${s.canaryVersion ?? ""} (revision ${s.canaryRevision ?? ""}) from step 0`;
  const base: ReleaseStatus = {
    ...s,
    ...ROLLOUT_CLEARED,
    canaryRevision: s.canaryRevision,
    canaryVersion: s.canaryVersion,
    rolloutStartedAt: ctx.at,
    analysis: undefined,
    backgroundAnalysis: freshBackground(ctx),
    phase: "Progressing",
    message: note,
  };
  return { status: enterStage(ctx, base, 0), events: [normal("RolloutRetried", note)] };
}

/**
 * `abort` after promotion, while the previous stable still runs (its scale-down is pending):
 * switch back to it, and record the promoted revision as rolled back.
 */
function abortPromotion(ctx: Ctx, s: ReleaseStatus, parked: ScaleDownEntry, id: string): Next {
  const revision = s.stableRevision ?? "";
  const version = s.stableVersion ?? "";
  const previous = parked.version ?? "";
  const message = `aborted by action ${id}: switched back to ${previous} (revision ${parked.revision})`;
  const live = s.history?.find((h) => h.revision === revision && h.outcome === "Promoted")?.finishedAt;
  const entry = historyEntry(revision, version, live ?? ctx.at, ctx.at, "RolledBack", "Aborted");
  const note = `rolled back ${version} (revision ${revision}): ${message}`;
  return {
    status: {
      ...s,
      ...ROLLOUT_CLEARED,
      stableRevision: parked.revision,
      stableVersion: previous,
      canaryRevision: revision,
      canaryVersion: version,
      abortedAt: ctx.at,
      scaleDown: without(s.scaleDown, parked.revision),
      history: record(s.history, entry),
      phase: "RolledBack",
      message: note,
    },
    events: [warning("RolledBack", note)],
    rolledBack: { reason: "Aborted", message, revision, version },
  };
}

// ---------------------------------------------------------------------------------------------
// Actions: each id acts once, and is recorded whether it applied or not

type ActionOutcome = { next: Next; result: string } | { next?: undefined; result: string };
type Handler = (ctx: Ctx, s: ReleaseStatus, state: State, id: string) => ActionOutcome;

const ignored = (why: string): ActionOutcome => ({ result: `ignored: ${why}` });

function notRolling(state: State): ActionOutcome {
  if (state.kind === "Initial") return ignored("nothing is deployed yet");
  if (state.kind === "RolledBack")
    return ignored("the rollout was rolled back; use retry or change the template");
  return ignored("no rollout in progress");
}

const onPromote: Handler = (ctx, s, state) => {
  if (state.kind !== "Rolling") return notRolling(state);
  if (ctx.spec.paused) return ignored("spec.paused is set");
  // Taking the stable Service with an undersized revision would cut capacity: the scale-up is not skippable.
  if (state.stage.kind === "scaleUp")
    return ignored("already promoting: waiting for the new revision to scale up");
  const next = advanceFrom(ctx, unheld(ctx, s), state.index);
  return { next, result: `promoted past step ${state.index} (${describe(state.stage)})` };
};

const onPromoteFull: Handler = (ctx, s, state) => {
  if (state.kind !== "Rolling") return notRolling(state);
  if (ctx.spec.paused) return ignored("spec.paused is set");
  const last = ctx.stages.length - 1;
  if (state.index === last) return ignored("already scaling up for promotion");
  const note = `skipping steps ${state.index}-${last - 1}: scaling up for promotion`;
  return {
    next: { status: enterStage(ctx, unheld(ctx, s), last), events: [normal("PromotedFull", note)] },
    result: note,
  };
};

const onAbort: Handler = (ctx, s, state, id) => {
  if (state.kind === "Rolling")
    return { next: rollback(ctx, s, "Aborted", `aborted by action ${id}`), result: "rolled back" };
  const parked = liveScaleDown(ctx, s)[0];
  if (state.kind === "Steady" && parked) {
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
};

function act(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  const pending = ctx.snap.action;
  if (!pending || pending.id === s.lastAction?.id) return undefined;
  const outcome = isAction(pending.action)
    ? ACTION_HANDLERS[pending.action](ctx, s, stateOf(ctx, s), pending.id)
    : ignored(`unknown action "${pending.action}"`);
  const lastAction = { id: pending.id, action: pending.action, acceptedAt: ctx.at, result: outcome.result };
  const event = outcome.next
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

// ---------------------------------------------------------------------------------------------
// Analysis

/**
 * The step verdict applies only to the analysis it was computed from: the observed
 * `status.analysis`, for the current step. An analysis (re)started during this step is a new
 * object, so a verdict about the previous one can never decide it.
 */
function stepVerdict(ctx: Ctx, s: ReleaseStatus, i: number): AnalysisVerdict | undefined {
  const observed = ctx.snap.release.status?.analysis;
  return s.analysis && s.analysis === observed && s.analysis.step === i ? ctx.snap.analysis.step : undefined;
}

function backgroundVerdict(ctx: Ctx, s: ReleaseStatus): AnalysisVerdict | undefined {
  if (!ctx.spec.strategy.canary?.backgroundAnalysis) return undefined;
  const observed = ctx.snap.release.status?.backgroundAnalysis;
  return s.backgroundAnalysis && s.backgroundAnalysis === observed ? ctx.snap.analysis.background : undefined;
}

function freshBackground(ctx: Ctx): ReleaseStatus["backgroundAnalysis"] {
  return ctx.spec.strategy.canary?.backgroundAnalysis ? { startedAt: ctx.at, metrics: [] } : undefined;
}

/** What the controller should be measuring now. `metrics` absent means all of them. */
export interface LiveAnalysis {
  /** The analysis of the current step, recorded in `status.analysis`. */
  step?: { index: number; metrics?: string[] };
  /** The background analysis, recorded in `status.backgroundAnalysis`. */
  background?: { metrics?: string[] };
}

/**
 * The analyses to measure under `status` (the output of `step`). A step analysis runs while its
 * step is current and nothing holds the rollout; background analysis runs for the whole
 * rollout, through deliberate holds, and stops on a problem hold or a rollback.
 */
export function liveAnalysis(spec: ReleaseSpec, status: ReleaseStatus): LiveAnalysis {
  if (!status.canaryRevision || status.phase === "RolledBack") return {};
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

// ---------------------------------------------------------------------------------------------
// Finishing: observed numbers, conditions, timers

/** Fills in what is derived from the state and observation rather than decided by a transition. */
function finish(ctx: Ctx, s: ReleaseStatus): ReleaseStatus {
  const state = stateOf(ctx, s);
  const splitting = state.kind === "Rolling" && !ctx.spec.strategy.blueGreen;
  const scaleDown = liveScaleDown(ctx, s).filter(
    (e) => e.revision !== s.stableRevision && e.revision !== s.canaryRevision,
  );
  const live = [s.stableRevision, s.canaryRevision, ...scaleDown.map((e) => e.revision)];
  const ready = live.reduce((n, rev) => n + (deploymentOf(ctx.snap, rev)?.readyReplicas ?? 0), 0);
  const status: ReleaseStatus = {
    ...s,
    observedGeneration: ctx.snap.release.metadata.generation,
    canaryWeight: splitting ? (ctx.router.getWeight(trafficInput(ctx.snap, s)) ?? 0) : 0,
    desiredWeight: splitting ? (s.desiredWeight ?? 0) : 0,
    scaleDown: scaleDown.length > 0 ? scaleDown : undefined,
    replicas: deploymentOf(ctx.snap, s.stableRevision)?.replicas ?? 0,
    readyReplicas: ready,
    selector: `crescendo.dev/release=${ctx.snap.release.metadata.name ?? ""}`,
  };
  return clean({ ...status, conditions: conditionsFor(status, ctx) });
}

/**
 * Ready/Reconciling/Stalled (and RolledBack) from the phase; see the table at the top of this
 * file. `setCondition` keeps `lastTransitionTime` unless the status flips.
 */
function conditionsFor(s: ReleaseStatus, ctx: Ctx): Condition[] {
  const phase = s.phase ?? "Progressing";
  const reason = phase === "Paused" ? (s.pauseReason ?? "Paused") : phase;
  const message = s.message ?? "";
  const reconciling = phase === "Progressing" || phase === "Degraded";
  const stalled = phase === "Paused" && s.pauseReason !== undefined && PROBLEM_HOLDS.has(s.pauseReason);
  const observedGeneration = ctx.snap.release.metadata.generation;
  const set = (c: readonly Condition[] | undefined, type: string, on: boolean, text: string) =>
    setCondition(
      c,
      { type, status: on ? "True" : "False", reason, message: text, observedGeneration },
      ctx.now,
    );
  let out = set(s.conditions, "Ready", phase === "Healthy", message);
  out = set(out, "Reconciling", reconciling, reconciling ? message : "");
  out = set(out, "Stalled", stalled, stalled ? message : "");
  if (phase !== "RolledBack") return removeCondition(out, "RolledBack");
  const cause = s.history?.find((h) => h.revision === s.canaryRevision && h.outcome === "RolledBack")?.reason;
  return setCondition(
    out,
    { type: "RolledBack", status: "True", reason: cause ?? "RolledBack", message, observedGeneration },
    ctx.now,
  );
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
  }
  const future = times.filter((t) => t > ctx.now);
  return future.length === 0 ? undefined : Math.min(...future) - ctx.now;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

type ScaleDownEntry = NonNullable<ReleaseStatus["scaleDown"]>[number];

function onFailure(spec: ReleaseSpec): "Rollback" | "Pause" {
  return spec.rollback?.onFailure ?? DEFAULT_ON_FAILURE;
}

/** The scale-down delay of the strategy: blue-green has its own, canary uses `rollback`'s. */
function scaleDownDelayMs(spec: ReleaseSpec): number {
  const seconds = spec.strategy.blueGreen
    ? spec.strategy.blueGreen.scaleDownDelaySeconds
    : (spec.rollback?.scaleDownDelaySeconds ?? DEFAULT_SCALE_DOWN_DELAY_SECONDS);
  return seconds * 1000;
}

/** The stable revision about to be replaced, parked for the scale-down delay. */
function previousStable(ctx: Ctx, s: ReleaseStatus): ScaleDownEntry | undefined {
  if (!s.stableRevision) return undefined;
  return {
    revision: s.stableRevision,
    version: s.stableVersion,
    at: iso(ctx.now + scaleDownDelayMs(ctx.spec)),
  };
}

/** Parked revisions still due to run (their time has not come). */
function liveScaleDown(ctx: Ctx, s: ReleaseStatus): ScaleDownEntry[] {
  return (s.scaleDown ?? []).filter((e) => time(e.at, ctx.now) > ctx.now);
}

/** Adds a parked revision, newest first, within the schema's bound. */
function park(
  list: ScaleDownEntry[] | undefined,
  entry: ScaleDownEntry | undefined,
): ScaleDownEntry[] | undefined {
  if (!entry) return list;
  return [entry, ...(without(list, entry.revision) ?? [])].slice(0, SCALE_DOWN_LIMIT);
}

function without(list: ScaleDownEntry[] | undefined, revision: string): ScaleDownEntry[] | undefined {
  return list?.filter((e) => e.revision !== revision);
}

function historyEntry(
  revision: string,
  version: string,
  startedAt: string,
  finishedAt: string,
  outcome: HistoryEntry["outcome"],
  reason: string,
): HistoryEntry {
  return { revision, version, startedAt, finishedAt, outcome, reason };
}

/** Prepends a finished rollout, keeping the newest `HISTORY_LIMIT`. */
function record(history: HistoryEntry[] | undefined, entry: HistoryEntry): HistoryEntry[] {
  return [entry, ...(history ?? [])].slice(0, HISTORY_LIMIT);
}

/**
 * Sets phase and message; an event only when the phase changes. Undefined when nothing
 * changes, which is how the transition loop knows it has settled.
 */
function toPhase(
  s: ReleaseStatus,
  phase: ReleasePhase,
  message: string,
  event?: RolloutEvent,
): Next | undefined {
  if (s.phase === phase && s.message === message) return undefined;
  const changed = s.phase !== phase;
  return { status: { ...s, phase, message }, ...(changed && event ? { events: [event] } : {}) };
}

function phaseEvent(s: ReleaseStatus): RolloutEvent {
  const bad = s.phase === "Degraded" || s.phase === "RolledBack";
  return { type: bad ? "Warning" : "Normal", reason: s.phase ?? "Progressing", note: s.message ?? "" };
}

function describe(stage: Stage | undefined): string {
  switch (stage?.kind) {
    case "setWeight":
      return `setWeight ${stage.weight}`;
    case "pause":
      return stage.durationMs === undefined ? "pause" : `pause ${stage.durationMs / 1000}s`;
    case "analysis":
      return stage.metrics ? `analysis of ${stage.metrics.join(", ")}` : "analysis";
    case "preview":
      return `preview at ${stage.replicas} replicas`;
    case "awaitPromotion":
      return "await promotion";
    default:
      return "scale up";
  }
}

const normal = (reason: string, note: string): RolloutEvent => ({ type: "Normal", reason, note });
const warning = (reason: string, note: string): RolloutEvent => ({ type: "Warning", reason, note });

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Parses a status timestamp; a missing or unreadable one counts as `fallback` (usually now). */
function time(text: string | undefined, fallback: number): number {
  const ms = text === undefined ? NaN : Date.parse(text);
  return Number.isNaN(ms) ? fallback : ms;
}

/** Drops `undefined` fields at every depth, so equal states serialise and compare equal. */
function clean<T>(value: T): T {
  if (Array.isArray(value)) return value.map(clean) as T;
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return Object.fromEntries(entries.map(([k, v]) => [k, clean(v)])) as T;
}
