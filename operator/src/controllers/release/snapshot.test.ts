import { describe, expect, it } from "vitest";
import type { Release } from "../../api/kinds.js";
import { releaseSpec } from "../../api/release.js";
import { pendingAction, verdictsOf } from "./snapshot.js";

describe("pendingAction", () => {
  const release = (annotations: Record<string, string>, lastId?: string): Release => ({
    metadata: { name: "web", annotations },
    spec: releaseSpec.parse({ version: "1", template: {}, strategy: { blueGreen: {} } }),
    ...(lastId
      ? { status: { lastAction: { id: lastId, action: "promote", acceptedAt: "2030-01-01T00:00:00Z" } } }
      : {}),
  });

  it("returns the action when its id has not been acted on", () => {
    expect(
      pendingAction(release({ "crescendo.dev/action": "promote", "crescendo.dev/action-id": "7" })),
    ).toEqual({
      id: "7",
      action: "promote",
    });
    expect(
      pendingAction(release({ "crescendo.dev/action": "abort", "crescendo.dev/action-id": "8" }, "7")),
    ).toEqual({
      id: "8",
      action: "abort",
    });
  });

  it("acts once per id", () => {
    expect(
      pendingAction(release({ "crescendo.dev/action": "promote", "crescendo.dev/action-id": "7" }, "7")),
    ).toBeUndefined();
  });

  it("needs both annotations", () => {
    expect(pendingAction(release({ "crescendo.dev/action": "promote" }))).toBeUndefined();
    expect(pendingAction(release({ "crescendo.dev/action-id": "7" }))).toBeUndefined();
    expect(
      pendingAction(release({ "crescendo.dev/action": " ", "crescendo.dev/action-id": "7" })),
    ).toBeUndefined();
  });
});

describe("verdictsOf", () => {
  const metric = (name: string) => ({ name, prometheus: { query: "up" }, thresholdRange: { max: 1 } });
  const spec = releaseSpec.parse({
    version: "2",
    template: {},
    strategy: {
      canary: {
        steps: [{ setWeight: 25 }, { analysis: { metrics: ["a"] } }],
        backgroundAnalysis: { metrics: ["b"] },
      },
    },
    analysis: { metrics: [metric("a"), metric("b")] },
  });
  const failedOnce = (name: string) => ({
    name,
    successful: 0,
    failed: 1,
    inconclusive: 0,
    consecutiveInconclusive: 0,
    measurements: [{ at: "2030-01-01T00:00:00Z", phase: "Failed" as const, value: "2" }],
  });

  it("judges each recorded analysis over its own metrics only", () => {
    // b failed, but only the background analysis judges b.
    const status = {
      analysis: { step: 1, startedAt: "2030-01-01T00:00:00Z", metrics: [failedOnce("b")] },
      backgroundAnalysis: { startedAt: "2030-01-01T00:00:00Z", metrics: [failedOnce("b")] },
    };
    const verdicts = verdictsOf(spec, status, spec.analysis?.metrics ?? []);
    expect(verdicts.step?.phase).toBe("Running");
    expect(verdicts.background).toMatchObject({ phase: "Failed", metric: "b" });
  });

  it("has no verdict for an analysis not recorded in status", () => {
    expect(verdictsOf(spec, {}, spec.analysis?.metrics ?? [])).toEqual({});
  });
});
