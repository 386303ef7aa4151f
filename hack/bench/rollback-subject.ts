/**
 * What `bench:rollback` needs from a progressive-delivery controller, so Crescendo and a peer
 * (Argo Rollouts) are driven through the same steps and timed by the same clock: N objects of one
 * replica, each a canary held at a pause step while a background analysis measures the same
 * Prometheus error-rate query every `intervalSeconds` with no failure tolerated.
 *
 * The metrics simulator labels each object's series `{namespace, release: <name>, revision:
 * <version>}` (the version, not a pod-template hash, so both controllers' queries select the
 * same series without knowing each other's hashing).
 */
import type { KubeObject, Resource } from "../../operator/src/runtime/types.js";
import type { Store } from "../../operator/src/runtime/store.js";
import type { Cluster } from "./cluster.js";

export interface RollbackSetup {
  cluster: Cluster;
  namespace: string;
  prometheusUrl: string;
  intervalSeconds: number;
  /** Where the controller's log goes. */
  logFile: string;
}

/** Stores of the watched resources, by kind. */
export type Stores = Map<string, Store<KubeObject>>;

export interface RollbackSubject {
  /** "crescendo" or the peer's name. */
  readonly name: string;
  /** The controller's version, for the results. */
  readonly version: string;
  /** What is watched to see decisions and actions (one reflector per resource). */
  readonly resources: Resource[];
  /** Installs what the controller needs on a fresh control plane (its CRDs), once. */
  install?(cluster: Cluster): Promise<void>;
  /** Starts the controller; resolves once it serves. */
  start(setup: RollbackSetup): Promise<void>;
  stop(): Promise<void>;
  alive(): boolean;
  /** CPU seconds the controller process used so far. */
  cpuSeconds(): number;
  /** Creates or changes object `i` to `version` (a new pod template, so a rollout). */
  apply(setup: RollbackSetup, i: number, version: string): Promise<void>;
  /** Object i runs `version` as its stable revision, with no rollout in flight. */
  stableAt(stores: Stores, namespace: string, i: number, version: string): boolean;
  /** Object i's canary of `version` is held at the pause step and its analysis has passed once. */
  holding(stores: Stores, namespace: string, i: number, version: string): boolean;
  /** The verdict: the analysis failed (Crescendo: phase RolledBack; Argo: AnalysisRun Failed). */
  decided(stores: Stores, namespace: string, i: number): boolean;
  /** The action is complete: traffic on the stable revision and the canary at zero pods. */
  actedOn(stores: Stores, namespace: string, i: number): boolean;
}

export const objectName = (i: number): string => `rb-${i}`;

/** Error share of the series of one object's version over the last 5 s (scraped every second). */
export function errorRateQuery(namespace: string, release: string, version: string): string {
  const sel = `namespace="${namespace}",release="${release}",revision="${version}"`;
  return `sum(rate(http_requests_total{${sel},code="500"}[5s])) / sum(rate(http_requests_total{${sel}}[5s]))`;
}

/** Fail above 5 % errors. */
export const MAX_ERROR_RATE = 0.05;

/** The pod template of `version` (a new image, hence a new revision) for app `app`. */
export function podTemplate(app: string, version: string): Record<string, unknown> {
  return {
    metadata: { labels: { app } },
    spec: {
      containers: [
        {
          name: "app",
          image: `registry.example.com/bench/${app}:${version}`,
          ports: [{ name: "http", containerPort: 8080 }],
          resources: { requests: { cpu: "10m", memory: "16Mi" } },
        },
      ],
    },
  };
}
