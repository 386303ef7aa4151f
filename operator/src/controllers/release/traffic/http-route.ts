/**
 * The Gateway API HTTPRoute as far as Crescendo reads and writes it. A leaf module: the snapshot
 * holds an observed route, routers plan one, and neither needs the other to say what it is.
 */
import type { KubeObject } from "../../../runtime/types.js";

/** A backendRef of an HTTPRoute rule; fields Crescendo does not read pass through untouched. */
export interface HTTPBackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  /** Relative weight; Gateway API defaults an absent weight to 1. */
  weight?: number;
  [field: string]: unknown;
}

export interface HTTPRouteRule {
  backendRefs?: HTTPBackendRef[];
  [field: string]: unknown;
}

/** An HTTPRoute as far as weighting needs it. */
export interface HTTPRoute extends KubeObject {
  spec?: { rules?: HTTPRouteRule[]; [field: string]: unknown };
}
