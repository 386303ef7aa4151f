import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { registry } from "../../observability/metrics.js";
import { createReleaseMetrics, releaseMetrics, TIME_TO_ROLLBACK_BUCKETS } from "./metrics.js";
import { ROLLBACK_REASONS } from "./state.js";

async function series(name: string) {
  return (await registry.getSingleMetric(name)?.get())?.values ?? [];
}

describe("releaseMetrics", () => {
  const phasesOf = async (release: string) =>
    (await series("crescendo_release_phase"))
      .filter((v) => v.labels["release"] === release)
      .map((v) => [v.labels["phase"], v.value]);

  it("mirrors phase (one series, the current phase) and canary weight, and forgets a deleted Release", async () => {
    releaseMetrics.observe("m-ns", "m-rel", { phase: "Progressing", canaryWeight: 25 });
    expect(await phasesOf("m-rel")).toEqual([["Progressing", 1]]);
    const weight = (await series("crescendo_release_canary_weight")).find(
      (v) => v.labels["release"] === "m-rel",
    );
    expect(weight?.value).toBe(25);

    releaseMetrics.forget("m-ns", "m-rel");
    expect((await series("crescendo_release_phase")).some((v) => v.labels["release"] === "m-rel")).toBe(
      false,
    );
    expect(
      (await series("crescendo_release_canary_weight")).some((v) => v.labels["release"] === "m-rel"),
    ).toBe(false);
  });

  it("labels the phase with the Release's squad, and moves the series when the squad changes", async () => {
    const squadsOf = async (release: string) =>
      (await series("crescendo_release_phase"))
        .filter((v) => v.labels["release"] === release)
        .map((v) => [v.labels["squad"], v.labels["phase"]]);
    releaseMetrics.observe("s-ns", "s-rel", { phase: "Progressing" }, "payments");
    releaseMetrics.observe("s-ns", "s-rel", { phase: "RolledBack" }, "payments");
    expect(await squadsOf("s-rel")).toEqual([["payments", "RolledBack"]]);
    // The namespace moved to another squad: one series still, under the new squad.
    releaseMetrics.observe("s-ns", "s-rel", { phase: "RolledBack" }, "checkout");
    expect(await squadsOf("s-rel")).toEqual([["checkout", "RolledBack"]]);
    // No squad at all: an empty label value, which Prometheus shows as no label.
    releaseMetrics.observe("s-ns", "s-rel", { phase: "Healthy" });
    expect(await squadsOf("s-rel")).toEqual([["", "Healthy"]]);
    releaseMetrics.observe("s-ns", "s-rel", { phase: "Healthy" }, "payments");
    releaseMetrics.forget("s-ns", "s-rel");
    expect(await squadsOf("s-rel")).toEqual([]);
  });

  it("keeps only the current phase's series across phase changes, and none without a phase", async () => {
    releaseMetrics.observe("t-ns", "t-rel", { phase: "Progressing", canaryWeight: 10 });
    releaseMetrics.observe("t-ns", "t-rel", { phase: "Degraded", canaryWeight: 0 });
    expect(await phasesOf("t-rel")).toEqual([["Degraded", 1]]);
    releaseMetrics.observe("t-ns", "t-rel", { phase: "RolledBack", canaryWeight: 0 });
    expect(await phasesOf("t-rel")).toEqual([["RolledBack", 1]]);
    releaseMetrics.observe("t-ns", "t-rel", { phase: "RolledBack", canaryWeight: 0 });
    expect(await phasesOf("t-rel")).toEqual([["RolledBack", 1]]);
    releaseMetrics.observe("t-ns", "t-rel", {});
    expect(await phasesOf("t-rel")).toEqual([]);

    releaseMetrics.observe("t-ns", "t-rel", { phase: "Healthy" });
    releaseMetrics.observe("t-ns", "other", { phase: "Paused" });
    releaseMetrics.forget("t-ns", "t-rel");
    expect(await phasesOf("t-rel")).toEqual([]);
    expect(await phasesOf("other")).toEqual([["Paused", 1]]);
    releaseMetrics.forget("t-ns", "other");
    expect(await phasesOf("other")).toEqual([]);
  });

  it("creates every rollback reason and measurement result at 0, so the first increase() after a start is seen", async () => {
    const own = new Registry();
    createReleaseMetrics(own);
    const values = async (name: string) => (await own.getSingleMetric(name)?.get())?.values ?? [];
    expect(
      (await values("crescendo_release_rollbacks_total")).map((v) => [v.labels["reason"], v.value]),
    ).toEqual(ROLLBACK_REASONS.map((r) => [r, 0]));
    expect(
      (await values("crescendo_analysis_measurements_total")).map((v) => [v.labels["result"], v.value]),
    ).toEqual([
      ["Successful", 0],
      ["Failed", 0],
      ["Inconclusive", 0],
    ]);
    expect(await values("crescendo_release_promotions_total")).toHaveLength(1);
    expect(await own.getSingleMetricAsString("crescendo_release_rollbacks_total")).toContain(
      'crescendo_release_rollbacks_total{reason="Aborted"} 0',
    );
  });

  it("counts rollbacks by reason and observes time to rollback in 0.1–60 s buckets", async () => {
    // A registry of its own: the counts are exact, whatever else ran in this process.
    const own = new Registry();
    const metrics = createReleaseMetrics(own);
    const values = async (name: string) => (await own.getSingleMetric(name)?.get())?.values ?? [];
    metrics.rolledBack("ProgressDeadlineExceeded", 1.5);
    metrics.rolledBack("ProgressDeadlineExceeded");
    metrics.rolledBack("Aborted", -3);
    expect(
      (await values("crescendo_release_rollbacks_total")).map((v) => [v.labels["reason"], v.value]),
    ).toEqual([
      ["AnalysisFailed", 0], // created at 0 with the metrics, as every reason is
      ["ProgressDeadlineExceeded", 2],
      ["Aborted", 1],
      ["PostPromotionAnalysisFailed", 0],
    ]);
    const histogram = await values("crescendo_time_to_rollback_seconds");
    const named = (metricName: string, le?: number) =>
      histogram.find(
        (v) =>
          (v as { metricName?: string }).metricName === metricName &&
          (le === undefined || v.labels["le"] === le),
      )?.value;
    // Observed: 1.5 s and a negative duration clamped to 0; the rollback without one is not.
    expect(named("crescendo_time_to_rollback_seconds_count")).toBe(2);
    expect(named("crescendo_time_to_rollback_seconds_sum")).toBe(1.5);
    expect(named("crescendo_time_to_rollback_seconds_bucket", 0.1)).toBe(1);
    expect(named("crescendo_time_to_rollback_seconds_bucket", 1)).toBe(1);
    expect(named("crescendo_time_to_rollback_seconds_bucket", 2)).toBe(2);
    expect(TIME_TO_ROLLBACK_BUCKETS[0]).toBe(0.1);
    expect(TIME_TO_ROLLBACK_BUCKETS.at(-1)).toBe(60);
  });

  it("counts promotions and measurements by result", async () => {
    const total = async (name: string, result?: string) =>
      (await series(name)).find((v) => result === undefined || v.labels["result"] === result)?.value ?? 0;
    const promotions = await total("crescendo_release_promotions_total");
    const inconclusive = await total("crescendo_analysis_measurements_total", "Inconclusive");
    releaseMetrics.promoted();
    releaseMetrics.measured("Inconclusive");
    expect(await total("crescendo_release_promotions_total")).toBe(promotions + 1);
    expect(await total("crescendo_analysis_measurements_total", "Inconclusive")).toBe(inconclusive + 1);
  });
});
