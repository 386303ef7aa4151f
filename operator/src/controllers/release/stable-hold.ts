/**
 * A rollback never leaves a Release without pods. Rolling back moves traffic to the stable
 * revision and scales the canary to zero; if the stable revision is not ready at that moment
 * (its Deployment deleted by hand, by a GitOps prune, still being recreated from its
 * ControllerRevision, or simply unavailable), doing so would leave every Service selecting
 * nothing. So while a RolledBack Release's stable revision is not ready, the rollback *holds*:
 * the canary keeps the pods it has, traffic goes wherever pods are ready, the Ready condition
 * says `StableUnavailable`, and the moment the stable revision is ready the rollback completes
 * (traffic to stable, canary to zero) on its own.
 *
 * Pure: every answer comes from the snapshot and the status.
 */
import type { ReleaseStatus } from "../../api/release.js";
import { isReadyAt } from "./observed.js";
import { deploymentOf, type ReleaseSnapshot } from "./snapshot.js";
import { rolledBack } from "./state.js";

/** The Ready/Reconciling condition reason while a rollback holds for its stable revision. */
export const STABLE_UNAVAILABLE = "StableUnavailable";

/** How far the stable revision is from serving: its ready pods and how many it should have. */
export interface StableShortfall {
  revision: string;
  version: string;
  ready: number;
  want: number;
  /** Whether its Deployment exists at all. */
  exists: boolean;
  /** Whether its pod template is kept (a ControllerRevision), so a missing Deployment is recreated. */
  kept: boolean;
}

/** The stable revision's shortfall when it is not ready at full size; undefined when it is. */
export function stableShortfall(snap: ReleaseSnapshot, s: ReleaseStatus): StableShortfall | undefined {
  if (!s.stableRevision) return undefined;
  const want = snap.release.spec.replicas;
  const dep = deploymentOf(snap, s.stableRevision);
  if (isReadyAt(dep, want)) return undefined;
  return {
    revision: s.stableRevision,
    version: s.stableVersion ?? "",
    ready: dep?.readyReplicas ?? 0,
    want,
    exists: dep !== undefined,
    kept: snap.revisions?.[s.stableRevision]?.template !== undefined,
  };
}

/**
 * Whether the rollback in `s` holds: the Release is RolledBack (or Reverted) with a canary revision that
 * still has pods, and its stable revision is not ready at full size. A canary already at zero
 * has nothing to hold (the hold only ever keeps pods, never starts them).
 */
export function rollbackHolds(snap: ReleaseSnapshot, s: ReleaseStatus): boolean {
  if (!rolledBack(s) || !s.canaryRevision || s.canaryRevision === s.stableRevision) return false;
  if (heldCanaryReplicas(snap, s) <= 0) return false;
  return stableShortfall(snap, s) !== undefined;
}

/** The canary's size as last applied: what a holding rollback keeps (never more, never less). */
export function heldCanaryReplicas(snap: ReleaseSnapshot, s: ReleaseStatus): number {
  return deploymentOf(snap, s.canaryRevision)?.specReplicas ?? 0;
}

/**
 * The share of traffic (percent) the canary gets while a rollback holds: its share of the
 * ready pods, 100 when the stable revision has none. Traffic moves to stable as its pods get
 * ready, and all of it once the hold ends.
 */
export function heldCanaryWeight(snap: ReleaseSnapshot, s: ReleaseStatus): number {
  const canary = deploymentOf(snap, s.canaryRevision)?.readyReplicas ?? 0;
  const stable = deploymentOf(snap, s.stableRevision)?.readyReplicas ?? 0;
  if (stable <= 0) return 100;
  return Math.round((100 * canary) / (canary + stable));
}

/** For people: why the rollback holds, in status, events and the notification. */
export function holdMessage(short: StableShortfall): string {
  const state = short.exists
    ? `${short.ready}/${short.want} replicas ready`
    : short.kept
      ? "its Deployment is gone and is being recreated from its ControllerRevision"
      : "its Deployment is gone and its pod template is kept nowhere: revert spec.template to it to recreate it";
  return `the stable revision ${short.revision} (${short.version}) is not ready (${state}): the canary keeps serving until it is`;
}
