import { describe, expect, it } from "vitest";
import { registry } from "../../observability/metrics.js";
import { evaluationMetrics, toggleMetrics } from "./metrics.js";

/** The `[state, value]` series one toggle has, in registry order. */
async function statesOf(namespace: string, toggle: string) {
  const metric = await registry.getSingleMetric("crescendo_featuretoggle_state")?.get();
  return (metric?.values ?? [])
    .filter((v) => v.labels["namespace"] === namespace && v.labels["toggle"] === toggle)
    .map((v) => [v.labels["state"], v.value]);
}

async function staleOf(namespace: string, toggle: string) {
  const metric = await registry.getSingleMetric("crescendo_featuretoggle_stale")?.get();
  return metric?.values.find((v) => v.labels["namespace"] === namespace && v.labels["toggle"] === toggle)
    ?.value;
}

describe("toggleMetrics", () => {
  it("exports one state series per toggle, the current state's, and moves it on a state change", async () => {
    toggleMetrics.set("s-ns", "t1", "Enabled", false);
    expect(await statesOf("s-ns", "t1")).toEqual([["Enabled", 1]]);
    toggleMetrics.set("s-ns", "t1", "KilledByRollback", false);
    expect(await statesOf("s-ns", "t1")).toEqual([["KilledByRollback", 1]]);
    toggleMetrics.set("s-ns", "t1", "Invalid", true);
    expect(await statesOf("s-ns", "t1")).toEqual([["Invalid", 1]]);
    expect(await staleOf("s-ns", "t1")).toBe(1);
    toggleMetrics.set("s-ns", "t1", "Disabled", false);
    expect(await statesOf("s-ns", "t1")).toEqual([["Disabled", 1]]);
    expect(await staleOf("s-ns", "t1")).toBe(0);
  });

  it("removes every series of a deleted toggle, and of all toggles when the namespace empties", async () => {
    toggleMetrics.set("d-ns", "gone", "KilledByRollback", true);
    toggleMetrics.set("d-ns", "kept", "Enabled", false);
    toggleMetrics.retain("d-ns", ["kept"]);
    expect(await statesOf("d-ns", "gone")).toEqual([]);
    expect(await staleOf("d-ns", "gone")).toBeUndefined();
    expect(await statesOf("d-ns", "kept")).toEqual([["Enabled", 1]]);

    // A state change just before deletion leaves nothing behind either.
    toggleMetrics.set("d-ns", "kept", "Disabled", false);
    toggleMetrics.retain("d-ns", []);
    expect(await statesOf("d-ns", "kept")).toEqual([]);
    expect(await staleOf("d-ns", "kept")).toBeUndefined();
  });
});

describe("toggleMetrics and evaluationMetrics, by value", () => {
  const value = async (name: string, labels: Record<string, string>) => {
    const metric = (await registry.getSingleMetric(name)?.get()) as
      { values: { labels: Record<string, string>; value: number }[] } | undefined;
    return metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
  };

  it("reports state and staleness per toggle, and removes deleted toggles' series", async () => {
    toggleMetrics.set("m-ns", "t1", "KilledByRollback", true);
    toggleMetrics.set("m-ns", "t2", "Enabled", false);
    expect(
      await value("crescendo_featuretoggle_state", {
        namespace: "m-ns",
        toggle: "t1",
        state: "KilledByRollback",
      }),
    ).toBe(1);
    expect(
      await value("crescendo_featuretoggle_state", { namespace: "m-ns", toggle: "t1", state: "Enabled" }),
    ).toBeUndefined();
    expect(await value("crescendo_featuretoggle_stale", { namespace: "m-ns", toggle: "t1" })).toBe(1);
    toggleMetrics.retain("m-ns", ["t2"]);
    expect(await value("crescendo_featuretoggle_stale", { namespace: "m-ns", toggle: "t1" })).toBeUndefined();
    expect(await value("crescendo_featuretoggle_stale", { namespace: "m-ns", toggle: "t2" })).toBe(0);
  });

  it("counts evaluations and forgets flags no longer served", async () => {
    evaluationMetrics.evaluation({ namespace: "m-ns", key: "f1", reason: "STATIC" });
    evaluationMetrics.evaluation({ namespace: "m-ns", key: "f1", reason: "STATIC" });
    evaluationMetrics.evaluation({ namespace: "m-ns", key: "f2", reason: "TARGETING_MATCH" });
    expect(await value("crescendo_featuretoggle_evaluations_total", { namespace: "m-ns", flag: "f1" })).toBe(
      2,
    );
    evaluationMetrics.retainFlags("m-ns", ["f2"]);
    expect(
      await value("crescendo_featuretoggle_evaluations_total", { namespace: "m-ns", flag: "f1" }),
    ).toBeUndefined();
    expect(await value("crescendo_featuretoggle_evaluations_total", { namespace: "m-ns", flag: "f2" })).toBe(
      1,
    );
    evaluationMetrics.request({ route: "evaluate_flag", code: 200 }, 0.001);
    expect(await registry.getSingleMetricAsString("crescendo_ofrep_request_duration_seconds")).toContain(
      'route="evaluate_flag",code="200"',
    );
  });

  it("exports the counts taken in plain Maps as the same counter series: one per flag and reason", async () => {
    for (let i = 0; i < 1000; i++)
      evaluationMetrics.evaluation({ namespace: "c-ns", key: "f", reason: i % 4 ? "STATIC" : "ERROR" });
    evaluationMetrics.evaluation({ namespace: "", key: "", reason: "ERROR" });
    const text = await registry.getSingleMetricAsString("crescendo_featuretoggle_evaluations_total");
    expect(text).toContain("# TYPE crescendo_featuretoggle_evaluations_total counter");
    expect(text).toContain(
      'crescendo_featuretoggle_evaluations_total{namespace="c-ns",flag="f",reason="STATIC"} 750',
    );
    expect(text).toContain(
      'crescendo_featuretoggle_evaluations_total{namespace="c-ns",flag="f",reason="ERROR"} 250',
    );
    // Scraping twice does not count twice.
    expect(
      await value("crescendo_featuretoggle_evaluations_total", { namespace: "c-ns", reason: "ERROR" }),
    ).toBe(250);
    // Unserved keys stay in their one "" series, whatever a namespace retains.
    evaluationMetrics.retainFlags("", []);
    evaluationMetrics.retainFlags("c-ns", []);
    expect(await value("crescendo_featuretoggle_evaluations_total", { namespace: "", flag: "" })).toBe(1);
    expect(await value("crescendo_featuretoggle_evaluations_total", { namespace: "c-ns" })).toBeUndefined();
  });
});
