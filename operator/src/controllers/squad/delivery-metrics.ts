/**
 * The delivery totals of every Squad as Prometheus counters and histograms, labelled by squad
 * and tribe only (bounded: no Release, revision or version), so any window is a PromQL query
 * (`increase(...[7d])`) and nothing is lost when a Release goes away.
 *
 * The values are not counted in this process: they are the cumulative totals in each Squad's
 * status (operator/src/delivery/ledger.ts), exported as they stand. An operator that restarts,
 * or a new leader after a failover, exports the same numbers the last one did and carries on:
 * Prometheus sees no counter reset, no increment is lost or repeated. Only the leader
 * reconciles Squads, so only the leader exports them; standbys export nothing until they lead.
 */
import type { Metric, MetricObjectWithValues, MetricValue, MetricValueWithName } from "prom-client";
import type { DeliveryTotals, HistogramTotals } from "../../api/delivery.js";
import { registry } from "../../observability/metrics.js";
import { LEAD_TIME_BUCKETS, RECOVERY_BUCKETS } from "../../delivery/ledger.js";

interface Exported {
  tribe: string;
  totals: DeliveryTotals;
}

type Labels = Record<string, string>;

/** Squad name → its totals as last written; read at scrape time. */
const squads = new Map<string, Exported>();

/** Exports a squad's totals (as written to its status) from now on. */
export function exportDeliveryTotals(
  squad: string,
  tribe: string | undefined,
  totals: DeliveryTotals | undefined,
): void {
  if (totals) squads.set(squad, { tribe: tribe ?? "", totals });
  else squads.delete(squad);
}

/** Stops exporting a deleted squad's series. */
export function forgetDeliveryTotals(squad: string): void {
  squads.delete(squad);
}

const labelsOf = (squad: string, e: Exported): Labels => ({ squad, tribe: e.tribe });

function counter(name: string, help: string, value: (t: DeliveryTotals) => number): void {
  register(name, help, "counter", () =>
    [...squads].map(([squad, e]) => ({ labels: labelsOf(squad, e), value: value(e.totals) })),
  );
}

function histogram(
  name: string,
  help: string,
  bounds: readonly number[],
  series: (squad: string, e: Exported) => { labels: Labels; hist: HistogramTotals }[],
): void {
  register(name, help, "histogram", () =>
    [...squads].flatMap(([squad, e]) =>
      series(squad, e).flatMap(({ labels, hist }) => histogramValues(name, labels, bounds, hist)),
    ),
  );
}

/** `_bucket` per bound and +Inf, `_sum`, `_count`: the exposition of a Prometheus histogram. */
export function histogramValues(
  name: string,
  labels: Labels,
  bounds: readonly number[],
  hist: HistogramTotals,
): MetricValueWithName<string>[] {
  return [
    ...bounds.map((le, i) => ({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: String(le) },
      value: hist.buckets[i] ?? 0,
    })),
    { metricName: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: hist.count },
    { metricName: `${name}_sum`, labels, value: hist.sumSeconds },
    { metricName: `${name}_count`, labels, value: hist.count },
  ];
}

/**
 * A metric whose values are read at scrape time, registered once on the shared registry (even
 * if this module is evaluated twice, as in tests).
 */
function register(
  name: string,
  help: string,
  type: "counter" | "histogram",
  values: () => MetricValue<string>[],
): void {
  if (registry.getSingleMetric(name)) return;
  const metric = {
    name,
    help,
    type,
    aggregator: "sum",
    get: () =>
      Promise.resolve({
        name,
        help,
        type,
        aggregator: "sum",
        values: values(),
      } as unknown as MetricObjectWithValues<MetricValue<string>>),
    reset: () => undefined,
  };
  registry.registerMetric(metric as unknown as Metric);
}

counter(
  "crescendo_delivery_changes_total",
  "Changes decided (reached full production traffic, or rolled back before), by squad and tribe.",
  (t) => t.changes,
);
counter(
  "crescendo_delivery_change_failures_total",
  "Changes that failed (rollback, abort after promotion, switch-back, revert, Degraded), each once.",
  (t) => t.failedChanges,
);
counter(
  "crescendo_delivery_deployments_total",
  "Changes that reached full production traffic (DORA deployment frequency).",
  (t) => t.deployments,
);
histogram(
  "crescendo_delivery_change_lead_time_seconds",
  "DORA change lead time, from the commit (from=Commit, spec.change.committedAt) or the rollout start (from=RolloutStart) to full production traffic.",
  LEAD_TIME_BUCKETS,
  (squad, e) => [
    { labels: { ...labelsOf(squad, e), from: "Commit" }, hist: e.totals.leadTimeFromCommit },
    { labels: { ...labelsOf(squad, e), from: "RolloutStart" }, hist: e.totals.leadTimeFromRolloutStart },
  ],
);
histogram(
  "crescendo_delivery_failed_deployment_recovery_time_seconds",
  "DORA failed deployment recovery time: the failure's start to traffic on an available revision again.",
  RECOVERY_BUCKETS,
  (squad, e) => [{ labels: labelsOf(squad, e), hist: e.totals.recovery }],
);
