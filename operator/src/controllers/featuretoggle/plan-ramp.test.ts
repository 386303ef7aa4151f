/** The ramp inside the toggle's status plan: conditions, action routing, problems, events. */
import { describe, expect, it } from "vitest";
import { analysisMetric } from "../../api/analysis.js";
import { ANNOTATIONS } from "../../api/common.js";
import { featureToggleSpec, type FeatureToggleStatus } from "../../api/featuretoggle.js";
import type { FeatureToggle } from "../../api/kinds.js";
import { recordMeasurement } from "../../analysis/index.js";
import { findCondition } from "../../runtime/conditions.js";
import { planToggleStatus, toggleAction, type ToggleStatusInput } from "./plan.js";
import type { RampSetup } from "./ramp-analysis.js";

const T0 = Date.parse("2026-12-03T10:00:00Z");
const errors = analysisMetric.parse({
  name: "errors",
  prometheus: { address: "http://prom:9090", query: 'x{variant="{{variant}}"}' },
  compareToStable: { maxIncrease: 0.05 },
});
const setup: RampSetup = { metrics: [errors], defaultInterval: "1s" };

function toggle(
  status?: FeatureToggleStatus,
  annotations?: Record<string, string>,
  spec: Record<string, unknown> = {},
): FeatureToggle {
  return {
    metadata: {
      name: "checkout",
      namespace: "shop",
      generation: 1,
      creationTimestamp: "2026-12-01T00:00:00Z",
      ...(annotations ? { annotations } : {}),
    },
    spec: featureToggleSpec.parse({
      variants: { on: true, off: false },
      defaultVariant: "off",
      rollout: {
        variant: "on",
        steps: [{ setWeight: 5 }, { analysis: {} }, { setWeight: 50 }],
        analysis: { metrics: [errors] },
      },
      ...spec,
    }),
    ...(status ? { status } : {}),
  };
}

const action = (name: string, id: string) => ({ [ANNOTATIONS.action]: name, [ANNOTATIONS.actionId]: id });
const plan = (t: FeatureToggle, extra: Partial<ToggleStatusInput> = {}, now = T0) =>
  planToggleStatus({ toggle: t, now, action: toggleAction(t), ramp: { setup }, ...extra });

describe("planToggleStatus with a ramp", () => {
  it("starts the ramp, is Reconciling while it runs, and records its Events", () => {
    const p = plan(toggle());
    expect(p.status.rollout).toMatchObject({ phase: "Progressing", percentage: 5, currentStepIndex: 1 });
    const ready = findCondition(p.status.conditions, "Reconciling");
    expect(ready).toMatchObject({ status: "True", reason: "Ramping" });
    expect(ready?.message).toContain('variant "on" at 5% (step 2 of 3)');
    expect(p.events.map((e) => e.reason)).toEqual(["RolloutStarted", "RolloutStep"]);
    expect(p.requeueAfterMs).toBeGreaterThan(0);
  });

  it("a failed analysis: Stalled RolledBack naming the metric, a Warning, and a failed change", () => {
    const started = plan(toggle()).status;
    const failed = recordMeasurement(undefined, "errors", {
      at: "2026-12-03T10:00:01Z",
      phase: "Failed",
      message: "errors canary 0.3 vs stable 0.01",
    });
    const rollout = { ...started.rollout!, analysis: { ...started.rollout!.analysis!, metrics: [failed] } };
    const p = plan(toggle(started), { ramp: { setup, previous: rollout } }, T0 + 1000);
    expect(p.status.rollout).toMatchObject({ phase: "RolledBack", percentage: 0, failedMetric: "errors" });
    expect(findCondition(p.status.conditions, "Stalled")).toMatchObject({
      status: "True",
      reason: "RolledBack",
    });
    expect(findCondition(p.status.conditions, "Stalled")?.message).toContain(
      "errors canary 0.3 vs stable 0.01",
    );
    expect(p.events).toContainEqual(
      expect.objectContaining({ type: "Warning", reason: "RolloutRolledBack" }),
    );
    expect(p.rampRolledBack).toBe(true);
    expect(p.status.effectiveState).toBe("Enabled");
  });

  it("ramp actions go to the ramp and are recorded once in lastAction; rearm still goes to the kill", () => {
    const started = plan(toggle()).status;
    const p = plan(toggle(started, action("pause", "a1")), {}, T0 + 100);
    expect(p.status.lastAction).toMatchObject({ id: "a1", action: "pause", result: "paused" });
    expect(p.status.rollout?.phase).toBe("Paused");
    expect(findCondition(p.status.conditions, "Reconciling")).toMatchObject({
      status: "True",
      reason: "ManualPause",
    });
    // The same id again does nothing.
    const again = plan(toggle(p.status, action("pause", "a1")), {}, T0 + 200);
    expect(again.status.lastAction).toEqual(p.status.lastAction);
    expect(again.events).toEqual([]);
    const rearm = plan(toggle(p.status, action("rearm", "a2")), {}, T0 + 300);
    expect(rearm.status.lastAction).toMatchObject({ id: "a2", result: "ignored: the toggle is not killed" });
  });

  it("a refused Prometheus address stalls the toggle and holds the ramp where it is", () => {
    const started = plan(toggle()).status;
    const problem = {
      reason: "PrometheusAddressNotAllowed" as const,
      message:
        'spec.rollout.analysis.metrics[0].prometheus.address "http://evil:9090": not an allowed Prometheus address',
    };
    const p = plan(toggle(started, action("promote", "p1")), { ramp: { problem } }, T0 + 60_000);
    expect(findCondition(p.status.conditions, "Stalled")).toMatchObject({
      status: "True",
      reason: "PrometheusAddressNotAllowed",
    });
    expect(p.status.rollout).toEqual(started.rollout);
    expect(p.status.lastAction?.result).toBe("ignored: the ramp cannot run (PrometheusAddressNotAllowed)");
  });

  it("a disabled toggle holds its ramp; a completed ramp counts as one variant served", () => {
    const started = plan(toggle()).status;
    const disabled = plan(toggle(started, undefined, { state: "Disabled" }), {}, T0 + 60_000);
    expect(disabled.status.rollout).toEqual(started.rollout);
    const done = plan(
      toggle(started, action("promote-full", "f")),
      { debt: { unusedAfterMs: 1e9, rolledOutAfterMs: 1e9 } },
      T0 + 1000,
    );
    expect(done.status.rollout).toMatchObject({
      phase: "Completed",
      percentage: 100,
      completedAt: "2026-12-03T10:00:01Z",
    });
    expect(done.status.singleVariant).toBe("on");
    expect(findCondition(done.status.conditions, "Ready")).toMatchObject({
      status: "True",
      reason: "Serving",
    });
  });
});
