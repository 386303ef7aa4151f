/**
 * The share of targeting keys a guarded ramp serves its variant, read from the toggle's status:
 * the one number the flag document needs from a ramp. Pure, and cheap enough to run on every
 * compile of a namespace (OFREP compiles from the informer cache, on every replica).
 */
import type { FeatureToggleSpec, FeatureToggleStatus } from "../../api/featuretoggle.js";
import { stableHash } from "../../runtime/stable-hash.js";

/**
 * Identifies a ramp: what it moves users between and how. A change to any of these starts a new
 * ramp at step 0 (the users in it were judged for another variant or another plan); a change to
 * the analysis metrics alone applies to the ramp in progress.
 */
export function rampId(spec: Pick<FeatureToggleSpec, "rollout" | "defaultVariant">): string | undefined {
  const rollout = spec.rollout;
  if (rollout?.steps === undefined) return undefined;
  const hash = stableHash({
    variant: rollout.variant,
    defaultVariant: spec.defaultVariant,
    steps: rollout.steps,
  });
  return hash.slice(0, 16);
}

/**
 * The variant's share under a guarded ramp: 0 before the ramp has started (the first reconcile
 * writes its first step) or once it is rolled back, 100 once completed, else the share status
 * records. Undefined when the toggle has no ramp (a fixed `percentage`, or no rollout).
 */
export function servedShare(
  spec: Pick<FeatureToggleSpec, "rollout" | "defaultVariant">,
  status: Pick<FeatureToggleStatus, "rollout"> | undefined,
): number | undefined {
  const id = rampId(spec);
  if (id === undefined) return undefined;
  const ramp = status?.rollout;
  if (ramp?.id !== id) return 0;
  if (ramp.phase === "RolledBack") return 0;
  if (ramp.phase === "Completed") return 100;
  return Math.min(100, Math.max(0, ramp.percentage));
}
