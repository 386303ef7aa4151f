import { describe, expect, it } from "vitest";
import type { ObservedDeployment } from "../observed.js";
import { canaryReplicasForRoutedWeight, desiredRoute, gatewayApiRouter, routeWeight } from "./gateway-api.js";
import type { HTTPRoute, HTTPRouteRule } from "./http-route.js";
import type { TrafficInput } from "./router.js";

const dep = (ready: number): ObservedDeployment => ({
  name: "web-c",
  revision: "c",
  labels: {},
  specReplicas: ready,
  replicas: ready,
  readyReplicas: ready,
  availableReplicas: ready,
  updatedReplicas: ready,
});

const otherRule: HTTPRouteRule = {
  matches: [{ path: { type: "PathPrefix", value: "/legacy" } }],
  backendRefs: [{ name: "legacy", port: 80 }],
};

const route = (backendRefs: HTTPRouteRule["backendRefs"]): HTTPRoute => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "shop", namespace: "shop", resourceVersion: "9" },
  spec: {
    parentRefs: [{ name: "gateway" }],
    hostnames: ["shop.example.com"],
    rules: [otherRule, { matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs }],
  },
});

const input = (r: HTTPRoute | undefined, canaryReady = 0): TrafficInput => ({
  release: "web",
  namespace: "shop",
  replicas: 4,
  canary: dep(canaryReady),
  ...(r ? { route: r } : {}),
});

const router = gatewayApiRouter({ httpRoute: "shop" });

describe("canaryReplicasForRoutedWeight", () => {
  it.each([
    [4, 0, 0],
    [4, 1, 1],
    [4, 20, 1],
    [4, 30, 2],
    [4, 50, 2],
    [4, 100, 4],
    [1, 10, 1],
    [0, 50, 0],
  ])("replicas=%i weight=%i → %i", (replicas, weight, n) => {
    expect(canaryReplicasForRoutedWeight(replicas, weight)).toBe(n);
  });
});

describe("routeWeight", () => {
  it("reads the canary share of the first rule referencing the Release's Services", () => {
    expect(
      routeWeight(
        input(
          route([
            { name: "web-stable", port: 80, weight: 80 },
            { name: "web-canary", port: 80, weight: 20 },
          ]),
        ),
      ),
    ).toBe(20);
  });

  it("defaults an absent weight to 1, as Gateway API does", () => {
    expect(routeWeight(input(route([{ name: "web-stable", port: 80 }])))).toBe(0);
    expect(
      routeWeight(
        input(
          route([
            { name: "web-stable", port: 80 },
            { name: "web-canary", port: 80 },
          ]),
        ),
      ),
    ).toBe(50);
  });

  it("is undefined without a route or a rule naming the Services", () => {
    expect(routeWeight(input(undefined))).toBeUndefined();
    expect(routeWeight(input(route([{ name: "other", port: 80 }])))).toBeUndefined();
  });

  it("ignores refs of another kind or namespace with the same name", () => {
    const r = route([
      { name: "web-stable", port: 80, weight: 100 },
      { name: "web-canary", port: 80, weight: 50, namespace: "elsewhere" },
      { name: "web-canary", weight: 50, group: "example.com", kind: "Backend" },
    ]);
    expect(routeWeight(input(r))).toBe(0);
  });
});

describe("desiredRoute", () => {
  it("keeps the full rules array (atomic under server-side apply) and changes only the weights", () => {
    const r = route([
      { name: "web-stable", port: 80, weight: 100 },
      { name: "web-canary", port: 80, weight: 0 },
    ]);
    const [desired] = desiredRoute(input(r), 30);
    expect(desired).toEqual({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "shop", namespace: "shop" },
      spec: {
        rules: [
          otherRule,
          {
            matches: [{ path: { type: "PathPrefix", value: "/" } }],
            backendRefs: [
              { name: "web-stable", port: 80, weight: 70 },
              { name: "web-canary", port: 80, weight: 30 },
            ],
          },
        ],
      },
    });
  });

  it("adds the canary backendRef to a rule written for the stable Service alone", () => {
    const [desired] = desiredRoute(input(route([{ name: "web-stable", port: 8080 }])), 10);
    expect(desired?.spec?.rules?.[1]?.backendRefs).toEqual([
      { name: "web-stable", port: 8080, weight: 90 },
      { name: "web-canary", port: 8080, weight: 10 },
    ]);
  });

  it("does not add a backendRef at weight 0, so a route at rest stays as written", () => {
    const [desired] = desiredRoute(input(route([{ name: "web-stable", port: 80 }])), 0);
    expect(desired?.spec?.rules?.[1]?.backendRefs).toEqual([{ name: "web-stable", port: 80, weight: 100 }]);
  });

  it("plans nothing for a missing route or one that does not reference the Release", () => {
    expect(desiredRoute(input(undefined), 20)).toEqual([]);
    expect(desiredRoute(input(route([{ name: "other", port: 80 }])), 20)).toEqual([]);
  });
});

describe("gatewayApiRouter", () => {
  const at = (stable: number, canary: number) =>
    route([
      { name: "web-stable", port: 80, weight: stable },
      { name: "web-canary", port: 80, weight: canary },
    ]);

  it("keeps the current weight until the canary is ready, so no traffic reaches missing pods", () => {
    const plan = router.setWeight(input(at(100, 0), 0), 20);
    expect(plan.canaryReplicas).toBe(1);
    expect(plan.reached).toBe(false);
    expect(routeWeight(input(plan.objects[0] as HTTPRoute))).toBe(0);
  });

  it("sets the weight once the canary is ready, and reaches it when the route shows it", () => {
    const plan = router.setWeight(input(at(100, 0), 1), 20);
    expect(routeWeight(input(plan.objects[0] as HTTPRoute))).toBe(20);
    expect(plan.reached).toBe(false);
    expect(router.setWeight(input(at(80, 20), 1), 20).reached).toBe(true);
  });

  it("never raises the weight above the asked one while waiting", () => {
    // One pod serves, four are needed for 80 %: the route keeps at most what was asked.
    const plan = router.setWeight(input(at(10, 90), 1), 80);
    expect(routeWeight(input(plan.objects[0] as HTTPRoute))).toBe(80);
  });

  it("sends nothing to a canary with no available pod, whatever weight the route carried", () => {
    // The route's 50 % may be a superseded rollout's, its canary Service now selecting a
    // revision whose pods do not exist yet: those requests would find no endpoint.
    const plan = router.setWeight(input(at(50, 50), 0), 20);
    expect(routeWeight(input(plan.objects[0] as HTTPRoute))).toBe(0);
    expect(plan.reached).toBe(false);
  });

  it("cannot reach a weight without a route", () => {
    expect(router.setWeight(input(undefined, 4), 20)).toEqual({
      canaryReplicas: 1,
      objects: [],
      reached: false,
    });
    expect(router.getWeight(input(undefined))).toBeUndefined();
  });

  it("finalizes to all traffic on stable", () => {
    const plan = router.finalize(input(at(50, 50), 4));
    expect(plan.canaryReplicas).toBe(0);
    expect(routeWeight(input(plan.objects[0] as HTTPRoute))).toBe(0);
    expect(plan.reached).toBe(false);
    expect(router.finalize(input(at(100, 0))).reached).toBe(true);
  });
});
