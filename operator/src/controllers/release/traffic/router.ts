/**
 * Traffic routers: how a canary weight becomes real. One small interface, one implementation
 * per file (after Flagger's `pkg/router`), and every method is pure planning: it
 * reads observed state and returns what should be applied, never performs I/O. The state
 * machine asks whether a weight is in effect; the plan asks what to apply for it.
 */
import type { KubeObject } from "../../../runtime/types.js";
import type { ObservedDeployment } from "../observed.js";
import type { HTTPRoute } from "./http-route.js";

/** What a router looks at: the Release's identity and size, and what the informers observed. */
export interface TrafficInput {
  /** Name of the Release; its Services are `<release>-stable` and `<release>-canary`. */
  release: string;
  namespace: string;
  /** `spec.replicas`: the size of the stable revision. */
  replicas: number;
  stable?: ObservedDeployment;
  canary?: ObservedDeployment;
  /** The observed HTTPRoute, for routers that use one. */
  route?: HTTPRoute;
}

/** What it takes to put a weight into effect. */
export interface TrafficPlan {
  /** Replicas the canary Deployment should run for this weight. */
  canaryReplicas: number;
  /** Router objects to server-side apply (an HTTPRoute), none for the replica-ratio router. */
  objects: KubeObject[];
  /** Whether the weight is in effect now, as observed; a setWeight step completes on this. */
  reached: boolean;
}

export interface TrafficRouter {
  /** Which router this is, for messages. */
  readonly name: string;
  /** Plans sending `weight` percent of the traffic to the canary. */
  setWeight(input: TrafficInput, weight: number): TrafficPlan;
  /** The weight observed in effect, in percent; undefined when it cannot be read. */
  getWeight(input: TrafficInput): number | undefined;
  /** Plans all traffic on stable and no canary pods: after promotion, after rollback, at rest. */
  finalize(input: TrafficInput): TrafficPlan;
}

/**
 * The per-revision Services of a Release, which routers point at: `<release>-stable` always
 * selects the stable revision, `<release>-canary` the canary (`<release>-preview` the blue-green
 * preview). Routers weight between them; promotion moves the stable one.
 */
export function serviceNames(release: string): {
  all: string;
  stable: string;
  canary: string;
  preview: string;
} {
  return {
    all: release,
    stable: `${release}-stable`,
    canary: `${release}-canary`,
    preview: `${release}-preview`,
  };
}
