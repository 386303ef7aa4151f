import { describe, expect, it } from "vitest";
import { registry } from "../../observability/metrics.js";
import { emptyTotals, LEAD_TIME_BUCKETS, RECOVERY_BUCKETS } from "../../delivery/ledger.js";
import { exportDeliveryTotals, forgetDeliveryTotals } from "./delivery-metrics.js";

/** The `crescendo_delivery_*` exposition lines of one squad. */
async function lines(squad: string): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith("crescendo_delivery_") && l.includes(`squad="${squad}"`));
}

describe("delivery totals as Prometheus series", () => {
  const totals = {
    ...emptyTotals("2030-01-01T00:00:00.000Z"),
    changes: 5,
    failedChanges: 3,
    deployments: 4,
    recovery: { count: 2, sumSeconds: 420, buckets: RECOVERY_BUCKETS.map((b) => (b >= 300 ? 2 : 0)) },
    leadTimeFromCommit: {
      count: 1,
      sumSeconds: 4200,
      buckets: LEAD_TIME_BUCKETS.map((b) => (b >= 4200 ? 1 : 0)),
    },
  };

  it("exports the status's cumulative totals as counters and histograms labelled by squad and tribe", async () => {
    exportDeliveryTotals("pay", "money", totals);
    const out = await lines("pay");
    expect(out).toContain('crescendo_delivery_changes_total{squad="pay",tribe="money"} 5');
    expect(out).toContain('crescendo_delivery_change_failures_total{squad="pay",tribe="money"} 3');
    expect(out).toContain('crescendo_delivery_deployments_total{squad="pay",tribe="money"} 4');
    expect(out).toContain(
      'crescendo_delivery_failed_deployment_recovery_time_seconds_bucket{squad="pay",tribe="money",le="60"} 0',
    );
    expect(out).toContain(
      'crescendo_delivery_failed_deployment_recovery_time_seconds_bucket{squad="pay",tribe="money",le="+Inf"} 2',
    );
    expect(out).toContain(
      'crescendo_delivery_failed_deployment_recovery_time_seconds_sum{squad="pay",tribe="money"} 420',
    );
    expect(out).toContain(
      'crescendo_delivery_change_lead_time_seconds_bucket{squad="pay",tribe="money",from="Commit",le="7200"} 1',
    );
    expect(out).toContain(
      'crescendo_delivery_change_lead_time_seconds_count{squad="pay",tribe="money",from="RolloutStart"} 0',
    );
    // Bounded: a fixed set of series per squad, whatever the number of changes.
    expect(out).toHaveLength(3 + 2 * (LEAD_TIME_BUCKETS.length + 3) + RECOVERY_BUCKETS.length + 3);
  });

  it("exports what a restarted operator reads back, unchanged: no reset for Prometheus to see", async () => {
    exportDeliveryTotals("pay2", undefined, totals);
    const before = await lines("pay2");
    forgetDeliveryTotals("pay2");
    expect(await lines("pay2")).toEqual([]);
    exportDeliveryTotals("pay2", undefined, structuredClone(totals));
    expect(await lines("pay2")).toEqual(before);
    expect(before).toContain('crescendo_delivery_changes_total{squad="pay2",tribe=""} 5');
  });
});
