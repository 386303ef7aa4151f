import { describe, expect, it } from "vitest";
import type { FeatureToggle } from "../api/kinds.js";
import type { ToggleRolloutStatus } from "../api/toggle-rollout.js";
import { squadDelivery } from "./squad-delivery.js";
import { toggleRampHistory } from "./toggle-changes.js";

const NOW = Date.parse("2026-12-03T12:00:00Z");
const toggle = (rollout?: Partial<ToggleRolloutStatus>): Pick<FeatureToggle, "metadata" | "status"> => ({
  metadata: { name: "one-click", namespace: "checkout" },
  status: rollout
    ? {
        rollout: {
          id: "r1",
          variant: "on",
          phase: "Progressing",
          percentage: 5,
          currentStepIndex: 1,
          startedAt: "2026-12-03T10:00:00Z",
          ...rollout,
        },
      }
    : {},
});

describe("a toggle's ramp as a change", () => {
  it("is not a change while it runs or without a ramp", () => {
    expect(toggleRampHistory(toggle())).toBeUndefined();
    expect(toggleRampHistory(toggle({}))).toBeUndefined();
  });

  it("a rolled-back ramp is a failed change, from its first failed measurement", () => {
    const rolledBack = toggle({
      phase: "RolledBack",
      rolledBackAt: "2026-12-03T10:05:00Z",
      failedMetric: "error-rate",
      analysis: {
        startedAt: "2026-12-03T10:03:00Z",
        step: 3,
        metrics: [
          {
            name: "error-rate",
            successful: 0,
            failed: 1,
            inconclusive: 0,
            consecutiveInconclusive: 0,
            measurements: [{ at: "2026-12-03T10:04:59Z", phase: "Failed" }],
          },
        ],
      },
    });
    expect(toggleRampHistory(rolledBack)?.status?.history?.[0]).toMatchObject({
      outcome: "RolledBack",
      reason: "AnalysisFailed",
      failureStartedAt: "2026-12-03T10:04:59Z",
    });
    const delivery = squadDelivery(undefined, [], NOW, undefined, [rolledBack]);
    expect(delivery.changes).toEqual([
      expect.objectContaining({
        release: "checkout/featuretoggle/one-click",
        revision: "r1",
        failure: "RolledBack",
      }),
    ]);
    expect(delivery.totals?.failedChanges).toBe(1);
    // Read again, nothing new is counted.
    expect(squadDelivery(delivery, [], NOW, undefined, [rolledBack]).totals).toEqual(delivery.totals);
  });

  it("a completed ramp is a deployed change", () => {
    const done = toggle({ phase: "Completed", percentage: 100, completedAt: "2026-12-03T10:30:00Z" });
    const delivery = squadDelivery(undefined, [], NOW, undefined, [done]);
    expect(delivery.changes?.[0]).toMatchObject({
      deployedAt: "2026-12-03T10:30:00Z",
      leadTimeFrom: "RolloutStart",
    });
    expect(delivery.totals?.failedChanges).toBe(0);
    expect(delivery.totals?.deployments).toBe(1);
  });
});
