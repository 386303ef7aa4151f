/**
 * The stages a Release's strategy describes: what `kubectl crescendo status` lists and what the
 * controller's state machine walks. Derived from the spec alone, so the CLI reads it here without
 * depending on the controller.
 */
import { parseDuration } from "./common.js";
import type { CanaryStep, ReleaseSpec, ReleaseStatus } from "./release.js";

/** One stage of a rollout; canary steps map one to one, the rest are implied by the strategy. */
export type Stage =
  | { kind: "setWeight"; weight: number }
  | { kind: "pause"; durationMs?: number }
  | { kind: "analysis"; metrics?: string[] }
  | { kind: "preview"; replicas: number }
  | { kind: "awaitPromotion"; afterMs?: number }
  | { kind: "scaleUp" };

/** The stages of a rollout under this spec. The last one is always the scale-up before promotion. */
export function stagesOf(spec: ReleaseSpec): Stage[] {
  const bg = spec.strategy.blueGreen;
  if (!bg) return [...(spec.strategy.canary?.steps ?? []).map(stageOfStep), { kind: "scaleUp" }];
  const analysis: Stage[] = (spec.analysis?.metrics.length ?? 0) > 0 ? [{ kind: "analysis" }] : [];
  const afterMs = bg.autoPromotionSeconds === undefined ? undefined : bg.autoPromotionSeconds * 1000;
  return [
    { kind: "preview", replicas: bg.previewReplicas ?? spec.replicas },
    ...analysis,
    { kind: "awaitPromotion", afterMs },
    { kind: "scaleUp" },
  ];
}

export function stageOfStep(s: CanaryStep): Stage {
  if (s.setWeight !== undefined) return { kind: "setWeight", weight: s.setWeight };
  if (s.pause)
    return { kind: "pause", durationMs: s.pause.duration ? parseDuration(s.pause.duration) : undefined };
  return { kind: "analysis", metrics: s.analysis?.metrics };
}

/**
 * The stage the status points at. An index past the end (the steps were shortened mid-rollout)
 * means the final scale-up: the canary has passed every step that still exists.
 */
export function currentStage(spec: ReleaseSpec, status: ReleaseStatus): { index: number; stage: Stage } {
  const stages = stagesOf(spec);
  const index = Math.min(Math.max(status.currentStepIndex ?? 0, 0), stages.length - 1);
  return { index, stage: stages[index] ?? { kind: "scaleUp" } };
}
