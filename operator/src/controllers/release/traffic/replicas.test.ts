import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ObservedDeployment } from "../observed.js";
import { achievedWeight, canaryReplicasForWeight, replicaRatioRouter } from "./replicas.js";
import type { TrafficInput } from "./router.js";

const dep = (revision: string, ready: number): ObservedDeployment => ({
  name: `web-${revision}`,
  revision,
  labels: {},
  specReplicas: ready,
  replicas: ready,
  readyReplicas: ready,
  availableReplicas: ready,
  updatedReplicas: ready,
});

describe("canaryReplicasForWeight", () => {
  it.each([
    // replicas, weight, canary replicas
    [4, 0, 0],
    [4, 10, 1], // 0.44 rounds to 0: at least one pod for any weight above 0
    [4, 20, 1],
    [4, 25, 1], // 1.33
    [4, 33, 2], // 1.97
    [4, 50, 4],
    [4, 75, 12],
    [4, 100, 4], // no finite ratio: canary runs `replicas`, about 50 % until promotion
    [10, 5, 1], // 0.53
    [10, 10, 1], // 1.11
    [10, 20, 3], // 2.5 rounds half up
    [10, 50, 10],
    [10, 90, 90],
    [1, 1, 1],
    [1, 10, 1],
    [1, 50, 1],
    [1, 60, 2], // 1.5
    [1, 99, 99],
    [1, 100, 1],
    [0, 50, 0], // scaled to zero: no canary either
    [0, 100, 0],
  ])("replicas=%i weight=%i → %i canary pods", (replicas, weight, canary) => {
    expect(canaryReplicasForWeight(replicas, weight)).toBe(canary);
  });

  it("is the exact ratio rounded, never below one pod (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 99 }), (replicas, weight) => {
        const exact = (replicas * weight) / (100 - weight);
        const canary = canaryReplicasForWeight(replicas, weight);
        expect(canary).toBeGreaterThanOrEqual(1);
        if (exact >= 0.5) expect(Math.abs(canary - exact)).toBeLessThanOrEqual(0.5);
      }),
    );
  });
});

describe("achievedWeight", () => {
  it.each([
    [0, 0, 0],
    [0, 4, 0],
    [1, 4, 20],
    [4, 4, 50],
    [1, 2, 33],
    [2, 1, 67],
    [3, 0, 100],
  ])("canary %i ready, stable %i ready → %i %", (canary, stable, weight) => {
    expect(achievedWeight(canary, stable)).toBe(weight);
  });
});

describe("replicaRatioRouter", () => {
  const input = (canaryReady: number): TrafficInput => ({
    release: "web",
    namespace: "shop",
    replicas: 4,
    stable: dep("s", 4),
    canary: dep("c", canaryReady),
  });

  it("reaches a weight when the canary is ready at the replicas it needs", () => {
    expect(replicaRatioRouter.setWeight(input(0), 20)).toEqual({
      canaryReplicas: 1,
      objects: [],
      reached: false,
    });
    expect(replicaRatioRouter.setWeight(input(1), 20)).toEqual({
      canaryReplicas: 1,
      objects: [],
      reached: true,
    });
    expect(replicaRatioRouter.setWeight(input(2), 50).reached).toBe(false);
  });

  it("reports the weight achieved by ready pods", () => {
    expect(replicaRatioRouter.getWeight(input(1))).toBe(20);
    expect(replicaRatioRouter.getWeight({ ...input(0), canary: undefined })).toBe(0);
  });

  it("finalizes to no canary pods", () => {
    expect(replicaRatioRouter.finalize(input(1))).toEqual({ canaryReplicas: 0, objects: [], reached: false });
    expect(replicaRatioRouter.finalize(input(0)).reached).toBe(true);
  });
});
