/**
 * A Squad's status, computed from one snapshot with no I/O: kstatus conditions, per-namespace
 * readiness, its Releases and FeatureToggles by state, and its delivery metrics (DORA keys,
 * operator/src/delivery) folded forward from the Releases' history. The output is deterministic (sorted, integer
 * seconds, conditions whose times move only on transitions), so the controller can compare it
 * with the observed status and write only when something really changed.
 */
import { MAX_SQUAD_TOGGLE_DEBT } from "../../api/squad.js";
import { toggleDebt } from "../../api/toggle-debt.js";
import type { FeatureToggle, Release, Squad } from "../../api/kinds.js";
import type { SquadStatus } from "../../api/squad.js";
import { squadDelivery } from "../../delivery/squad-delivery.js";
import { settleActions } from "../../incidents/plan.js";
import { containsDesired } from "../../runtime/apply.js";
import { findCondition, readyConditions, type Condition, type KStatus } from "../../runtime/conditions.js";
import type { KubeObject } from "../../runtime/types.js";
import { objectIdentity, type Namespace, type PlanResult } from "./plan.js";

/** What the informers held when the squad was reconciled. */
export interface SquadObservation {
  /** Declared namespace → the Namespace observed, or undefined when absent. */
  namespaces: ReadonlyMap<string, Namespace | undefined>;
  /** Observed namespaced objects of the owned kinds (at least those in the squad's namespaces). */
  objects: readonly KubeObject[];
  /** Releases in the squad's namespaces; others are ignored. */
  releases: readonly Release[];
  /** FeatureToggles in the squad's namespaces; others are ignored. */
  toggles: readonly FeatureToggle[];
}

export interface StatusInput {
  /** The Squad as observed: its generation and current status (for transition times). */
  squad: Pick<Squad, "metadata" | "status">;
  plan: PlanResult;
  observed: SquadObservation;
  now: number | Date;
  /** How long after its deployment a revert or Degraded period fails a change (default 24 h). */
  revertWindowMs?: number;
}

export type NamespaceStatus = NonNullable<SquadStatus["namespaces"]>[number];
export type ReleaseCounts = NonNullable<SquadStatus["releases"]>;
export type ToggleCounts = NonNullable<SquadStatus["toggles"]>;
export { percentage } from "../../delivery/figures.js";

/**
 * The status of a Squad whose spec was planned. Stalled when a human must act (a namespace
 * conflict, a spec that cannot be honoured), Reconciling while objects are not yet observed as
 * desired, Ready when every declared namespace is in place.
 */
export function squadStatus(input: StatusInput): SquadStatus {
  const { squad, plan, observed, now } = input;
  const generation = squad.metadata.generation;
  const namespaces = namespaceReadiness(plan, observed);
  const owned = new Set(plan.namespaces);
  const releases = observed.releases.filter((r) => owned.has(r.metadata.namespace ?? ""));
  const toggles = observed.toggles.filter((t) => owned.has(t.metadata.namespace ?? ""));
  const incidents = squadIncidents(squad.status?.incidents, releases, toggles);
  return {
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions: readyConditions(squad.status?.conditions, kstatus(plan, namespaces), {
      observedGeneration: generation,
      now,
    }),
    namespaceCount: plan.namespaces.length,
    namespaces,
    releases: releaseCounts(releases),
    toggles: toggleCounts(toggles),
    toggleDebt: squadToggleDebt(toggles),
    delivery: squadDelivery(
      squad.status?.delivery,
      releases,
      typeof now === "number" ? now : now.getTime(),
      input.revertWindowMs,
      toggles,
      incidents,
    ),
    ...(incidents ? { incidents } : {}),
    // The receiver records them, the notification path delivers them: kept as they are.
    ...(squad.status?.notifications ? { notifications: squad.status.notifications } : {}),
  };
}

/**
 * The incident record is the receiver's (controllers/incidents/respond.ts): kept as it is, with the actions
 * it requested settled from the targets' `status.lastAction` once their controllers acted.
 */
export function squadIncidents(
  incidents: SquadStatus["incidents"],
  releases: readonly Release[],
  toggles: readonly FeatureToggle[],
): SquadStatus["incidents"] {
  if (!incidents) return undefined;
  const byKey = <T extends KubeObject>(list: readonly T[]) =>
    new Map(list.map((o) => [`${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`, o]));
  const r = byKey(releases);
  const t = byKey(toggles);
  return settleActions(
    incidents,
    (kind, target) => (kind === "Release" ? r.get(target) : t.get(target))?.status?.lastAction,
  );
}

/**
 * The status of a Squad whose spec fails validation: Stalled with reason InvalidSpec and the
 * validation message. The rest of the last status is kept, since it still describes what is
 * in the cluster; only the conditions and observedGeneration move.
 */
export function invalidSpecStatus(input: {
  squad: Pick<Squad, "metadata" | "status">;
  message: string;
  now: number | Date;
}): SquadStatus {
  const { squad, message, now } = input;
  const generation = squad.metadata.generation;
  return {
    ...squad.status,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions: readyConditions(
      squad.status?.conditions,
      { state: "Stalled", reason: "InvalidSpec", message },
      { observedGeneration: generation, now },
    ),
  };
}

/**
 * Where the squad stands. InvalidSpec wins over NamespaceConflict (fixing the spec may resolve
 * the conflict too); every problem is named in the message either way.
 */
function kstatus(plan: PlanResult, namespaces: readonly NamespaceStatus[]): KStatus {
  if (plan.conflicts.length > 0) {
    const invalid = plan.conflicts.some((c) => c.reason === "InvalidSpec");
    const message = plan.conflicts.map((c) => c.message).join("; ");
    return { state: "Stalled", reason: invalid ? "InvalidSpec" : "NamespaceConflict", message };
  }
  const waiting = namespaces.filter((n) => !n.ready);
  if (waiting.length > 0) {
    const message = waiting.map((n) => `${n.name}: ${n.message ?? "not ready"}`).join("; ");
    return { state: "Reconciling", reason: "Progressing", message };
  }
  const count = namespaces.length;
  return {
    state: "Ready",
    reason: "Succeeded",
    message: `${count} namespace${count === 1 ? "" : "s"} ready`,
  };
}

/**
 * One entry per declared namespace, sorted by name. A namespace is ready when it is Active and
 * every object planned for it is observed as desired; until the informers have seen the
 * reconcile's writes it is not, and their watch events bring the next reconcile.
 */
export function namespaceReadiness(plan: PlanResult, observed: SquadObservation): NamespaceStatus[] {
  const byIdentity = new Map(observed.objects.map((o) => [objectIdentity(o), o]));
  return plan.decisions
    .map((decision): NamespaceStatus => {
      const { name } = decision;
      if (decision.action === "Conflict") return { name, ready: false, message: decision.message };
      if (decision.action === "Terminating") {
        return { name, ready: false, message: "namespace is being deleted; it is created again once gone" };
      }
      const ns = observed.namespaces.get(name);
      if (!ns) return { name, ready: false, message: "namespace not created yet" };
      if (ns.status?.phase !== "Active") {
        return { name, ready: false, message: `namespace is ${ns.status?.phase ?? "not Active"}` };
      }
      const pending = plan.objects
        .filter((o) => (o.kind === "Namespace" ? o.metadata.name === name : o.metadata.namespace === name))
        .filter((o) => {
          const seen = o.kind === "Namespace" ? ns : byIdentity.get(objectIdentity(o));
          return !seen || !containsDesired(o, seen);
        })
        .map((o) => `${o.kind ?? ""}/${o.metadata.name ?? ""}`);
      return pending.length === 0
        ? { name, ready: true }
        : { name, ready: false, message: `waiting for ${pending.join(", ")}` };
    })
    .sort((a, b) => compare(a.name, b.name));
}

/** Releases by phase; one without a phase yet counts only in the total. */
export function releaseCounts(releases: readonly Release[]): ReleaseCounts {
  const count = (phase: string) => releases.filter((r) => r.status?.phase === phase).length;
  return {
    total: releases.length,
    progressing: count("Progressing"),
    paused: count("Paused"),
    healthy: count("Healthy"),
    degraded: count("Degraded"),
    // A revert after promotion is a rollback too, found later: the squad's count shows both.
    rolledBack: count("RolledBack") + count("Reverted"),
  };
}

/** What apps get (effectiveState) rather than what the spec asks: a killed toggle is not active. */
export function toggleCounts(toggles: readonly FeatureToggle[]): ToggleCounts {
  return {
    total: toggles.length,
    active: toggles.filter((t) => t.status?.effectiveState === "Enabled").length,
    stale: toggles.filter((t) => t.status?.stale === true).length,
    killed: toggles.filter((t) => t.status?.effectiveState === "KilledByRollback").length,
  };
}

/** The squad's toggle debt, oldest first, capped (`kubectl crescendo toggles --squad` lists all). */
export function squadToggleDebt(toggles: readonly FeatureToggle[]): NonNullable<SquadStatus["toggleDebt"]> {
  return toggleDebt(toggles)
    .slice(0, MAX_SQUAD_TOGGLE_DEBT)
    .map((d) => ({
      namespace: d.namespace,
      name: d.name,
      debt: d.kinds,
      since: d.since,
      ...(d.callers.length ? { callers: d.callers } : {}),
    }));
}

/** An Event the controller records about the Squad itself. */
export interface SquadEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

/**
 * The Event a status change deserves, if any: a Warning when the squad stalls or stalls for a
 * new reason, `Ready` when it becomes ready, `Progressing` when a ready or stalled squad starts
 * converging again. Judged on conditions, so a reconcile that changes nothing says nothing.
 */
export function transitionEvents(
  before: readonly Condition[] | undefined,
  after: readonly Condition[] | undefined,
): SquadEvent[] {
  const was = (type: string) => findCondition(before, type);
  const now = (type: string) => findCondition(after, type);
  const stalled = now("Stalled");
  if (stalled?.status === "True") {
    const previous = was("Stalled");
    const same =
      previous?.status === "True" &&
      previous.reason === stalled.reason &&
      previous.message === stalled.message;
    return same ? [] : [{ type: "Warning", reason: stalled.reason, note: stalled.message }];
  }
  if (now("Ready")?.status === "True") {
    return was("Ready")?.status === "True"
      ? []
      : [{ type: "Normal", reason: "Ready", note: now("Ready")?.message ?? "" }];
  }
  const reconciling = now("Reconciling");
  const settled = was("Ready")?.status === "True" || was("Stalled")?.status === "True";
  if (reconciling?.status === "True" && settled) {
    return [{ type: "Normal", reason: "Progressing", note: reconciling.message }];
  }
  return [];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
