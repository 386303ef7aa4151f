/**
 * The vocabulary of the Release state machine, shared by its parts (the stages a rollout goes
 * through are derived from the spec in `api/release-stages.ts`): the states a Release is in, the context one `step` decides in (the snapshot and what
 * is derived from it once), and a transition (`Next`: the status it leads to and what it tells
 * the world). Nothing here decides anything; `rollout.ts` is where the decisions start.
 */
import type { ReleasePhase, ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { currentStage, stagesOf, type Stage } from "../../api/release-stages.js";
import { revisionOf } from "./revision.js";
import type { ReleaseSnapshot } from "./snapshot.js";
import { routerFor } from "./traffic/routing.js";
import type { TrafficRouter } from "./traffic/router.js";

/** A stage as people read it, in events and action results: "setWeight 20", "pause 30s". */
export function describeStage(stage: Stage | undefined): string {
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

/** A Kubernetes Event to record: reason in CamelCase, note for people. */
export interface RolloutEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

/**
 * Why a rollout was rolled back: its analysis failed, it made no progress within
 * `progressDeadlineSeconds`, a person asked (`abort`), or the verification after its promotion
 * failed (`PostPromotionAnalysisFailed`: the Release is then `Reverted`). The history entry's `reason`, the
 * `RolledBack` condition's reason, the metric label and the on-call notification all use these.
 */
export const ROLLBACK_REASONS = [
  "AnalysisFailed",
  "ProgressDeadlineExceeded",
  "Aborted",
  "PostPromotionAnalysisFailed",
] as const;
export type RollbackReason = (typeof ROLLBACK_REASONS)[number];

/** What one `step` decided: the status to write and what to tell the world about it. */
export interface StepResult {
  /** The complete new status; write it only if it differs from the observed one. */
  status: ReleaseStatus;
  /** The next timed event (pause end, auto-promotion, progress deadline, scale-down). */
  requeueAfterMs?: number;
  /** Events for every phase change and notable transition, oldest first. */
  events: RolloutEvent[];
  /**
   * Set when this step rolled back: notify on-call, count it, observe time-to-rollback.
   * `stableAvailable` false: the stable revision was not ready, so the rollback holds (the
   * canary keeps serving, see stable-hold.ts) and `message` says so.
   */
  rolledBack?: {
    reason: RollbackReason;
    message: string;
    revision: string;
    version: string;
    stableAvailable?: boolean;
  };
  /** Set when this step promoted a revision (or switched back to one). */
  promoted?: { revision: string; version: string };
}

/** What one `step` decides in: the snapshot and what is derived from it once. */
export interface Ctx {
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
export interface Next {
  status: ReleaseStatus;
  events?: RolloutEvent[];
  rolledBack?: StepResult["rolledBack"];
  promoted?: StepResult["promoted"];
}

/** Where a Release is, read from its status; every decision dispatches on this first. */
export type State =
  | { kind: "Initial" }
  | { kind: "Steady" }
  | { kind: "Verifying" }
  | { kind: "Rolling"; index: number; stage: Stage }
  | { kind: "RolledBack" };

/** Derives the context of one `step` from its snapshot. */
export function contextOf(snap: ReleaseSnapshot): Ctx {
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

/**
 * The state `s` describes: nothing deployed, steady (or steady while the last promotion is
 * verified), rolling at a stage, or rolled back (a rollback, or a revert after promotion).
 */
export function stateOf(ctx: Ctx, s: ReleaseStatus): State {
  if (!s.stableRevision) return { kind: "Initial" };
  if (!s.canaryRevision) return verifying(s) ? { kind: "Verifying" } : { kind: "Steady" };
  if (rolledBack(s)) return { kind: "RolledBack" };
  return { kind: "Rolling", ...currentStage(ctx.spec, s) };
}

/** Whether the promotion of the stable revision is being verified (`status.postPromotion`). */
export function verifying(s: ReleaseStatus): boolean {
  const v = s.postPromotion;
  return v?.result === "Verifying" && v.revision === s.stableRevision && !s.canaryRevision;
}

/**
 * Whether `s` records a canary turned away: rolled back during its rollout, or reverted after
 * its promotion. Either way its traffic is on the stable revision and its pods go to zero.
 */
export function rolledBack(s: Pick<ReleaseStatus, "phase">): boolean {
  return s.phase === "RolledBack" || s.phase === "Reverted";
}

/**
 * Whether the rollout in `s` has entered its first stage. A revision recorded while
 * `spec.paused` is set has not: it has no stage, no canary pods, no traffic and no analysis
 * until the pause is cleared (Argo Rollouts' behaviour).
 */
export function rolloutStarted(s: ReleaseStatus): boolean {
  return s.currentStepIndex !== undefined;
}

/** What no longer exists once a rollout ends (promotion, revert, switch back). */
export const ROLLOUT_CLEARED: ReleaseStatus = {
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
  postPromotion: undefined,
};

/**
 * Sets phase and message; an event only when the phase changes. Undefined when nothing
 * changes, which is how the transition loop knows it has settled.
 */
export function toPhase(
  s: ReleaseStatus,
  phase: ReleasePhase,
  message: string,
  event?: RolloutEvent,
): Next | undefined {
  if (s.phase === phase && s.message === message) return undefined;
  const changed = s.phase !== phase;
  return { status: { ...s, phase, message }, ...(changed && event ? { events: [event] } : {}) };
}

/** The event of a phase change that no transition described: Warning for Degraded and RolledBack. */
export function phaseEvent(s: ReleaseStatus): RolloutEvent {
  const bad = s.phase === "Degraded" || rolledBack(s);
  return { type: bad ? "Warning" : "Normal", reason: s.phase ?? "Progressing", note: s.message ?? "" };
}

/** A Normal event. */
export const normal = (reason: string, note: string): RolloutEvent => ({ type: "Normal", reason, note });

/** A Warning event. */
export const warning = (reason: string, note: string): RolloutEvent => ({ type: "Warning", reason, note });

/** `ms` since the epoch as RFC 3339, for status timestamps. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Parses a status timestamp; a missing or unreadable one counts as `fallback` (usually now). */
export function time(text: string | undefined, fallback: number): number {
  const ms = text === undefined ? NaN : Date.parse(text);
  return Number.isNaN(ms) ? fallback : ms;
}

/** Drops `undefined` fields at every depth, so equal states serialise and compare equal. */
export function clean<T>(value: T): T {
  if (Array.isArray(value)) return value.map(clean) as T;
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return Object.fromEntries(entries.map(([k, v]) => [k, clean(v)])) as T;
}
