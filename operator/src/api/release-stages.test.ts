import { describe, expect, it } from "vitest";
import { releaseSpec } from "./release.js";
import { currentStage, stagesOf } from "./release-stages.js";

/** 20 % → 1 min → analysis → 50 % → wait for promote. */
const CANARY = {
  canary: {
    steps: [
      { setWeight: 20 },
      { pause: { duration: "1m" } },
      { analysis: {} },
      { setWeight: 50 },
      { pause: {} },
    ],
  },
};
const METRIC = {
  name: "error-rate",
  prometheus: { query: "rate(errors[1m])" },
  thresholdRange: { max: 0.05 },
};

type Raw = Record<string, unknown>;

describe("stagesOf", () => {
  it("maps canary steps one to one and ends with the scale-up", () => {
    expect(stagesOf(releaseSpec.parse({ version: "1", template: {}, strategy: CANARY }))).toEqual([
      { kind: "setWeight", weight: 20 },
      { kind: "pause", durationMs: 60_000 },
      { kind: "analysis", metrics: undefined },
      { kind: "setWeight", weight: 50 },
      { kind: "pause", durationMs: undefined },
      { kind: "scaleUp" },
    ]);
  });

  it("gives blue-green a preview, an analysis only when metrics exist, a promotion wait and the scale-up", () => {
    const bg = (extra: Raw) =>
      stagesOf(
        releaseSpec.parse({ version: "1", template: {}, replicas: 3, strategy: { blueGreen: {} }, ...extra }),
      );
    expect(bg({})).toEqual([
      { kind: "preview", replicas: 3 },
      { kind: "awaitPromotion", afterMs: undefined },
      { kind: "scaleUp" },
    ]);
    expect(
      bg({
        strategy: { blueGreen: { previewReplicas: 1, autoPromotionSeconds: 60 } },
        analysis: { metrics: [METRIC] },
      }),
    ).toEqual([
      { kind: "preview", replicas: 1 },
      { kind: "analysis" },
      { kind: "awaitPromotion", afterMs: 60_000 },
      { kind: "scaleUp" },
    ]);
  });

  it("treats an index past the end (steps removed mid-rollout) as the final scale-up", () => {
    const spec = releaseSpec.parse({ version: "1", template: {}, strategy: CANARY });
    expect(currentStage(spec, { currentStepIndex: 40 })).toEqual({ index: 5, stage: { kind: "scaleUp" } });
  });
});
