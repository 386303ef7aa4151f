/**
 * The Squad controller's domain metrics, on the operator's shared registry: the status a Squad
 * reports (readiness, namespaces, Releases by phase, toggles by state, the DORA keys) as gauges.
 */
import { Gauge } from "prom-client";
import type { SquadStatus } from "../../api/squad.js";
import { exportDeliveryTotals, forgetDeliveryTotals } from "./delivery-metrics.js";
import { registry } from "../../observability/metrics.js";

const PHASES = ["progressing", "paused", "healthy", "degraded", "rolledBack"] as const;
const TOGGLE_STATES = ["total", "active", "stale", "killed"] as const;

/**
 * `crescendo_squad_*` gauges, one series per squad (a bounded label: squads are few and
 * long-lived). They mirror the status so dashboards and alerts need not read CRDs.
 */
class SquadMetrics {
  private readonly ready = gauge("crescendo_squad_ready", "1 when the squad is Ready, else 0.", ["squad"]);
  private readonly namespaces = gauge("crescendo_squad_namespaces", "Namespaces the squad owns.", ["squad"]);
  private readonly releases = gauge(
    "crescendo_squad_releases",
    "Releases in the squad's namespaces, by phase.",
    ["squad", "phase"],
  );
  private readonly toggles = gauge(
    "crescendo_squad_feature_toggles",
    "FeatureToggles in the squad's namespaces: total, active, stale, killed.",
    ["squad", "state"],
  );
  private readonly deployments = gauge(
    "crescendo_squad_deployments_last_7d",
    "Changes that reached full production traffic in the last 7 days (DORA deployment frequency), as in the Squad status.",
    ["squad"],
  );
  private readonly failureRatio = gauge(
    "crescendo_squad_change_failure_ratio",
    "Failed changes / changes in the last 30 days (DORA change fail rate), 0 to 1, as in the Squad status.",
    ["squad"],
  );
  private readonly restore = gauge(
    "crescendo_squad_time_to_restore_seconds",
    "Median failure start to service restored in the last 30 days (DORA failed deployment recovery time), as in the Squad status.",
    ["squad"],
  );
  private readonly leadTime = gauge(
    "crescendo_squad_lead_time_seconds",
    "Median change lead time of the last 30 days (DORA), from the commit or the rollout start (see the Squad status), as in the Squad status.",
    ["squad"],
  );

  /** Mirrors the status; the squad's tribe labels its delivery counters (delivery-metrics.ts). */
  set(squad: string, status: SquadStatus, tribe?: string): void {
    const ready = status.conditions?.find((c) => c.type === "Ready")?.status === "True";
    this.ready.set({ squad }, ready ? 1 : 0);
    this.namespaces.set({ squad }, status.namespaceCount ?? 0);
    for (const phase of PHASES) this.releases.set({ squad, phase }, status.releases?.[phase] ?? 0);
    for (const state of TOGGLE_STATES) this.toggles.set({ squad, state }, status.toggles?.[state] ?? 0);
    const delivery = status.delivery;
    this.deployments.set({ squad }, delivery?.deploymentsLast7d ?? 0);
    this.failureRatio.set({ squad }, Number.parseFloat(delivery?.changeFailureRate ?? "0") / 100 || 0);
    optional(this.restore, squad, delivery?.last30d?.failedDeploymentRecoveryTimeSeconds);
    optional(this.leadTime, squad, delivery?.last30d?.changeLeadTimeSeconds);
    exportDeliveryTotals(squad, tribe, delivery?.totals);
  }

  /** Drops a deleted squad's series, so dashboards do not show ghosts. */
  forget(squad: string): void {
    for (const g of [
      this.ready,
      this.namespaces,
      this.deployments,
      this.failureRatio,
      this.restore,
      this.leadTime,
    ]) {
      g.remove({ squad });
    }
    for (const phase of PHASES) this.releases.remove({ squad, phase });
    for (const state of TOGGLE_STATES) this.toggles.remove({ squad, state });
    forgetDeliveryTotals(squad);
  }
}

/** A duration with no data is no series, not a misleading 0. */
function optional(g: Gauge, squad: string, value: number | undefined): void {
  if (value === undefined) g.remove({ squad });
  else g.set({ squad }, value);
}

/** Registered once on the shared registry, even if this module is evaluated twice (tests). */
function gauge(name: string, help: string, labelNames: string[]): Gauge {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Gauge) return existing;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

/** The one instance: the gauges live on the shared registry. */
export const squadMetrics = new SquadMetrics();
