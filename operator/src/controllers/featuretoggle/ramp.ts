/**
 * The guarded ramp of a FeatureToggle (`spec.rollout.steps`) as a pure state machine: from the
 * ramp's last status (with the measurements taken since folded in), the spec, the time and a
 * manual action, the next status, the Events and how long until it must look again. The
 * reconciler observes and applies; everything needed to resume after a restart is in
 * `status.rollout`.
 *
 * The steps are a Release's canary steps and are read the same way (`stageOfStep`), and the
 * analysis is judged by the same `verdict`: only what a step means differs. A `setWeight` needs
 * no pods to become ready, so it takes effect at once; a failed analysis returns everyone to the
 * default variant (a toggle has nothing to hold at a partial share); after the last step the
 * variant is served to everyone.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import type { FeatureToggleSpec } from "../../api/featuretoggle.js";
import { stageOfStep, type Stage } from "../../api/release-stages.js";
import type { RampPauseReason, RampRollbackReason, ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import { measurementTime, verdict } from "../../analysis/index.js";
import { metricsNamed } from "../release/spec.js";
import { rampAnalysisDeadline } from "./ramp-deadline.js";
import { rampId } from "./ramp-share.js";

/** An Event about the ramp (`kubectl describe featuretoggle` shows it). */
export interface RampEvent {
  type: "Normal" | "Warning";
  reason:
    | "RolloutStarted"
    | "RolloutStep"
    | "RolloutPaused"
    | "RolloutCompleted"
    | "RolloutRolledBack"
    | "ActionAccepted"
    | "ActionIgnored";
  note: string;
}

/** The actions a ramp answers; `rearm` stays the kill's. */
export const RAMP_ACTIONS = ["promote", "promote-full", "abort", "retry", "pause", "resume"] as const;
export type RampAction = (typeof RAMP_ACTIONS)[number];

export function isRampAction(action: string): action is RampAction {
  return (RAMP_ACTIONS as readonly string[]).includes(action);
}

export interface RampInput {
  spec: Pick<FeatureToggleSpec, "rollout" | "defaultVariant">;
  /** `status.rollout`, with the measurements settled since the last write folded in. */
  previous?: ToggleRolloutStatus;
  now: number;
  /** The analysis metrics (`spec.rollout.analysis.metrics`) and their default interval. */
  metrics: readonly AnalysisMetric[];
  defaultIntervalMs: number;
  /**
   * When this process began to lead (its first reconcile): the gap before it, not yet recorded
   * in status, does not count toward an analysis deadline (ramp-deadline.ts).
   */
  leaderSince?: number;
  /** A manual action not yet acted on (its id differs from `status.lastAction.id`). */
  action?: { action: RampAction; id: string };
}

export interface RampPlan {
  /** The ramp's status; undefined when the toggle has no ramp. */
  rollout?: ToggleRolloutStatus;
  events: RampEvent[];
  /** What the action did, or why it was ignored (for `status.lastAction.result`). */
  actionResult?: string;
  /** When to look again by the clock (a timed pause ending, an analysis deadline). */
  waitMs?: number;
  /** The ramp rolled back in this plan (a failed analysis or an abort): the squad counts a failed change. */
  rolledBack?: boolean;
  /** Why it rolled back, with `rolledBack`: its on-call notification says so. */
  rollbackReason?: RampRollbackReason;
}

/** The stages of the ramp: a Release's canary steps, without the Release's final scale-up. */
export function rampStages(spec: Pick<FeatureToggleSpec, "rollout">): Stage[] {
  return (spec.rollout?.steps ?? []).map(stageOfStep);
}

/** A stage in words, for Events and `lastAction.result`. */
export function describeRampStage(stage: Stage | undefined): string {
  switch (stage?.kind) {
    case "setWeight":
      return `setWeight ${stage.weight}%`;
    case "pause":
      return stage.durationMs === undefined ? "pause until promoted" : `pause ${stage.durationMs / 1000}s`;
    case "analysis":
      return stage.metrics ? `analysis of ${stage.metrics.join(", ")}` : "analysis";
    default:
      return "completion";
  }
}

interface Run {
  r: ToggleRolloutStatus;
  events: RampEvent[];
  waitMs?: number;
  rolledBack?: boolean;
  rollbackReason?: RampRollbackReason;
}

/**
 * The next state of the ramp. A ramp starts (step 0) when the spec has steps and status records
 * no ramp of the same id; it then walks its steps as far as it can at `now`, stopping at a
 * pause, an analysis still measuring, a hold, completion or a rollback.
 */
export function planRamp(input: RampInput): RampPlan {
  const id = rampId(input.spec);
  if (id === undefined) return { events: [] };
  const at = measurementTime(input.now);
  let run: Run;
  let actionResult: string | undefined;
  if (input.previous?.id !== id) {
    const variant = input.spec.rollout?.variant ?? "";
    const started: ToggleRolloutStatus = {
      id,
      variant,
      phase: "Progressing",
      percentage: 0,
      currentStepIndex: 0,
      startedAt: at,
    };
    run = {
      r: enter(input, started, 0),
      events: [
        normal("RolloutStarted", `Ramping variant "${variant}" in ${rampStages(input.spec).length} steps.`),
      ],
    };
    if (input.action) actionResult = "ignored: a new ramp started (the rollout spec changed)";
  } else {
    run = { r: input.previous, events: [] };
    if (input.action) {
      const outcome = ACTIONS[input.action.action](input, run.r, input.action.id);
      actionResult = outcome.result;
      const note = `${input.action.action} (id ${input.action.id}): ${outcome.result}`;
      if (outcome.next) {
        run = { ...outcome.next, events: [normal("ActionAccepted", note), ...outcome.next.events] };
      } else {
        run.events.push(normal("ActionIgnored", note));
      }
    }
  }
  const walked = walk(input, run);
  return {
    rollout: walked.r,
    events: walked.events,
    ...(actionResult === undefined ? {} : { actionResult }),
    ...(walked.waitMs === undefined ? {} : { waitMs: walked.waitMs }),
    ...(walked.rolledBack ? { rolledBack: true, rollbackReason: walked.rollbackReason ?? "Aborted" } : {}),
  };
}

const normal = (reason: RampEvent["reason"], note: string): RampEvent => ({ type: "Normal", reason, note });

/** Enters step `index`: its clock starts, a hold is lifted, an analysis step starts a fresh analysis. */
function enter(input: RampInput, r: ToggleRolloutStatus, index: number): ToggleRolloutStatus {
  const at = measurementTime(input.now);
  const { pauseReason: _reason, pausedAt: _paused, message: _message, ...rest } = r;
  const next: ToggleRolloutStatus = {
    ...rest,
    phase: "Progressing",
    currentStepIndex: index,
    stepStartedAt: at,
  };
  const stage = rampStages(input.spec)[index];
  return stage?.kind === "analysis"
    ? { ...next, analysis: { startedAt: at, step: index, metrics: [] } }
    : next;
}

function hold(input: RampInput, run: Run, reason: RampPauseReason, message: string): Run {
  const r: ToggleRolloutStatus = {
    ...run.r,
    phase: "Paused",
    pauseReason: reason,
    pausedAt: measurementTime(input.now),
    message,
  };
  const type = reason === "ManualPause" || reason === "PauseStep" ? "Normal" : "Warning";
  return { ...run, r, events: [...run.events, { type, reason: "RolloutPaused", note: message }] };
}

function complete(input: RampInput, run: Run): Run {
  const at = measurementTime(input.now);
  const { pauseReason: _reason, pausedAt: _paused, ...rest } = run.r;
  const r: ToggleRolloutStatus = {
    ...rest,
    phase: "Completed",
    percentage: 100,
    currentStepIndex: rampStages(input.spec).length,
    completedAt: at,
    message: `Variant "${run.r.variant}" served to 100% since ${at}.`,
  };
  return { ...run, r, events: [...run.events, normal("RolloutCompleted", r.message ?? "")] };
}

function rollBack(
  input: RampInput,
  run: Run,
  reason: RampRollbackReason,
  message: string,
  failedMetric?: string,
): Run {
  const at = measurementTime(input.now);
  const { pauseReason: _reason, pausedAt: _paused, ...rest } = run.r;
  const r: ToggleRolloutStatus = {
    ...rest,
    phase: "RolledBack",
    percentage: 0,
    rolledBackAt: at,
    ...(failedMetric ? { failedMetric } : {}),
    message: `Everyone is served default variant "${input.spec.defaultVariant}": ${message}`,
  };
  const event: RampEvent = { type: "Warning", reason: "RolloutRolledBack", note: r.message ?? "" };
  return { ...run, r, events: [...run.events, event], rolledBack: true, rollbackReason: reason };
}

/** Walks the steps from the current one while they need no waiting. Bounded by the number of steps. */
function walk(input: RampInput, start: Run): Run {
  const stages = rampStages(input.spec);
  let run = start;
  for (let guard = 0; guard <= stages.length + 1; guard++) {
    if (run.r.phase !== "Progressing") return run;
    const index = run.r.currentStepIndex;
    const stage = stages[index];
    if (!stage) return complete(input, run);
    if (stage.kind === "setWeight") {
      const note = `Serving variant "${run.r.variant}" to ${stage.weight}% (step ${index + 1} of ${stages.length}).`;
      const events =
        stage.weight === run.r.percentage ? run.events : [...run.events, normal("RolloutStep", note)];
      run = { ...run, events, r: enter(input, { ...run.r, percentage: stage.weight }, index + 1) };
      continue;
    }
    if (stage.kind === "pause") {
      if (stage.durationMs === undefined)
        return hold(input, run, "PauseStep", `Paused at step ${index + 1}: waiting for promote.`);
      const started = Date.parse(run.r.stepStartedAt ?? "");
      const left = Number.isNaN(started) ? 0 : started + stage.durationMs - input.now;
      if (left > 0) return { ...run, waitMs: left };
      run = { ...run, r: enter(input, run.r, index + 1) };
      continue;
    }
    if (stage.kind === "analysis") {
      const next = judgeStep(input, run, index, stage.metrics);
      if (next === undefined) {
        run = { ...run, r: enter(input, run.r, index + 1) };
        continue;
      }
      return next;
    }
    return complete(input, run);
  }
  return run;
}

/**
 * The analysis step's verdict: undefined when it passed (walk on), else the run stopped where
 * the verdict leaves it: rolled back, held, or waiting for measurements until the deadline.
 */
function judgeStep(input: RampInput, run: Run, index: number, names: string[] | undefined): Run | undefined {
  const analysis =
    run.r.analysis?.step === index
      ? run.r.analysis
      : { startedAt: measurementTime(input.now), step: index, metrics: [] };
  const r = analysis === run.r.analysis ? run.r : { ...run.r, analysis };
  const metrics = metricsNamed(input.metrics, names);
  const v = verdict(metrics, analysis.metrics);
  const here = { ...run, r };
  if (v.phase === "Successful") return undefined;
  if (v.phase === "Failed")
    return rollBack(
      input,
      here,
      "AnalysisFailed",
      `analysis failed at step ${index + 1}: ${v.message}`,
      v.metric,
    );
  if (v.phase === "Inconclusive") return hold(input, here, "InconclusiveAnalysis", v.message);
  // Time no operator measured (a failover during the step) does not count.
  const deadline = rampAnalysisDeadline(analysis, metrics, {
    defaultIntervalMs: input.defaultIntervalMs,
    now: input.now,
    ...(input.leaderSince === undefined ? {} : { leaderSince: input.leaderSince }),
  });
  const left = deadline.at - input.now;
  if (left <= 0) {
    const added =
      deadline.addedMs > 0
        ? ` (and ${Math.round(deadline.addedMs / 1000)}s no operator measured, not counted)`
        : "";
    return hold(
      input,
      here,
      "AnalysisDeadlineExceeded",
      `analysis at step ${index + 1} undecided after ${Math.round(deadline.lengthMs / 1000)}s${added}: ${v.message}`,
    );
  }
  return { ...here, waitMs: left };
}

type ActionOutcome = { next?: Run; result: string };
type Handler = (input: RampInput, r: ToggleRolloutStatus, id: string) => ActionOutcome;

const ignored = (why: string): ActionOutcome => ({ result: `ignored: ${why}` });
const live = (r: ToggleRolloutStatus) => r.phase === "Progressing" || r.phase === "Paused";
function notLive(r: ToggleRolloutStatus): ActionOutcome {
  return r.phase === "Completed"
    ? ignored("the ramp completed; the variant is served to everyone")
    : ignored("the ramp was rolled back; use retry or change spec.rollout");
}
/** Holds that a person releases with resume (or retry): problems and their own pause. */
const RESUMABLE: ReadonlySet<RampPauseReason | undefined> = new Set([
  "ManualPause",
  "InconclusiveAnalysis",
  "AnalysisDeadlineExceeded",
]);

const ACTIONS: Record<RampAction, Handler> = {
  promote: (input, r) => {
    if (!live(r)) return notLive(r);
    const stage = rampStages(input.spec)[r.currentStepIndex];
    return {
      next: { r: enter(input, r, r.currentStepIndex + 1), events: [] },
      result: `promoted past step ${r.currentStepIndex + 1} (${describeRampStage(stage)})`,
    };
  },
  "promote-full": (input, r) => {
    if (!live(r)) return notLive(r);
    return {
      next: complete(input, { r, events: [] }),
      result: "completed: the variant is served to everyone",
    };
  },
  abort: (input, r, id) => {
    if (!live(r)) return notLive(r);
    return {
      next: rollBack(input, { r, events: [] }, "Aborted", `aborted by action ${id}`),
      result: "rolled back",
    };
  },
  retry: (input, r) => {
    if (r.phase === "RolledBack") {
      const { rolledBackAt: _at, failedMetric: _metric, message: _message, analysis: _analysis, ...rest } = r;
      const restarted = {
        ...rest,
        phase: "Progressing" as const,
        percentage: 0,
        startedAt: measurementTime(input.now),
      };
      return {
        next: { r: enter(input, restarted, 0), events: [] },
        result: "restarted the ramp from step 1",
      };
    }
    if (r.phase === "Paused" && r.pauseReason !== "ManualPause" && RESUMABLE.has(r.pauseReason))
      return {
        next: { r: enter(input, r, r.currentStepIndex), events: [] },
        result: `retrying step ${r.currentStepIndex + 1}`,
      };
    return ignored("nothing to retry");
  },
  pause: (input, r, id) => {
    if (!live(r)) return notLive(r);
    if (r.phase === "Paused") return ignored(`already paused (${r.pauseReason ?? "Paused"})`);
    return {
      next: hold(input, { r, events: [] }, "ManualPause", `paused by action ${id}`),
      result: "paused",
    };
  },
  resume: (input, r) => {
    if (!live(r)) return notLive(r);
    if (r.phase !== "Paused") return ignored("not paused");
    if (r.pauseReason === "PauseStep") return ignored("waiting for promote");
    // The step starts over: an analysis held for a problem (or a long pause) measures afresh
    // rather than judge the variant on measurements from before the hold.
    return { next: { r: enter(input, r, r.currentStepIndex), events: [] }, result: "resumed" };
  },
};
