/**
 * The Release spec the controller, reconciler, spec and state-machine tests share: three
 * templates, their revisions, a clock, one error-rate metric, and a canary spec to vary. Not a test file itself; excluded
 * from the build.
 */
import { PrometheusAllowlist } from "../../analysis/allowlist.js";
import type { ObservedDeployment } from "./observed.js";
import { revisionOf } from "./revision.js";

export const template = (image: string) => ({
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "web", image }] },
});
export const V1 = template("web:1");
export const V2 = template("web:2");
export const V3 = template("web:3");
export const R1 = revisionOf(V1);
export const R2 = revisionOf(V2);
export const R3 = revisionOf(V3);

/** The clock the state-machine tests start at, and a time on it as status records it. */
export const T0 = Date.parse("2030-01-01T00:00:00.000Z");
export const iso = (ms: number) => new Date(ms).toISOString();

/** What the fixtures' platform allows: the address of `ERROR_RATE` and the bad-query one. */
export const ALLOWLIST = PrometheusAllowlist.of(["http://prom:9090", "http://p:9090"]);

export const ERROR_RATE = {
  name: "error-rate",
  prometheus: { address: "http://prom:9090", query: 'errors{revision="{{revision}}"}' },
  thresholdRange: { max: 0.05 },
};

/** 25 % → analysis → 50 %, one metric every 10 s; `over` replaces top-level fields. */
export function spec(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: "1.0.0",
    replicas: 3,
    template: V1,
    service: { ports: [{ name: "http", port: 80 }] },
    strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: {} }, { setWeight: 50 }] } },
    analysis: { interval: "10s", metrics: [ERROR_RATE] },
    ...over,
  };
}

/** Revision `revision`'s Deployment `web-<revision>` as observed with `n` pods all ready. */
export function ready(
  revision: string,
  n: number,
  podTemplate?: Record<string, unknown>,
): ObservedDeployment {
  return {
    name: `web-${revision}`,
    revision,
    labels: {},
    generation: 1,
    observedGeneration: 1,
    specReplicas: n,
    replicas: n,
    readyReplicas: n,
    availableReplicas: n,
    updatedReplicas: n,
    ...(podTemplate ? { template: podTemplate } : {}),
  };
}
