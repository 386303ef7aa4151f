import { describe, expect, it } from "vitest";
import type { SquadStatus } from "../../api/squad.js";
import { registry } from "../../observability/metrics.js";
import { squadMetrics } from "./metrics.js";

/** Every `crescendo_squad_*` series of one squad, as `name{other labels} value` lines, sorted. */
async function seriesOf(squad: string): Promise<string[]> {
  const out: string[] = [];
  for (const metric of await registry.getMetricsAsJSON()) {
    if (!metric.name.startsWith("crescendo_squad_")) continue;
    for (const v of metric.values) {
      if (v.labels["squad"] !== squad) continue;
      const rest = Object.entries(v.labels)
        .filter(([k]) => k !== "squad")
        .map(([k, l]) => `${k}=${String(l)}`)
        .join(",");
      out.push(`${metric.name}{${rest}} ${v.value}`);
    }
  }
  return out.sort();
}

const status: SquadStatus = {
  conditions: [
    {
      type: "Ready",
      status: "True",
      reason: "Ready",
      message: "",
      lastTransitionTime: "2024-06-30T00:00:00Z",
    },
  ],
  namespaceCount: 2,
  releases: { total: 3, healthy: 2, progressing: 1, paused: 0, degraded: 0, rolledBack: 0 },
  toggles: { total: 4, active: 3, stale: 1, killed: 0 },
  delivery: {
    deploymentsLast7d: 5,
    changeFailureRate: "25%",
    last30d: {
      deployments: 7,
      changes: 8,
      failedChanges: 2,
      changeFailRate: "25%",
      changeLeadTimeSeconds: 900,
      leadTimeFrom: "Commit",
      failedDeploymentRecoveryTimeSeconds: 120,
      recoveries: 2,
      openFailures: 0,
    },
  },
};

describe("squadMetrics", () => {
  it("mirrors the status: readiness, namespaces, Releases by phase, toggles by state, the DORA keys", async () => {
    squadMetrics.set("m-squad", status);
    expect(await seriesOf("m-squad")).toEqual([
      "crescendo_squad_change_failure_ratio{} 0.25",
      "crescendo_squad_deployments_last_7d{} 5",
      "crescendo_squad_feature_toggles{state=active} 3",
      "crescendo_squad_feature_toggles{state=killed} 0",
      "crescendo_squad_feature_toggles{state=stale} 1",
      "crescendo_squad_feature_toggles{state=total} 4",
      "crescendo_squad_lead_time_seconds{} 900",
      "crescendo_squad_namespaces{} 2",
      "crescendo_squad_ready{} 1",
      "crescendo_squad_releases{phase=degraded} 0",
      "crescendo_squad_releases{phase=healthy} 2",
      "crescendo_squad_releases{phase=paused} 0",
      "crescendo_squad_releases{phase=progressing} 1",
      "crescendo_squad_releases{phase=rolledBack} 0",
      "crescendo_squad_time_to_restore_seconds{} 120",
    ]);
  });

  it("has no series for a duration without data, rather than a misleading 0", async () => {
    squadMetrics.set("d-squad", status);
    squadMetrics.set("d-squad", {
      conditions: [],
      delivery: { deploymentsLast7d: 0, changeFailureRate: "0%" },
    });
    const series = await seriesOf("d-squad");
    expect(series).toContain("crescendo_squad_ready{} 0");
    expect(series).toContain("crescendo_squad_change_failure_ratio{} 0");
    expect(series.filter((s) => /time_to_restore|lead_time/.test(s))).toEqual([]);
  });

  it("forgets every series of a deleted squad", async () => {
    squadMetrics.set("gone-squad", status);
    squadMetrics.set("kept-squad", status);
    squadMetrics.forget("gone-squad");
    expect(await seriesOf("gone-squad")).toEqual([]);
    expect(await seriesOf("kept-squad")).toHaveLength(15);
  });
});
