/**
 * The FeatureToggle controller's decisions, as pure functions of one snapshot: whether a guard
 * Release's rollback has killed the toggle, whether it is stale or over its squad's active
 * limit, the status to write (also for a toggle whose spec is invalid) and the Events to
 * record; the squad's toggle policy as read from its raw spec; and the objects that carry a
 * namespace's flags to apps (the `crescendo-flags` ConfigMap and, when the OpenFeature Operator
 * is installed, its FeatureFlag; built in `flags/objects.ts` and re-exported here). The
 * reconciler (`reconciler.ts`) gathers the snapshot, calls these, and writes.
 */
import { ANNOTATIONS, DAY_MS, type LastAction } from "../../api/common.js";
import type { EffectiveState, FeatureToggleStatus } from "../../api/featuretoggle.js";
import type { FeatureToggle } from "../../api/kinds.js";
import type { HistoryEntry, ReleasePhase, ReleaseStatus } from "../../api/release.js";
import { squadToggles } from "../../api/raw-spec.js";
import { squadSpec } from "../../api/squad.js";
import { byAge, toggleKey, type InvalidToggle, type KeyConflict } from "../../flags/compile.js";
import {
  conditionTime,
  findCondition,
  readyConditions,
  removeCondition,
  setCondition,
  type Condition,
  type ConditionInput,
  type KStatus,
} from "../../runtime/conditions.js";
import type { KubeObject } from "../../runtime/types.js";
import type { InsightSummary } from "../../flags/insight.js";
import { planDebt, planInsight, servedSingleVariant, type DebtPolicy } from "./debt.js";
import { parseDuration } from "../../api/common.js";
import type { ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import { isRampAction, planRamp, rampStages, type RampEvent, type RampPlan } from "./ramp.js";
import type { RampProblem, RampSetup } from "./ramp-analysis.js";
import { servedShare } from "./ramp-share.js";
import { rampRollbackEntry } from "./ramp-notify.js";
import { killEntry } from "./kill-notify.js";
import { KILLED_BY_ACTION_PREFIX, killedByAction } from "./kill-by.js";
import { addNotification } from "../release/delivery.js";

export {
  FLAGS_FILE_KEY,
  FLAGS_OBJECT_NAME,
  planFeatureFlag,
  planFlagConfigMap,
  type FlagsObjectOptions,
} from "../../flags/objects.js";

/** Default days before a toggle of each type is stale; permission toggles live as long as the entitlement. */
export const DEFAULT_LIFETIME_DAYS = { release: 40, experiment: 40, ops: 7, permission: undefined } as const;

/**
 * Longest requeue asked for. Node's timers overflow past 2^31-1 ms (about 24.8 days) and fire at
 * once, and a 40-day lifetime is longer than that: a later moment is reached in steps, each
 * reconcile asking again for at most this long until the toggle is stale (a change to the
 * toggle, its namespace, guard Release or Squad, a relist after a lost watch, or the manager's
 * periodic resync, ~10 h, reconciles it sooner).
 */
export const MAX_REQUEUE_MS = 12 * 3_600_000;

/** A FeatureToggle as the informer holds it: the spec is not validated yet. */
export type RawToggle = KubeObject & { spec?: unknown; status?: FeatureToggleStatus };
/** A Release as the informer holds it; only its status is read. */
export type RawRelease = KubeObject & { status?: ReleaseStatus };
/** A Squad as the informer holds it; only its toggle policy is read. */
export type RawSquad = KubeObject & { spec?: unknown };

/** The guard Release's status fields the kill decision reads. */
export interface GuardRelease {
  name: string;
  phase?: ReleasePhase;
  stableRevision?: string;
  canaryRevision?: string;
  history?: readonly HistoryEntry[];
}

/** The squad's FeatureToggle policy (Squad `spec.toggles`). */
export interface SquadTogglePolicy {
  maxActive?: number;
  lifetimeDays?: { release?: number; experiment?: number; ops?: number; permission?: number };
}

/** A `crescendo.dev/action` annotation with its `crescendo.dev/action-id`. */
export interface ToggleAction {
  action: string;
  id: string;
  /** Why it was asked for (`crescendo.dev/action-reason`): a kill's on-call message says it. */
  reason?: string;
}

/** An Event to record about the toggle (`kubectl describe` shows it). */
export interface ToggleEvent {
  type: "Normal" | "Warning";
  reason: "ToggleKilled" | "ToggleRearmed" | "ToggleStale" | RampEvent["reason"];
  note: string;
}

/** A guarded ramp's inputs: its analysis setup (or why it cannot run) and its status so far. */
export interface ToggleRampInput {
  setup?: RampSetup;
  problem?: RampProblem;
  /** `status.rollout` with the measurements settled since the last write folded in. */
  previous?: ToggleRolloutStatus;
  /** When this process began to lead: the unattended gap before it does not count (ramp-deadline.ts). */
  leaderSince?: number;
}

export interface ToggleStatusInput {
  toggle: FeatureToggle;
  /**
   * The Release named by `spec.guard.release`, if the toggle has a guard and the Release exists.
   * A guarded toggle whose Release is missing is not killed, and stays killed if it was.
   */
  guardRelease?: GuardRelease;
  squadToggles?: SquadTogglePolicy;
  /**
   * Index of this toggle among the squad's active toggles, oldest first (see
   * `rankActiveToggles`); undefined when it is not active.
   */
  activeRank?: number;
  now: Date | number;
  /** The toggle's annotation action (see `toggleAction`); acted on once per id. */
  action?: ToggleAction;
  /** From `compileDocument`: this toggle lost its key to an older toggle and is not served. */
  conflict?: KeyConflict;
  /** From `compileDocument`: flagd would refuse this toggle's flag. */
  invalid?: InvalidToggle;
  /**
   * Toggle debt: when set, the status carries the insight summary and the Unused and
   * FullyRolledOut conditions (`debt.ts`). The reconciler always sets it.
   */
  debt?: DebtPolicy;
  /** The evaluation counts of the replicas serving OFREP, merged (`flags/insight.ts` summarise). */
  insight?: InsightSummary;
  /**
   * Evaluations are not counted (`--toggle-insight=false`): no insight in status, and `Unused`
   * is Unknown rather than True for every toggle.
   */
  insightOff?: boolean;
  /** For a toggle with `spec.rollout.steps`; absent, the ramp is held where status left it. */
  ramp?: ToggleRampInput;
}

export interface ToggleStatusPlan {
  status: FeatureToggleStatus;
  events: ToggleEvent[];
  /** Whether the toggle is compiled killed (feed this to `compileDocument`). */
  killed: boolean;
  /** When to look again: the moment the toggle becomes stale, capped at MAX_REQUEUE_MS. */
  requeueAfterMs?: number;
  /** The insight summary given was taken into status (false: held back by the once-a-minute limit). */
  insightTaken?: boolean;
  /** The ramp rolled back in this plan: a failed change for the squad, and its on-call is told. */
  rampRolledBack?: boolean;
}

/** The annotation action on a toggle; undefined without both annotations (an id is what makes it act once). */
export function toggleAction(toggle: FeatureToggle): ToggleAction | undefined {
  const action = toggle.metadata.annotations?.[ANNOTATIONS.action]?.trim();
  const id = toggle.metadata.annotations?.[ANNOTATIONS.actionId]?.trim();
  const reason = toggle.metadata.annotations?.[ANNOTATIONS.actionReason]?.trim();
  return action && id ? { action, id, ...(reason ? { reason } : {}) } : undefined;
}

/**
 * Active means apps get what the spec asks for: enabled, not killed. Read from status so the
 * squad controller's counts (`toggleCounts`) and this limit agree.
 */
export function isActiveToggle(toggle: FeatureToggle): boolean {
  return (
    toggle.status?.effectiveState === "Enabled" ||
    (!toggle.status?.effectiveState && toggle.spec.state !== "Disabled")
  );
}

/**
 * Ranks a squad's active toggles oldest first (creationTimestamp, name, namespace), keyed by
 * `namespace/name`. The oldest keep their place under the limit, so creating a new toggle
 * never pushes an established one over.
 */
export function rankActiveToggles(toggles: readonly FeatureToggle[]): Map<string, number> {
  const active = toggles.filter(isActiveToggle).sort((a, b) => {
    const order = byAge(a, b);
    if (order !== 0) return order;
    const na = a.metadata.namespace ?? "";
    const nb = b.metadata.namespace ?? "";
    return na < nb ? -1 : na > nb ? 1 : 0;
  });
  return new Map(active.map((t, rank) => [`${t.metadata.namespace ?? ""}/${t.metadata.name ?? ""}`, rank]));
}

/** Condition type recording a kill; its observedGeneration is the generation at the kill. */
export const KILLED_CONDITION = "KilledByRollback";

export interface KillDecision {
  killed: boolean;
  killedAt?: string;
  killedBy?: string;
  /** The generation the toggle had when it was killed: a later spec change re-arms it. */
  killGeneration?: number;
  lastAction?: LastAction;
  event?: ToggleEvent;
}

/** The revision whose rollback this is: the newest history entry if it records the rollback, else the canary. */
function rolledBackRevision(release: GuardRelease): string | undefined {
  const newest = release.history?.[0];
  return newest?.outcome === "RolledBack" ? newest.revision : release.canaryRevision;
}

/** The command that re-arms the toggle, with its namespace: pasted as is, it must reach this object. */
const rearmHint = (name: string, namespace: string) =>
  `kubectl annotate featuretoggle ${name} -n ${namespace} ${ANNOTATIONS.action}=rearm ${ANNOTATIONS.actionId}=$(date +%s) --overwrite`;

/**
 * Kill and re-arm. A guarded toggle is killed when its Release's phase is RolledBack, and stays
 * killed (status.killedAt) until the Release is Healthy again AND a person re-arms it: a `rearm`
 * action, or any spec change after the kill. Requiring both means a new rollout cannot quietly
 * re-enable a feature that was just implicated in a failure, and a human who fixed it need not
 * wait. A rearm sent while the Release is not Healthy is refused (recorded in lastAction) rather
 * than remembered, so re-enabling is always a decision made when it is safe. Removing the guard
 * lifts a kill at once: there is no Release left to wait for.
 */
export function decideKill(
  input: Pick<ToggleStatusInput, "toggle" | "guardRelease" | "action" | "now">,
): KillDecision {
  const previous = input.toggle.status?.lastAction;
  const fresh = input.action && input.action.id !== previous?.id ? input.action : undefined;
  const rearm = fresh?.action === "rearm";
  if (fresh?.action === "kill") return killByAction(input, fresh);
  const { rearmResult, ...state } = killState(input, rearm);
  if (!fresh) return { ...state, ...(previous ? { lastAction: previous } : {}) };
  const result = rearm
    ? rearmResult
    : `ignored: "${fresh.action}" does not apply to FeatureToggles (only kill and rearm)`;
  return {
    ...state,
    lastAction: { id: fresh.id, action: fresh.action, acceptedAt: conditionTime(input.now), result },
  };
}

export { KILLED_BY_ACTION_PREFIX, killedByAction } from "./kill-by.js";

/**
 * A `kill` action: everyone gets the default variant at once, guard or not, and the kill stays
 * until a person re-arms it (a `rearm` action, or a spec change; with a guard, once its Release
 * is Healthy too). The incident receiver sends it for KillToggles (docs/incidents.md).
 */
function killByAction(input: Pick<ToggleStatusInput, "toggle" | "now">, action: ToggleAction): KillDecision {
  const { toggle, now } = input;
  const status = toggle.status ?? {};
  const at = conditionTime(now);
  const lastAction = { id: action.id, action: action.action, acceptedAt: at, result: "" };
  if (status.killedAt !== undefined) {
    const kept = {
      killed: true,
      killedAt: status.killedAt,
      ...(status.killedBy ? { killedBy: status.killedBy } : {}),
      killGeneration:
        findCondition(status.conditions, KILLED_CONDITION)?.observedGeneration ??
        toggle.metadata.generation ??
        0,
    };
    return { ...kept, lastAction: { ...lastAction, result: "ignored: the toggle is already killed" } };
  }
  const name = toggle.metadata.name ?? "";
  const note =
    `Killed by action ${action.id}; everyone gets default variant "${toggle.spec.defaultVariant}". ` +
    `Re-arm when it is safe: ${rearmHint(name, toggle.metadata.namespace ?? "default")}`;
  return {
    killed: true,
    killedAt: at,
    killedBy: `${KILLED_BY_ACTION_PREFIX}${action.id}`,
    killGeneration: toggle.metadata.generation ?? 0,
    event: { type: "Warning", reason: "ToggleKilled", note },
    lastAction: { ...lastAction, result: "killed" },
  };
}

/** The kill state, and what a rearm action sent now would achieve (for lastAction.result). */
function killState(
  input: Pick<ToggleStatusInput, "toggle" | "guardRelease" | "now">,
  rearm: boolean,
): Omit<KillDecision, "lastAction"> & { rearmResult: string } {
  const { toggle, guardRelease, now } = input;
  const status = toggle.status ?? {};
  const generation = toggle.metadata.generation ?? 0;
  const guard = toggle.spec.guard;
  const wasKilled = status.killedAt !== undefined;
  const notKilled = "ignored: the toggle is not killed";
  if (!guard && wasKilled && killedByAction(status)) return actionKillState(status, generation, rearm);
  if (!guard) {
    if (!wasKilled) return { killed: false, rearmResult: notKilled };
    const event: ToggleEvent = {
      type: "Normal",
      reason: "ToggleRearmed",
      note: "Guard removed; serving the spec again.",
    };
    return { killed: false, event, rearmResult: "re-armed (the guard was removed)" };
  }
  const phase = guardRelease?.phase;
  const notHealthy = `refused: Release ${guard.release} is ${phase ?? "missing"}, not Healthy; send a new rearm once it is`;
  if (!wasKilled) {
    // A revert after promotion turns the revision away as a rollback does.
    const turnedAway = phase === "RolledBack" || phase === "Reverted";
    if (!turnedAway || !guardRelease) return { killed: false, rearmResult: notKilled };
    const revision = rolledBackRevision(guardRelease);
    const note =
      `Release ${guard.release} rolled back${revision ? ` revision ${revision}` : ""}; everyone gets default variant ` +
      `"${toggle.spec.defaultVariant}". Re-arm once the Release is Healthy: ${rearmHint(toggle.metadata.name ?? "", toggle.metadata.namespace ?? "default")}`;
    return {
      killed: true,
      killedAt: conditionTime(now),
      ...(revision ? { killedBy: revision } : {}),
      killGeneration: generation,
      event: { type: "Warning", reason: "ToggleKilled", note },
      rearmResult: notHealthy,
    };
  }
  const killGeneration =
    findCondition(status.conditions, KILLED_CONDITION)?.observedGeneration ??
    status.observedGeneration ??
    generation;
  const edited = generation > killGeneration;
  if (phase !== "Healthy" || (!rearm && !edited)) {
    const kept = { killed: true, killedAt: status.killedAt, killGeneration };
    return { ...kept, ...(status.killedBy ? { killedBy: status.killedBy } : {}), rearmResult: notHealthy };
  }
  const how = rearm ? "a rearm action" : `a spec change (generation ${generation})`;
  const event: ToggleEvent = {
    type: "Normal",
    reason: "ToggleRearmed",
    note: `Re-armed by ${how}; Release ${guard.release} is Healthy. Serving the spec again.`,
  };
  return { killed: false, event, rearmResult: "re-armed" };
}

/** An unguarded toggle killed by a `kill` action: killed until a rearm action or a spec change. */
function actionKillState(
  status: NonNullable<FeatureToggle["status"]>,
  generation: number,
  rearm: boolean,
): Omit<KillDecision, "lastAction"> & { rearmResult: string } {
  const killGeneration =
    findCondition(status.conditions, KILLED_CONDITION)?.observedGeneration ??
    status.observedGeneration ??
    generation;
  if (rearm || generation > killGeneration) {
    const how = rearm ? "a rearm action" : `a spec change (generation ${generation})`;
    const event: ToggleEvent = {
      type: "Normal",
      reason: "ToggleRearmed",
      note: `Re-armed by ${how}. Serving the spec again.`,
    };
    return { killed: false, event, rearmResult: "re-armed" };
  }
  return {
    killed: true,
    killedAt: status.killedAt,
    ...(status.killedBy ? { killedBy: status.killedBy } : {}),
    killGeneration,
    rearmResult: "re-armed",
  };
}

export interface Staleness {
  stale: boolean;
  /** When the toggle becomes (or became) stale; undefined when it never does. */
  staleAt?: number;
  /** Which rule sets staleAt, in words. */
  rule?: string;
}

/**
 * Stale once past `expiresAt` or past its type's lifetime (the squad's `lifetimeDays`, else
 * 40 days for release and experiment toggles, 7 for ops, never for permission), whichever comes
 * first. Stale is a nudge to delete the toggle from code; it changes nothing that is served.
 */
export function staleness(
  toggle: FeatureToggle,
  policy: SquadTogglePolicy | undefined,
  now: number,
): Staleness {
  const type = toggle.spec.type ?? "release";
  const days = policy?.lifetimeDays?.[type] ?? DEFAULT_LIFETIME_DAYS[type];
  const created = Date.parse(toggle.metadata.creationTimestamp ?? "");
  const expires = Date.parse(toggle.spec.expiresAt ?? "");
  const candidates: { at: number; rule: string }[] = [];
  if (!Number.isNaN(expires))
    candidates.push({ at: expires, rule: `spec.expiresAt ${toggle.spec.expiresAt}` });
  if (days !== undefined && !Number.isNaN(created)) {
    candidates.push({ at: created + days * DAY_MS, rule: `the ${days}-day lifetime of ${type} toggles` });
  }
  const first = candidates.sort((a, b) => a.at - b.at)[0];
  if (!first) return { stale: false };
  return { stale: now > first.at, staleAt: first.at, rule: first.rule };
}

function staleCondition(s: Staleness, type: string, generation: number): ConditionInput {
  if (s.stale) {
    return {
      type: "Stale",
      status: "True",
      reason: s.rule?.startsWith("spec.expiresAt") ? "Expired" : "LifetimeExceeded",
      message: `Past ${s.rule ?? ""}. Remove the toggle from code, then delete it.`,
      observedGeneration: generation,
    };
  }
  const message =
    s.staleAt === undefined
      ? `Never stale: ${type} toggles have no lifetime and spec.expiresAt is not set.`
      : `Becomes stale at ${conditionTime(s.staleAt)} (${s.rule ?? ""}).`;
  return {
    type: "Stale",
    status: "False",
    reason: "WithinLifetime",
    message,
    observedGeneration: generation,
  };
}

function activeLimitCondition(
  input: ToggleStatusInput,
  state: EffectiveState,
  generation: number,
): ConditionInput | undefined {
  const max = input.squadToggles?.maxActive;
  if (max === undefined) return undefined;
  const rank = input.activeRank;
  if (state === "Enabled" && rank !== undefined && rank >= max) {
    return {
      type: "OverActiveLimit",
      status: "True",
      reason: "ActiveLimitExceeded",
      message: `This is active toggle #${rank + 1} of the squad, which allows ${max} (Squad spec.toggles.maxActive). It is still served and nothing is deleted; disable or delete toggles the squad no longer needs.`,
      observedGeneration: generation,
    };
  }
  return {
    type: "OverActiveLimit",
    status: "False",
    reason: "WithinLimit",
    message: `The squad allows ${max} active toggles.`,
    observedGeneration: generation,
  };
}

function kstatus(
  input: ToggleStatusInput,
  key: string,
  state: EffectiveState,
  kill: KillDecision,
  rollout: ToggleRolloutStatus | undefined,
): KStatus {
  const { toggle, conflict, invalid } = input;
  const variant = toggle.spec.defaultVariant;
  if (conflict) {
    return {
      state: "Stalled",
      reason: "KeyConflict",
      message: `Flag key "${key}" is already served by the older FeatureToggle ${conflict.winner}; this toggle is not served. Set a unique spec.key.`,
    };
  }
  if (invalid) {
    const served =
      invalid.served === "omitted" ? "it is not served" : `everyone gets default variant "${variant}"`;
    return {
      state: "Stalled",
      reason: "InvalidFlag",
      message: `flagd refuses this flag (${invalid.reason}); ${served}.`,
    };
  }
  const guard = toggle.spec.guard;
  const missing = guard && !input.guardRelease ? ` Guard Release ${guard.release} not found.` : "";
  if (state === "KilledByRollback" && kill.killedBy?.startsWith(KILLED_BY_ACTION_PREFIX)) {
    return {
      state: "Ready",
      reason: "KilledByAction",
      message: `Killed by ${kill.killedBy} at ${kill.killedAt ?? ""}; everyone gets default variant "${variant}". To re-arm: ${rearmHint(toggle.metadata.name ?? "", toggle.metadata.namespace ?? "default")}.${missing}`,
    };
  }
  if (state === "KilledByRollback") {
    return {
      state: "Ready",
      reason: "KilledByRollback",
      message: `Killed by the rollback of Release ${guard?.release ?? ""}${kill.killedBy ? ` (revision ${kill.killedBy})` : ""} at ${kill.killedAt ?? ""}; everyone gets default variant "${variant}". Once the Release is Healthy: ${rearmHint(toggle.metadata.name ?? "", toggle.metadata.namespace ?? "default")}.${missing}`,
    };
  }
  if (state === "Disabled") {
    return {
      state: "Ready",
      reason: "Disabled",
      message: `Serving "${key}": disabled, everyone gets default variant "${variant}".${missing}`,
    };
  }
  const problem = input.ramp?.problem;
  if (toggle.spec.rollout?.steps && problem) {
    return { state: "Stalled", reason: problem.reason, message: `${problem.message}. The ramp is held.` };
  }
  if (rollout) return rampKStatus(key, rollout, rampStages(toggle.spec).length, missing);
  return { state: "Ready", reason: "Serving", message: `Serving "${key}".${missing}` };
}

/**
 * kstatus of a ramp, as a Release's phases read (`release/conditions.ts`): in progress (and held
 * deliberately, waiting for a person's promote) is Reconciling; held on a problem, or rolled
 * back, is Stalled: the spec asks for a variant that is not served until a person acts.
 */
function rampKStatus(key: string, r: ToggleRolloutStatus, steps: number, missing: string): KStatus {
  const where = `variant "${r.variant}" at ${r.percentage}% (step ${Math.min(r.currentStepIndex + 1, steps)} of ${steps})`;
  switch (r.phase) {
    case "Completed":
      return { state: "Ready", reason: "Serving", message: `Serving "${key}": ${r.message ?? ""}${missing}` };
    case "RolledBack":
      return { state: "Stalled", reason: "RolledBack", message: r.message ?? "rolled back" };
    case "Paused": {
      const reason = r.pauseReason ?? "ManualPause";
      const message = `Ramp held at ${where}: ${r.message ?? reason}`;
      return reason === "ManualPause" || reason === "PauseStep"
        ? { state: "Reconciling", reason, message }
        : { state: "Stalled", reason, message };
    }
    default:
      return { state: "Reconciling", reason: "Ramping", message: `Ramping ${where}.${missing}` };
  }
}

/** The ramp's plan, or its status held as it is (a spec problem, a toggle not served as specified). */
function rampOf(
  input: ToggleStatusInput,
  state: EffectiveState,
  now: number,
  action: ToggleAction | undefined,
): { plan?: RampPlan; held?: ToggleRolloutStatus; actionResult?: string } {
  const { toggle } = input;
  if (toggle.spec.rollout?.steps === undefined) return {};
  const previous = input.ramp?.previous ?? toggle.status?.rollout;
  const setup = input.ramp?.setup;
  const why = input.ramp?.problem
    ? `the ramp cannot run (${input.ramp.problem.reason})`
    : state !== "Enabled"
      ? `the toggle is ${state}; the ramp waits`
      : setup === undefined
        ? "the ramp is not being reconciled"
        : undefined;
  if (why !== undefined || setup === undefined) {
    return {
      ...(previous ? { held: previous } : {}),
      ...(action ? { actionResult: `ignored: ${why ?? ""}` } : {}),
    };
  }
  const plan = planRamp({
    spec: toggle.spec,
    ...(previous ? { previous } : {}),
    now,
    metrics: setup.metrics,
    defaultIntervalMs: parseDuration(setup.defaultInterval),
    ...(input.ramp?.leaderSince === undefined ? {} : { leaderSince: input.ramp.leaderSince }),
    ...(action && isRampAction(action.action) ? { action: { action: action.action, id: action.id } } : {}),
  });
  return { plan, ...(plan.actionResult === undefined ? {} : { actionResult: plan.actionResult }) };
}

function killedCondition(input: ToggleStatusInput, kill: KillDecision, generation: number): ConditionInput {
  if (kill.killed && kill.killedBy?.startsWith(KILLED_BY_ACTION_PREFIX)) {
    return {
      type: KILLED_CONDITION,
      status: "True",
      reason: "KilledByAction",
      message: `Killed by ${kill.killedBy}.`,
      observedGeneration: kill.killGeneration ?? generation,
    };
  }
  if (kill.killed) {
    return {
      type: KILLED_CONDITION,
      status: "True",
      reason: "GuardRolledBack",
      message: `Release ${input.toggle.spec.guard?.release ?? ""} rolled back${kill.killedBy ? ` revision ${kill.killedBy}` : ""}.`,
      observedGeneration: kill.killGeneration ?? generation,
    };
  }
  return {
    type: KILLED_CONDITION,
    status: "False",
    reason: "Armed",
    message: "Serving the spec; a rollback of the guard Release kills the toggle.",
    observedGeneration: generation,
  };
}

/**
 * The toggle's whole status, its Events and whether it is compiled killed. Conditions: Ready /
 * Reconciling / Stalled (kstatus; Stalled for a key conflict or a flag flagd refuses), Stale,
 * OverActiveLimit (when the squad sets maxActive) and KilledByRollback (when guarded);
 * lastTransitionTime moves only when a condition's status does. Events mark the changes people
 * must notice: ToggleKilled, ToggleRearmed, ToggleStale.
 */
export function planToggleStatus(input: ToggleStatusInput): ToggleStatusPlan {
  const { toggle } = input;
  const now = typeof input.now === "number" ? input.now : input.now.getTime();
  const previous = toggle.status ?? {};
  const generation = toggle.metadata.generation ?? 0;
  const key = toggleKey(toggle);
  const fresh = input.action && input.action.id !== previous.lastAction?.id ? input.action : undefined;
  // Ramp actions go to the ramp; rearm (and anything on a toggle without a ramp) to the kill.
  const rampAction =
    fresh && toggle.spec.rollout?.steps !== undefined && isRampAction(fresh.action) ? fresh : undefined;
  const kill = decideKill(rampAction ? { ...input, action: undefined } : input);
  const state: EffectiveState = kill.killed
    ? "KilledByRollback"
    : toggle.spec.state === "Disabled"
      ? "Disabled"
      : "Enabled";
  const stale = staleness(toggle, input.squadToggles, now);
  const type = toggle.spec.type ?? "release";

  const ramp = rampOf(input, state, now, rampAction);
  const rollout = ramp.plan ? ramp.plan.rollout : ramp.held;
  const lastAction =
    rampAction && ramp.actionResult !== undefined
      ? {
          id: rampAction.id,
          action: rampAction.action,
          acceptedAt: conditionTime(now),
          result: ramp.actionResult,
        }
      : kill.lastAction;
  let conditions: Condition[] = readyConditions(
    previous.conditions,
    kstatus(input, key, state, kill, rollout),
    {
      observedGeneration: generation,
      now,
    },
  );
  conditions = setCondition(conditions, staleCondition(stale, type, generation), now);
  const limit = activeLimitCondition(input, state, generation);
  conditions = limit ? setCondition(conditions, limit, now) : removeCondition(conditions, "OverActiveLimit");
  conditions =
    toggle.spec.guard || kill.killed
      ? setCondition(conditions, killedCondition(input, kill, generation), now)
      : removeCondition(conditions, KILLED_CONDITION);

  // A rollback's or a kill's own status write records its on-call notification, pending
  // (`ramp-notify.ts`, `kill-notify.ts`): a crash after the write cannot lose it.
  const uid = toggle.metadata.uid ?? "";
  const notices = [
    ramp.plan?.rolledBack
      ? rampRollbackEntry(uid, rollout, ramp.plan.rollbackReason ?? "Aborted")
      : undefined,
    kill.killed
      ? killEntry(
          uid,
          previous,
          { killedAt: kill.killedAt, killedBy: kill.killedBy, servedVariant: toggle.spec.defaultVariant },
          fresh?.action === "kill" ? fresh.reason : undefined,
        )
      : undefined,
  ];
  const notifications = notices.reduce(
    (list, n) => (n ? addNotification(list, n) : list),
    previous.notifications,
  );

  const insight =
    input.debt && !input.insightOff ? planInsight(previous.insight, input.insight, now) : undefined;
  const debt = input.debt
    ? planDebt({
        insight: insight?.insight,
        single: servedSingleVariant(toggle.spec, kill.killed, servedShare(toggle.spec, { rollout })),
        previousSingle: previous.singleVariant,
        previousSingleSince: previous.singleVariantSince,
        policy: input.debt,
        now,
        generation,
      })
    : undefined;
  for (const condition of debt?.conditions ?? []) conditions = setCondition(conditions, condition, now);

  const staleSince = stale.stale
    ? previous.stale && previous.staleSince
      ? previous.staleSince
      : conditionTime(stale.staleAt ?? now)
    : undefined;
  const specChangedAt = specChangeTime(toggle, previous, now);
  const status: FeatureToggleStatus = {
    observedGeneration: generation,
    conditions,
    key,
    effectiveState: state,
    servedVariant: toggle.spec.defaultVariant,
    ...(kill.killed && kill.killedAt ? { killedAt: kill.killedAt } : {}),
    ...(kill.killed && kill.killedBy ? { killedBy: kill.killedBy } : {}),
    ...(specChangedAt ? { specChangedAt } : {}),
    stale: stale.stale,
    ...(staleSince ? { staleSince } : {}),
    ...(lastAction ? { lastAction } : {}),
    ...(insight ? { insight: insight.insight } : {}),
    ...(rollout ? { rollout } : {}),
    ...(notifications?.length ? { notifications } : {}),
    ...(debt?.singleVariant ? { singleVariant: debt.singleVariant } : {}),
    ...(debt?.singleVariantSince ? { singleVariantSince: debt.singleVariantSince } : {}),
  };

  const events: ToggleEvent[] = kill.event ? [kill.event] : [];
  events.push(...(ramp.plan?.events ?? []));
  if (stale.stale && previous.stale !== true) {
    events.push({
      type: "Warning",
      reason: "ToggleStale",
      note: `FeatureToggle ${toggle.metadata.name ?? ""} is past ${stale.rule ?? ""}. Remove it from code, then delete it.`,
    });
  }
  const waits = [
    !stale.stale && stale.staleAt !== undefined ? stale.staleAt - now + 1000 : undefined,
    insight?.requeueAfterMs,
    debt?.requeueAfterMs,
    ramp.plan?.waitMs,
  ].filter((w): w is number => w !== undefined);
  const requeueAfterMs = waits.length
    ? Math.min(MAX_REQUEUE_MS, Math.max(1000, Math.min(...waits)))
    : undefined;
  return {
    status,
    events,
    killed: kill.killed,
    ...(requeueAfterMs === undefined ? {} : { requeueAfterMs }),
    ...(insight ? { insightTaken: insight.taken } : {}),
    ...(ramp.plan?.rolledBack ? { rampRolledBack: true } : {}),
  };
}

/**
 * When the current spec took effect, for incident correlation: kept while the generation is the
 * one already observed; the creation time for a toggle never reconciled; now for a new
 * generation (the reconcile follows an edit within moments). A toggle reconciled before this
 * field existed has none until its next edit: unknown is not guessed.
 */
export function specChangeTime(
  toggle: Pick<FeatureToggle, "metadata">,
  previous: FeatureToggleStatus,
  now: number,
): string | undefined {
  const generation = toggle.metadata.generation ?? 0;
  if (previous.observedGeneration === generation) return previous.specChangedAt;
  if (previous.observedGeneration === undefined && toggle.metadata.creationTimestamp) {
    return toggle.metadata.creationTimestamp;
  }
  return conditionTime(now);
}

/** The squad's toggle policy, read even from a Squad whose spec is otherwise invalid. */
export function squadTogglePolicy(squad: RawSquad | undefined): SquadTogglePolicy | undefined {
  if (!squad) return undefined;
  const parsed = squadSpec.shape.toggles.safeParse(squadToggles(squad));
  return parsed.success ? parsed.data : undefined;
}

/**
 * The status of a toggle whose spec fails validation: Stalled with reason InvalidSpec and the
 * message, and no effective state, since nothing is served for it. What it records about a
 * past kill and action is kept, so fixing the spec does not quietly re-arm a killed toggle.
 */
export function invalidSpecStatus(toggle: RawToggle, message: string, now: number): FeatureToggleStatus {
  const previous = toggle.status ?? {};
  const generation = toggle.metadata.generation ?? 0;
  const { effectiveState: _state, servedVariant: _variant, ...kept } = previous;
  return {
    ...kept,
    observedGeneration: generation,
    conditions: readyConditions(
      previous.conditions,
      {
        state: "Stalled",
        reason: "InvalidSpec",
        message: `${message}. The toggle is not served: apps get their code default.`,
      },
      { observedGeneration: generation, now },
    ),
  };
}
