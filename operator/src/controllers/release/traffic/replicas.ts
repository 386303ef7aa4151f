/**
 * The router of last resort: no router at all. The `<release>` Service selects the pods of
 * every revision, so kube-proxy spreads connections over ready pods and the canary's share of
 * traffic is its share of ready pods. The stable Deployment keeps its full `replicas` for the
 * whole rollout, so a rollback is instant (the canary is scaled to zero, the stable never left),
 * and the canary is sized to reach the weight next to it.
 */
import { isReadyAt } from "../observed.js";
import type { TrafficInput, TrafficPlan, TrafficRouter } from "./router.js";

/**
 * Canary replicas for weight `w` next to a stable of `replicas`: `round(replicas·w/(100−w))`,
 * so that canary/(canary+stable) ≈ w.
 *
 * - w = 0 or replicas = 0: no canary pods.
 * - 0 < w < 100: at least one pod. Rounding alone would give a one-replica Release no canary at
 *   all below 34 %, and a "canary" step that passes with no canary pods proves nothing.
 * - w = 100: the ratio has no finite answer (the stable never goes below `replicas`), so the
 *   canary runs `replicas` pods and the achieved weight is about 50 % until promotion moves the
 *   stable Service and the old revision is scaled down. 100 % is reached by promotion itself.
 *
 * Weights above 50 % cost more canary pods than stable ones (90 % needs 9× the stable's
 * replicas): with replica-ratio routing prefer steps up to 50 % and let promotion do the rest.
 */
export function canaryReplicasForWeight(replicas: number, weight: number): number {
  if (replicas <= 0 || weight <= 0) return 0;
  if (weight >= 100) return replicas;
  return Math.max(1, Math.round((replicas * weight) / (100 - weight)));
}

/** The share of ready pods that are canary pods, in percent (0 when nothing is ready). */
export function achievedWeight(canaryReady: number, stableReady: number): number {
  const total = canaryReady + stableReady;
  return total <= 0 ? 0 : Math.round((canaryReady / total) * 100);
}

/**
 * The replica-ratio router. A weight is in effect once the canary Deployment is ready at the
 * replicas it needs; the achieved weight is reported from ready pods and may differ from the
 * asked one by rounding, which is why reaching it is judged on readiness, not on equality.
 */
export const replicaRatioRouter: TrafficRouter = {
  name: "replica ratio",
  setWeight(input: TrafficInput, weight: number): TrafficPlan {
    const canaryReplicas = canaryReplicasForWeight(input.replicas, weight);
    return { canaryReplicas, objects: [], reached: isReadyAt(input.canary, canaryReplicas) };
  },
  getWeight(input: TrafficInput): number {
    return achievedWeight(input.canary?.readyReplicas ?? 0, input.stable?.readyReplicas ?? 0);
  },
  finalize(input: TrafficInput): TrafficPlan {
    return { canaryReplicas: 0, objects: [], reached: (input.canary?.readyReplicas ?? 0) === 0 };
  },
};
