/**
 * The Release controller's domain metrics, on the operator's shared registry. Label
 * sets stay bounded: a Release's namespace and name (as many series as Releases, removed when a
 * Release is deleted), a phase from a closed list, a rollback reason from a closed list. Never a
 * revision hash or a version, which would grow a new series with every rollout.
 *
 * The phase carries the Release's squad (the `crescendo.dev/squad` label of its namespace, "" for
 * none), so an alert on a rolled-back Release names the squad to page. One squad per Release, so
 * the label adds no series: it moves with the namespace's label, never multiplies.
 *
 * The phase is a state set exported as its current member only: one series per Release, value 1,
 * not one per possible phase with 0 for the rest. At 1,000 Releases that is 1,000 series instead
 * of 5,000 on every scrape, and `crescendo_release_phase{phase="Degraded"} == 1` or
 * `sum by (phase) (crescendo_release_phase)` answer as before; only a query for `== 0` changes
 * (a phase a Release is not in has no series to compare).
 */
import { Counter, Gauge, Histogram, type Metric, type Registry } from "prom-client";
import { measurement, RELEASE_PHASES, type ReleaseStatus } from "../../api/release.js";
import { registry as operatorRegistry } from "../../observability/metrics.js";
import { ROLLBACK_REASONS } from "./state.js";

/** Time-to-rollback buckets: 100 ms (same reconcile) up to a minute (a slow Prometheus). */
export const TIME_TO_ROLLBACK_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60];

/**
 * The Release controller's metrics, registered on `registry`. One object so a test can see every
 * metric the controller touches, on a registry of its own.
 */
export function createReleaseMetrics(registry: Registry) {
  const phase = metric(
    registry,
    "crescendo_release_phase",
    () =>
      new Gauge({
        name: "crescendo_release_phase",
        help: "1 for the phase each Release is in, with its squad; the other phases have no series (one series per Release).",
        labelNames: ["namespace", "release", "squad", "phase"] as const,
        registers: [registry],
      }),
  );

  const canaryWeight = metric(
    registry,
    "crescendo_release_canary_weight",
    () =>
      new Gauge({
        name: "crescendo_release_canary_weight",
        help: "Traffic percentage actually reaching each Release's canary.",
        labelNames: ["namespace", "release"] as const,
        registers: [registry],
      }),
  );

  const rollbacks = metric(
    registry,
    "crescendo_release_rollbacks_total",
    () =>
      new Counter({
        name: "crescendo_release_rollbacks_total",
        help: "Rollouts rolled back, by reason (AnalysisFailed, ProgressDeadlineExceeded, Aborted).",
        labelNames: ["reason"] as const,
        registers: [registry],
      }),
  );

  const promotions = metric(
    registry,
    "crescendo_release_promotions_total",
    () =>
      new Counter({
        name: "crescendo_release_promotions_total",
        help: "Revisions promoted to stable.",
        registers: [registry],
      }),
  );

  const measurements = metric(
    registry,
    "crescendo_analysis_measurements_total",
    () =>
      new Counter({
        name: "crescendo_analysis_measurements_total",
        help: "Analysis measurements taken, by result (Successful, Failed, Inconclusive).",
        labelNames: ["result"] as const,
        registers: [registry],
      }),
  );

  const timeToRollback = metric(
    registry,
    "crescendo_time_to_rollback_seconds",
    () =>
      new Histogram({
        name: "crescendo_time_to_rollback_seconds",
        help: "From the measurement that decided a rollback to the moment traffic was back on stable and the canary scaled to zero.",
        buckets: TIME_TO_ROLLBACK_BUCKETS,
        registers: [registry],
      }),
  );

  const notificationsDelivered = metric(
    registry,
    "crescendo_notifications_delivered_total",
    () =>
      new Counter({
        name: "crescendo_notifications_delivered_total",
        help: "On-call notifications (docs/notifications.md: rollbacks, incidents) the webhook accepted (2xx), counted by the process that recorded the delivery.",
        registers: [registry],
      }),
  );

  const notificationsAbandoned = metric(
    registry,
    "crescendo_notifications_abandoned_total",
    () =>
      new Counter({
        name: "crescendo_notifications_abandoned_total",
        help: "On-call notifications (docs/notifications.md: rollbacks, incidents) given up: a permanent error (4xx, no Secret key) or retries past the bound. Each has a NotificationFailed Event.",
        registers: [registry],
      }),
  );

  // Every label value of the counters exists at 0 from the start, as client-go and
  // controller-runtime do for theirs. A counter series born at 1 has no earlier sample, so
  // `increase(...[5m])` reads 0 for the first rollback of each reason after every start, upgrade
  // or failover: the alert would miss exactly the rollback nobody expected.
  for (const reason of ROLLBACK_REASONS) rollbacks.inc({ reason }, 0);
  for (const result of measurement.shape.phase.options) measurements.inc({ result }, 0);
  notificationsDelivered.inc(0);
  notificationsAbandoned.inc(0);

  /** The squad label each Release's phase was last exported with, to remove it when it changes. */
  const squads = new Map<string, string>();
  const removePhases = (namespace: string, release: string, squad: string, keep?: string) => {
    for (const p of RELEASE_PHASES) if (p !== keep) phase.remove({ namespace, release, squad, phase: p });
  };

  return {
    /**
     * Mirrors a Release's status: its current phase (the only phase series it has, so a phase
     * change removes the previous one) with its squad, and the canary weight. Removing every
     * other phase rather than a remembered previous one needs no memory of phases, and removing
     * a series that does not exist is a no-op; only the squad is remembered, since its label
     * values are open.
     */
    observe(namespace: string, release: string, status: ReleaseStatus, squad = ""): void {
      const key = `${namespace}/${release}`;
      const before = squads.get(key);
      if (before !== undefined && before !== squad) removePhases(namespace, release, before);
      squads.set(key, squad);
      removePhases(namespace, release, squad, status.phase);
      if (status.phase) phase.set({ namespace, release, squad, phase: status.phase }, 1);
      canaryWeight.set({ namespace, release }, status.canaryWeight ?? 0);
    },

    /** Drops a deleted Release's series, so dashboards show no ghosts. */
    forget(namespace: string, release: string): void {
      const key = `${namespace}/${release}`;
      removePhases(namespace, release, squads.get(key) ?? "");
      squads.delete(key);
      canaryWeight.remove({ namespace, release });
    },

    /** Counts a rollback and, when known, how long it took from the deciding measurement. */
    rolledBack(reason: string, seconds?: number): void {
      rollbacks.inc({ reason });
      if (seconds !== undefined && Number.isFinite(seconds)) timeToRollback.observe(Math.max(0, seconds));
    },

    promoted(): void {
      promotions.inc();
    },

    measured(result: string): void {
      measurements.inc({ result });
    },

    notificationDelivered(): void {
      notificationsDelivered.inc();
    },

    notificationAbandoned(): void {
      notificationsAbandoned.inc();
    },
  };
}

export type ReleaseMetrics = ReturnType<typeof createReleaseMetrics>;

/** What the controller reports, on the operator's registry that `/metrics` serves. */
export const releaseMetrics = createReleaseMetrics(operatorRegistry);

/** Registered once on a registry, even if this module is evaluated twice (tests). */
function metric<T extends Metric>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
