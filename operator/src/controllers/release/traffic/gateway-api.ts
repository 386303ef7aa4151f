/**
 * Gateway API router: the weights of the HTTPRoute's backendRefs to `<release>-stable` and
 * `<release>-canary` are set to `100−w` and `w`. The route belongs to the squad (it carries
 * their hostnames, matches and filters); Crescendo changes only those weights.
 *
 * Server-side apply treats `spec.rules` of an HTTPRoute as an atomic list (the Gateway API CRD
 * declares no list-map keys for it), so applying "just the weights" is impossible: the desired
 * route is the full observed rules array with only the weights changed, and applying it makes
 * Crescendo's field manager own `spec.rules`. A GitOps tool that syncs the route will see the
 * weights as drift during a rollout; tell it to ignore `spec.rules[*].backendRefs[*].weight`.
 */
import { isReadyAt } from "../observed.js";
import type { HTTPBackendRef, HTTPRoute, HTTPRouteRule } from "./http-route.js";
import { serviceNames, type TrafficInput, type TrafficPlan, type TrafficRouter } from "./router.js";

const DEFAULT_API_VERSION = "gateway.networking.k8s.io/v1";

/**
 * Canary replicas for weight `w` when a router, not pod counts, splits traffic: enough pods to
 * carry `w` percent of the stable's load, `ceil(replicas·w/100)`, at least one for any w > 0.
 */
export function canaryReplicasForRoutedWeight(replicas: number, weight: number): number {
  if (replicas <= 0 || weight <= 0) return 0;
  return Math.min(replicas, Math.max(1, Math.ceil((replicas * weight) / 100)));
}

/** Whether a backendRef points at the Service `name` in the route's own namespace. */
function refersTo(ref: HTTPBackendRef, name: string, namespace: string): boolean {
  return (
    (ref.group ?? "") === "" &&
    (ref.kind ?? "Service") === "Service" &&
    ref.name === name &&
    (ref.namespace === undefined || ref.namespace === namespace)
  );
}

function isReleaseRule(rule: HTTPRouteRule, input: TrafficInput): boolean {
  const { stable, canary } = serviceNames(input.release);
  return (rule.backendRefs ?? []).some(
    (r) => refersTo(r, stable, input.namespace) || refersTo(r, canary, input.namespace),
  );
}

/**
 * The observed weight: the canary's share of the stable+canary weight in the first rule that
 * references the Release's Services, in percent. Undefined without a route or such a rule.
 */
export function routeWeight(input: TrafficInput): number | undefined {
  const rule = (input.route?.spec?.rules ?? []).find((r) => isReleaseRule(r, input));
  if (!rule) return undefined;
  const { stable, canary } = serviceNames(input.release);
  const weightOf = (name: string) =>
    (rule.backendRefs ?? [])
      .filter((r) => refersTo(r, name, input.namespace))
      // Gateway API weights are never negative; a negative one observed is read as 0, so the
      // share stays within 0–100 whatever the route holds.
      .reduce((n, r) => n + Math.max(0, r.weight ?? 1), 0);
  const c = weightOf(canary);
  const total = c + weightOf(stable);
  return total <= 0 ? 0 : Math.round((c / total) * 100);
}

/**
 * One rule with the Release's weights set. A rule naming only one of the two Services gets the
 * other added (a copy of the first, renamed) when it needs a weight above zero, so a route
 * written for the stable Service alone still works, and a route at rest is left as written.
 */
function weightRule(rule: HTTPRouteRule, input: TrafficInput, weight: number): HTTPRouteRule {
  const names = serviceNames(input.release);
  const refs = rule.backendRefs ?? [];
  const out = refs.map((r) =>
    refersTo(r, names.stable, input.namespace)
      ? { ...r, weight: 100 - weight }
      : refersTo(r, names.canary, input.namespace)
        ? { ...r, weight }
        : r,
  );
  const template = refs.find(
    (r) => refersTo(r, names.stable, input.namespace) || refersTo(r, names.canary, input.namespace),
  );
  for (const [name, w] of [
    [names.stable, 100 - weight],
    [names.canary, weight],
  ] as const) {
    const missing = !refs.some((r) => refersTo(r, name, input.namespace));
    if (template && missing && w > 0) out.push({ ...template, name, weight: w });
  }
  return { ...rule, backendRefs: out };
}

/**
 * The HTTPRoute to apply for `weight`: identity plus the full `spec.rules`, in which only the
 * rules referencing the Release's Services change. None when the route is not observed or
 * references neither Service (the step then waits, and the progress deadline says why).
 */
export function desiredRoute(input: TrafficInput, weight: number): HTTPRoute[] {
  const route = input.route;
  const rules = route?.spec?.rules ?? [];
  if (!route || !rules.some((r) => isReleaseRule(r, input))) return [];
  return [
    {
      apiVersion: route.apiVersion ?? DEFAULT_API_VERSION,
      kind: "HTTPRoute",
      metadata: { name: route.metadata.name ?? "", namespace: route.metadata.namespace ?? input.namespace },
      spec: { rules: rules.map((r) => (isReleaseRule(r, input) ? weightRule(r, input, weight) : r)) },
    },
  ];
}

/**
 * Weights the named HTTPRoute. Traffic follows readiness: while the canary is not yet ready at
 * the replicas a weight needs, the route keeps the weight it has (never more than asked), so
 * the canary Service is never sent traffic its pods cannot serve. A canary with no available
 * pod at all gets none: the weight the route carries may be another revision's (a rollout
 * superseded mid-way, the canary Service now selecting the new one) or hand-written, and would
 * send that share of requests to a Service without endpoints. A weight is in effect when the
 * canary is ready and the observed route carries exactly it.
 */
export function gatewayApiRouter(options: { httpRoute: string }): TrafficRouter {
  return {
    name: `HTTPRoute ${options.httpRoute}`,
    setWeight(input: TrafficInput, weight: number): TrafficPlan {
      const canaryReplicas = canaryReplicasForRoutedWeight(input.replicas, weight);
      const ready = isReadyAt(input.canary, canaryReplicas);
      const observed = routeWeight(input);
      const serving = (input.canary?.availableReplicas ?? 0) > 0;
      const apply = ready ? weight : serving ? Math.min(weight, observed ?? 0) : 0;
      return { canaryReplicas, objects: desiredRoute(input, apply), reached: ready && observed === weight };
    },
    getWeight: routeWeight,
    finalize(input: TrafficInput): TrafficPlan {
      const observed = routeWeight(input);
      return {
        canaryReplicas: 0,
        objects: desiredRoute(input, 0),
        reached: observed === undefined || observed === 0,
      };
    },
  };
}
