/**
 * What a benchmark run creates, and how it tells that the operator has caught up: Squads (one
 * namespace each), Releases (1 replica, a one-step canary `setWeight: 50`, no analysis) and
 * FeatureToggles spread round-robin over the squads' namespaces; every toggle whose index has
 * a Release guards that Release. Readiness is watched through the runtime's own reflector, so
 * the benchmark adds one watch per kind to the apiserver's load, not a poll per object.
 */
import { LABELS } from "../../operator/src/api/common.js";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../../operator/src/api/kinds.js";
import type { KubeClient } from "../../operator/src/runtime/client.js";
import { createReflector } from "../../operator/src/runtime/reflector.js";
import { NamespaceResource } from "../../operator/src/runtime/resources.js";
import { Store } from "../../operator/src/runtime/store.js";
import type { KubeObject, Resource } from "../../operator/src/runtime/types.js";

export interface Shape {
  releases: number;
  toggles: number;
  squads: number;
  /**
   * Write objects as `kubectl apply` (client-side, kubectl's default) leaves them: with the
   * whole object again in the last-applied-configuration annotation. False: as `kubectl apply
   * --server-side` or a GitOps tool using server-side apply leaves them.
   */
  lastApplied: boolean;
}

/** What `kubectl apply` adds: the object as applied, as JSON, in an annotation. */
export function asKubectlApplied(obj: KubeObject, lastApplied: boolean): KubeObject {
  if (!lastApplied) return obj;
  const annotations = { "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(obj) + "\n" };
  return { ...obj, metadata: { ...obj.metadata, annotations } };
}

export const squadName = (i: number): string => `bench-sq-${i}`;
const releaseName = (i: number): string => `rel-${i}`;
const toggleName = (i: number): string => `ft-${i}`;
/** Release i and toggle i live in the namespace of squad i mod S, so a toggle can guard its Release. */
const namespaceOf = (i: number, squads: number): string => squadName(i % squads);

const IMAGE = "registry.example.com/bench/app";

/** A Squad whose one namespace (named after it) the benchmark pre-creates with the squad's claim label. */
function squad(i: number): KubeObject {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Squad",
    metadata: { name: squadName(i) },
    spec: {
      tribe: "bench",
      mission: "Scale benchmark.",
      members: [{ kind: "User", name: `lead-${i}@example.com`, role: "lead" }],
      networkIsolation: "Squad",
    },
  };
}

function namespace(i: number): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: squadName(i), labels: { [LABELS.squad]: squadName(i) } },
  };
}

/** The pod template of `version`: a new version is a new image, hence a new revision and a rollout. */
function template(version: string): Record<string, unknown> {
  return {
    metadata: { labels: { app: "bench" } },
    spec: {
      containers: [
        {
          name: "app",
          image: `${IMAGE}:${version}`,
          ports: [{ name: "http", containerPort: 8080 }],
          resources: { requests: { cpu: "10m", memory: "16Mi" } },
        },
      ],
    },
  };
}

function release(i: number, squads: number): KubeObject {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name: releaseName(i), namespace: namespaceOf(i, squads) },
    spec: {
      version: "1",
      replicas: 1,
      template: template("1"),
      service: { ports: [{ name: "http", port: 80, targetPort: "http" }] },
      strategy: { canary: { steps: [{ setWeight: 50 }] } },
      // Scale the replaced revision down at once, so "settled" comes right after promotion.
      rollback: { onFailure: "Rollback", scaleDownDelaySeconds: 0 },
    },
  };
}

function toggle(i: number, shape: Shape): KubeObject {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "FeatureToggle",
    metadata: { name: toggleName(i), namespace: namespaceOf(i, shape.squads) },
    spec: {
      type: "release",
      state: "Enabled",
      variants: { on: true, off: false },
      defaultVariant: "off",
      rollout: { variant: "on", percentage: 10 },
      ...(i < shape.releases ? { guard: { release: releaseName(i) } } : {}),
    },
  };
}

/** Runs `fn` over `items` with at most `concurrency` in flight; rejects with the first error. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Creates namespaces, squads, releases and toggles; `progress` is told the count created so far. */
export async function createWorkload(
  client: KubeClient,
  shape: Shape,
  progress: (done: number, total: number) => void,
): Promise<void> {
  const opts = { fieldManager: "crescendo-bench", force: true };
  const total = shape.squads * 2 + shape.releases + shape.toggles;
  let done = 0;
  const tick = (): void => progress(++done, total);
  await pool(range(shape.squads), 16, async (i) => {
    await client.apply(namespace(i), NamespaceResource, opts);
    tick();
  });
  await pool(range(shape.squads), 16, async (i) => {
    await client.apply(asKubectlApplied(squad(i), shape.lastApplied), SquadResource, opts);
    tick();
  });
  await pool(range(shape.releases), 32, async (i) => {
    await client.apply(asKubectlApplied(release(i, shape.squads), shape.lastApplied), ReleaseResource, opts);
    tick();
  });
  await pool(range(shape.toggles), 32, async (i) => {
    await client.apply(asKubectlApplied(toggle(i, shape), shape.lastApplied), FeatureToggleResource, opts);
    tick();
  });
}

/** Moves every Release to `version` (new image, so a new revision): one merge patch each. */
export async function changeAllReleases(client: KubeClient, shape: Shape, version: string): Promise<void> {
  await pool(range(shape.releases), 32, async (i) => {
    await client.mergePatch(ReleaseResource, releaseName(i), namespaceOf(i, shape.squads), {
      spec: { version, template: template(version) },
    });
  });
}

interface Condition {
  type: string;
  status: string;
}
type Status = {
  observedGeneration?: number;
  conditions?: Condition[];
  phase?: string;
  stableVersion?: string;
  scaleDown?: unknown[];
};

const statusOf = (obj: KubeObject): Status => (obj["status"] as Status | undefined) ?? {};

/** kstatus "Current": the latest generation observed and Ready=True. */
export function isReady(obj: KubeObject): boolean {
  const s = statusOf(obj);
  return (
    s.observedGeneration === obj.metadata.generation &&
    (s.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

/** A Release that finished rolling out `version`: Healthy with it as the stable version. */
export function isHealthyAt(version: string): (obj: KubeObject) => boolean {
  return (obj) => {
    const s = statusOf(obj);
    const spec = obj["spec"] as { version?: string } | undefined;
    return (
      spec?.version === version &&
      s.observedGeneration === obj.metadata.generation &&
      s.phase === "Healthy" &&
      s.stableVersion === version
    );
  };
}

/** Healthy and nothing left to scale down: the Release has no more work scheduled. */
export function isSettledAt(version: string): (obj: KubeObject) => boolean {
  const healthy = isHealthyAt(version);
  return (obj) => healthy(obj) && (statusOf(obj).scaleDown ?? []).length === 0;
}

/** One reflector per kind, running until `stop`; counts objects that pass a predicate. */
export class Watcher {
  private readonly ctl = new AbortController();
  readonly stores = new Map<string, Store<KubeObject>>();

  constructor(client: KubeClient, resources: Resource[]) {
    for (const resource of resources) {
      const store = new Store<KubeObject>();
      this.stores.set(resource.kind, store);
      void createReflector({ client, resource, store }).run(this.ctl.signal);
    }
  }

  synced(): boolean {
    return [...this.stores.values()].every((s) => s.hasSynced());
  }

  count(kind: string, pred: (o: KubeObject) => boolean): number {
    let n = 0;
    for (const o of this.stores.get(kind)?.list() ?? []) if (pred(o)) n++;
    return n;
  }

  stop(): void {
    this.ctl.abort();
  }
}

export const WATCHED: Resource[] = [SquadResource, ReleaseResource, FeatureToggleResource];
