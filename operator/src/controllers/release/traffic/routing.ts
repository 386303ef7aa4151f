/**
 * Which router a Release uses, and what the router sees of it under a given status. Unknown
 * routing is refused by the spec's validation, so there is no default to fall back on here: no
 * `trafficRouting` means the replica ratio, by design.
 */
import type { ReleaseSpec, ReleaseStatus } from "../../../api/release.js";
import { deploymentOf, type ReleaseSnapshot } from "../snapshot.js";
import { gatewayApiRouter } from "./gateway-api.js";
import { replicaRatioRouter } from "./replicas.js";
import type { TrafficInput, TrafficRouter } from "./router.js";

/** The router a spec asks for: Gateway API when configured, replica ratio otherwise (and for blue-green). */
export function routerFor(spec: ReleaseSpec): TrafficRouter {
  const gateway = spec.strategy.canary?.trafficRouting?.gatewayAPI;
  return gateway ? gatewayApiRouter({ httpRoute: gateway.httpRoute }) : replicaRatioRouter;
}

/** What a router sees of this Release under `status`. */
export function trafficInput(snap: ReleaseSnapshot, status: ReleaseStatus): TrafficInput {
  const { metadata, spec } = snap.release;
  return {
    release: metadata.name ?? "",
    namespace: metadata.namespace ?? "",
    replicas: spec.replicas,
    stable: deploymentOf(snap, status.stableRevision),
    canary: deploymentOf(snap, status.canaryRevision),
    ...(snap.route ? { route: snap.route } : {}),
  };
}
