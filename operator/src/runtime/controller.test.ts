import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger, type Logger } from "../observability/logger.js";
import { registry } from "../observability/metrics.js";
import { ApiError } from "./client.js";
import { controllerFor, ownerKeys, type Controller, type ControllerHost } from "./controller.js";
import { ConfigMapResource, DeploymentResource } from "./resources.js";
import { RefusalReporter } from "./refusals.js";
import {
  objectKey,
  TerminalError,
  type Clock,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type ReconcileContext,
  type ReconcileResult,
  type Resource,
  type StoreEvent,
} from "./types.js";

const ReleaseResource: Resource = {
  group: "crescendo.dev",
  version: "v1alpha1",
  kind: "Release",
  plural: "releases",
  namespaced: true,
};
const SquadResource: Resource = {
  group: "crescendo.dev",
  version: "v1alpha1",
  kind: "Squad",
  plural: "squads",
  namespaced: false,
};

/** Time moves only when a test says so; sleeps resolve when their deadline is passed. */
class ManualClock implements Clock {
  private t = 0;
  private timers: { at: number; resolve: () => void }[] = [];
  now = (): number => this.t;
  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = { at: this.t + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        "abort",
        () => {
          this.timers = this.timers.filter((x) => x !== timer);
          resolve();
        },
        { once: true },
      );
    });
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const timer of due) timer.resolve();
  }
}

class FakeStore implements ReadStore {
  synced = true;
  private readonly objects = new Map<ObjectKey, KubeObject>();
  private readonly handlers = new Set<(e: StoreEvent) => void>();
  get = (key: ObjectKey) => this.objects.get(key);
  list = () => [...this.objects.values()];
  byOwner = () => [];
  byLabel = () => [];
  addIndex = () => undefined;
  byIndex = () => [];
  hasSynced = () => this.synced;
  subscribe(handler: (e: StoreEvent) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
  emit(event: StoreEvent): void {
    for (const h of this.handlers) h(event);
  }
  upsert(object: KubeObject): void {
    this.objects.set(objectKey(object), object);
    this.emit({ type: "upsert", object });
  }
  /** Puts an object in the cache without an event (what a resync then finds). */
  put(object: KubeObject): void {
    this.objects.set(`${object.metadata.namespace}/${object.metadata.name}`, object);
  }
}

function makeHost() {
  const clock = new ManualClock();
  const stores = new Map<string, FakeStore>();
  const controllers: Controller[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger: Logger = createLogger({
    level: "info",
    destination: { write: (l: string) => lines.push(JSON.parse(l)) },
  });
  const host: ControllerHost = {
    clock,
    logger,
    informer: <T extends KubeObject>(res: Resource) => {
      let store = stores.get(res.plural);
      if (!store) stores.set(res.plural, (store = new FakeStore()));
      return store as unknown as ReadStore<T>;
    },
    add: (c) => controllers.push(c),
  };
  const store = (res: Resource): FakeStore => host.informer(res) as unknown as FakeStore;
  return { host, clock, store, controllers, lines };
}

let names = 0;
const uniqueName = () => `test-${++names}`;

const running: AbortController[] = [];
function start(controller: Controller) {
  const stop = new AbortController();
  const cancel = new AbortController();
  running.push(stop, cancel);
  const done = controller.run({ stop: stop.signal, cancel: cancel.signal });
  return { stop, cancel, done };
}
afterEach(() => {
  for (const c of running.splice(0)) c.abort();
});

const release = (name: string, namespace = "team-a"): KubeObject => ({
  apiVersion: "crescendo.dev/v1alpha1",
  kind: "Release",
  metadata: { name, namespace, uid: `uid-${name}` },
});

/** A reconciler that records keys and answers from a script. */
function recorder(
  answer: (key: ObjectKey, call: number) => Promise<ReconcileResult> | ReconcileResult = () => ({}),
) {
  const calls: ObjectKey[] = [];
  const contexts: ReconcileContext[] = [];
  const reconcile = async (key: ObjectKey, ctx: ReconcileContext) => {
    calls.push(key);
    contexts.push(ctx);
    return answer(key, calls.length);
  };
  return { calls, contexts, reconcile };
}

const settle = () => new Promise((r) => setTimeout(r, 5));

describe("controller wiring", () => {
  it("enqueues the primary object's own key", async () => {
    const h = makeHost();
    const r = recorder();
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() }).complete(r.reconcile);
    expect(h.controllers).toEqual([c]);
    start(c);
    h.store(ReleaseResource).upsert(release("web"));
    await vi.waitFor(() => expect(r.calls).toEqual(["team-a/web"]));
  });

  it("maps owned objects to their controller owner, ignoring other owners", async () => {
    const h = makeHost();
    const r = recorder();
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() })
      .owns(DeploymentResource)
      .complete(r.reconcile);
    start(c);
    const deployment = (refs: NonNullable<KubeObject["metadata"]["ownerReferences"]>): KubeObject => ({
      metadata: { name: "web-abc", namespace: "team-a", ownerReferences: refs },
    });
    const deployments = h.store(DeploymentResource);
    deployments.upsert(
      deployment([
        { apiVersion: "crescendo.dev/v1alpha1", kind: "Release", name: "web", uid: "u", controller: true },
      ]),
    );
    deployments.upsert(
      deployment([
        { apiVersion: "crescendo.dev/v1alpha1", kind: "Release", name: "not-controller", uid: "u" },
      ]),
    );
    deployments.upsert(
      deployment([
        { apiVersion: "other.dev/v1", kind: "Release", name: "other-group", uid: "u", controller: true },
      ]),
    );
    deployments.upsert(
      deployment([{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: "u", controller: true }]),
    );
    await vi.waitFor(() => expect(r.calls).toEqual(["team-a/web"]));
    await settle();
    expect(r.calls).toEqual(["team-a/web"]);
  });

  it("maps owned objects of a cluster-scoped owner to the owner's name", () => {
    const obj: KubeObject = {
      metadata: {
        name: "rb",
        namespace: "team-a",
        ownerReferences: [
          { apiVersion: "crescendo.dev/v1beta1", kind: "Squad", name: "a", uid: "u", controller: true },
        ],
      },
    };
    expect(ownerKeys(obj, SquadResource)).toEqual(["a"]);
  });

  it("maps watched kinds through the mapping function, old and new object alike", async () => {
    const h = makeHost();
    const r = recorder();
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() })
      .watches(ConfigMapResource, (cm: KubeObject) => {
        if (cm.metadata.name === "bad") throw new Error("mapper bug");
        return [`${cm.metadata.namespace}/${cm.metadata.labels?.["release"] ?? ""}`];
      })
      .complete(r.reconcile);
    start(c);
    const cm = (name: string, rel: string): KubeObject => ({
      metadata: { name, namespace: "team-a", labels: { release: rel } },
    });
    const cms = h.store(ConfigMapResource);
    cms.upsert(cm("bad", "x"));
    cms.emit({ type: "upsert", object: cm("flags", "new"), previous: cm("flags", "old") });
    await vi.waitFor(() => expect([...r.calls].sort()).toEqual(["team-a/new", "team-a/old"]));
    expect(h.lines.some((l) => l["msg"] === "mapping function failed")).toBe(true);
  });

  it("maps only the events a watch's predicate accepts; a failing predicate lets the event through", async () => {
    const h = makeHost();
    const r = recorder();
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() })
      .watches(ConfigMapResource, (cm: KubeObject) => [`team-a/${cm.metadata.name ?? ""}`], {
        predicate: (event) => {
          if (event.type !== "upsert") return true;
          if (event.object.metadata.name === "bad") throw new Error("predicate bug");
          return event.object.metadata.labels?.["v"] !== event.previous?.metadata.labels?.["v"];
        },
      })
      .complete(r.reconcile);
    start(c);
    const cm = (name: string, v: string): KubeObject => ({
      metadata: { name, namespace: "team-a", labels: { v } },
    });
    const cms = h.store(ConfigMapResource);
    cms.emit({ type: "upsert", object: cm("same", "1"), previous: cm("same", "1") });
    cms.emit({ type: "upsert", object: cm("changed", "2"), previous: cm("changed", "1") });
    cms.emit({ type: "delete", object: cm("gone", "1") });
    cms.emit({ type: "upsert", object: cm("bad", "1"), previous: cm("bad", "1") });
    await vi.waitFor(() =>
      expect([...r.calls].sort()).toEqual(["team-a/bad", "team-a/changed", "team-a/gone"]),
    );
    expect(h.lines.some((l) => l["msg"] === "watch predicate failed")).toBe(true);
  });

  it("coalesces a batched watch's events into one reconcile per window; the primary's own are not delayed", async () => {
    const h = makeHost();
    const r = recorder();
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() })
      .watches(ConfigMapResource, () => ["team-a/web"], { batchMs: 2000 })
      .complete(r.reconcile);
    start(c);
    const cms = h.store(ConfigMapResource);
    for (let i = 0; i < 5; i++) cms.upsert({ metadata: { name: `cm-${i}`, namespace: "team-a" } });
    await settle();
    expect(r.calls).toEqual([]);
    h.clock.advance(2000);
    await vi.waitFor(() => expect(r.calls).toEqual(["team-a/web"]));

    h.store(ReleaseResource).upsert(release("api"));
    await vi.waitFor(() => expect(r.calls).toEqual(["team-a/web", "team-a/api"]));
    expect(() =>
      controllerFor(h.host, ReleaseResource, { name: uniqueName() }).watches(ConfigMapResource, () => [], {
        batchMs: -1,
      }),
    ).toThrow(/batchMs/);
  });

  it("enqueues every mapped key on resync", async () => {
    const h = makeHost();
    const r = recorder();
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() }).complete(r.reconcile);
    start(c);
    h.store(ReleaseResource).emit({
      type: "resync",
      objects: [release("a"), release("b"), release("c", "team-b")],
    });
    await vi.waitFor(() => expect([...r.calls].sort()).toEqual(["team-a/a", "team-a/b", "team-b/c"]));
  });

  it("queues every cached primary object on a periodic resync, whatever the predicates say", async () => {
    const h = makeHost();
    const r = recorder();
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() })
      .owns(DeploymentResource)
      .complete(r.reconcile);
    h.store(ReleaseResource).put(release("a"));
    h.store(ReleaseResource).put(release("b", "team-b"));
    h.store(DeploymentResource).put({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d", namespace: "team-a" },
    });
    start(c);
    await settle();
    expect(r.calls).toEqual([]);
    expect(c.resync?.()).toBe(2);
    await vi.waitFor(() => expect([...r.calls].sort()).toEqual(["team-a/a", "team-b/b"]));
  });

  it("starts workers only after every watched store has synced", async () => {
    const h = makeHost();
    const r = recorder();
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() })
      .owns(DeploymentResource)
      .complete(r.reconcile);
    h.store(DeploymentResource).synced = false;
    start(c);
    h.store(ReleaseResource).upsert(release("web"));
    await settle();
    expect(r.calls).toEqual([]);
    expect(c.hasSynced()).toBe(false);
    h.store(DeploymentResource).synced = true;
    h.clock.advance(100);
    await vi.waitFor(() => expect(r.calls).toEqual(["team-a/web"]));
  });
});

describe("outcome handling", () => {
  it("requeues a conflict immediately, then backs off if conflicts persist", async () => {
    const h = makeHost();
    const conflict = new ApiError(
      409,
      "Conflict",
      "the object has been modified",
      undefined,
      undefined,
      "PATCH x",
    );
    const r = recorder(() => {
      throw conflict;
    });
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() }).complete(r.reconcile);
    start(c);
    h.store(ReleaseResource).upsert(release("web"));
    // Five immediate requeues without the clock moving, then the sixth conflict backs off.
    await vi.waitFor(() => expect(r.calls).toHaveLength(6));
    await settle();
    expect(r.calls).toHaveLength(6);
    h.clock.advance(5);
    await vi.waitFor(() => expect(r.calls).toHaveLength(7));
    const requeued = h.lines.filter((l) => l["result"] === "requeue");
    expect(requeued).toHaveLength(5);
  });

  it("never retries a TerminalError", async () => {
    const h = makeHost();
    const r = recorder(() => {
      throw new TerminalError("spec.replicas: must be >= 0", "InvalidSpec");
    });
    const name = uniqueName();
    const c = controllerFor(h.host, ReleaseResource, { name }).complete(r.reconcile);
    start(c);
    h.store(ReleaseResource).upsert(release("web"));
    await vi.waitFor(() => expect(r.calls).toHaveLength(1));
    h.clock.advance(10 * 60_000);
    await settle();
    expect(r.calls).toHaveLength(1);
    const line = h.lines.find((l) => l["result"] === "error");
    expect(line).toMatchObject({
      controller: name,
      namespace: "team-a",
      name: "web",
      terminal: true,
      reason: "InvalidSpec",
    });
    const errors = await registry
      .getSingleMetric("controller_runtime_terminal_reconcile_errors_total")!
      .get();
    expect(errors.values.find((v) => v.labels["controller"] === name)?.value).toBe(1);
  });

  it("reports a refused write on the primary's status once, and retries it slowly until a success", async () => {
    const h = makeHost();
    const invalid = new ApiError(
      422,
      "Invalid",
      'ResourceQuota.core "team" is invalid: spec.hard[pods]: Invalid value: "-5": must be greater than or equal to 0',
      { kind: "ResourceQuota", name: "team" },
      undefined,
      "PATCH /api/v1/namespaces/team/resourcequotas/team",
    );
    let fixed = false;
    const r = recorder(() => {
      if (!fixed) throw invalid;
      return {};
    });
    const patches: { name: string; namespace: string | undefined; patch: unknown }[] = [];
    const events: { reason: string; type: string; note: string }[] = [];
    const reporter = new RefusalReporter({
      client: {
        mergePatch: async (_res, name, namespace, patch) => {
          patches.push({ name, namespace, patch });
          // The watch brings the written status back into the cache, as the apiserver would.
          const obj = { ...release("web"), status: (patch as { status: unknown }).status };
          h.store(ReleaseResource).upsert({ ...obj, metadata: { ...obj.metadata, generation: 3 } });
          return obj as never;
        },
      },
      recorder: { record: async (_obj, e) => void events.push(e) },
      resource: ReleaseResource,
      now: () => h.clock.now(),
    });
    const name = uniqueName();
    const c = controllerFor(h.host, ReleaseResource, { name }).reportRefusals(reporter).complete(r.reconcile);
    start(c);
    h.store(ReleaseResource).upsert({
      ...release("web"),
      metadata: { ...release("web").metadata, generation: 3 },
    });

    // The refusal is written as Stalled, announced once, and the write's own watch event reruns
    // the key once, which finds it already reported.
    await vi.waitFor(() => expect(r.calls.length).toBeGreaterThanOrEqual(2));
    await settle();
    expect(r.calls).toHaveLength(2);
    expect(patches).toHaveLength(1);
    const conditions = (patches[0]!.patch as { status: { conditions: Record<string, unknown>[] } }).status
      .conditions;
    expect(conditions.find((c) => c["type"] === "Stalled")).toMatchObject({
      status: "True",
      reason: "ChildRejected",
      observedGeneration: 3,
      message: expect.stringContaining("spec.hard[pods]"),
    });
    expect(conditions.find((c) => c["type"] === "Ready")).toMatchObject({ status: "False" });
    expect(events).toEqual([
      {
        type: "Warning",
        reason: "ChildRejected",
        action: "Reconcile",
        note: expect.stringContaining("422 Invalid"),
      },
    ]);

    // Not a hot loop: nothing in the first second, then retries further and further apart
    // (the third refusal in a row waits 4 s).
    h.clock.advance(999);
    await settle();
    expect(r.calls).toHaveLength(2);
    h.clock.advance(1);
    await vi.waitFor(() => expect(r.calls).toHaveLength(3));
    h.clock.advance(3_999);
    await settle();
    expect(r.calls).toHaveLength(3);
    h.clock.advance(1);
    await vi.waitFor(() => expect(r.calls).toHaveLength(4));
    expect(patches).toHaveLength(1);
    expect(events).toHaveLength(1);

    const counted = await registry.getSingleMetric("crescendo_child_rejected_total")!.get();
    expect(counted.values.find((v) => v.labels["controller"] === name)).toMatchObject({
      labels: { controller: name, reason: "ChildRejected", kind: "ResourceQuota" },
      value: 4,
    });
    const warned = h.lines.filter(
      (l) => l["controller"] === name && l["result"] === "refused" && l["level"] === "warn",
    );
    expect(warned).toHaveLength(1);

    // Once the spec is fixed the next reconcile succeeds and the backoff starts over.
    fixed = true;
    h.clock.advance(8_000);
    await vi.waitFor(() => expect(r.calls).toHaveLength(5));
  });

  it("tells every owner the controller names when its keys are not objects", async () => {
    const h = makeHost();
    const r = recorder(() => {
      throw new ApiError(
        422,
        "Invalid",
        'ConfigMap "crescendo-flags" is invalid: data: Too long',
        { kind: "ConfigMap" },
        undefined,
        "PATCH",
      );
    });
    const patched: string[] = [];
    const reporter = new RefusalReporter({
      client: {
        mergePatch: async (_res, name, namespace) => (patched.push(`${namespace}/${name}`), {}) as never,
      },
      recorder: { record: async () => undefined },
      resource: ReleaseResource,
      now: () => h.clock.now(),
    });
    const owners = [release("a", "ns1"), release("b", "ns1")];
    const c = controllerFor(h.host, ConfigMapResource, { name: uniqueName() })
      .reportRefusals(reporter, (key) => owners.filter((o) => o.metadata.namespace === key))
      .complete(r.reconcile);
    start(c);
    h.store(ConfigMapResource).emit({ type: "upsert", object: { metadata: { name: "ns1" } } });
    await vi.waitFor(() => expect(patched.sort()).toEqual(["ns1/a", "ns1/b"]));
  });

  it("treats a refusal like any error when the controller does not report refusals", async () => {
    const h = makeHost();
    const r = recorder((_key, call) => {
      if (call < 2) throw new ApiError(422, "Invalid", "bad", undefined, undefined, "PATCH x");
      return {};
    });
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() }).complete(r.reconcile);
    start(c);
    h.store(ReleaseResource).upsert(release("web"));
    await vi.waitFor(() => expect(r.calls).toHaveLength(1));
    h.clock.advance(5);
    await vi.waitFor(() => expect(r.calls).toHaveLength(2));
  });

  it("retries other errors with per-key backoff", async () => {
    const h = makeHost();
    const r = recorder((_key, call) => {
      if (call < 3) throw new Error("transient");
      return {};
    });
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() }).complete(r.reconcile);
    start(c);
    h.store(ReleaseResource).upsert(release("web"));
    await vi.waitFor(() => expect(r.calls).toHaveLength(1));
    h.clock.advance(4);
    await settle();
    expect(r.calls).toHaveLength(1);
    h.clock.advance(1); // 5 ms: first backoff
    await vi.waitFor(() => expect(r.calls).toHaveLength(2));
    h.clock.advance(10); // 10 ms: second backoff
    await vi.waitFor(() => expect(r.calls).toHaveLength(3));
  });

  it("honours requeueAfterMs", async () => {
    const h = makeHost();
    const r = recorder((_key, call) => (call === 1 ? { requeueAfterMs: 30_000 } : {}));
    const name = uniqueName();
    const c = controllerFor(h.host, ReleaseResource, { name }).complete(r.reconcile);
    start(c);
    h.store(ReleaseResource).upsert(release("web"));
    await vi.waitFor(() => expect(r.calls).toHaveLength(1));
    h.clock.advance(29_999);
    await settle();
    expect(r.calls).toHaveLength(1);
    h.clock.advance(1);
    await vi.waitFor(() => expect(r.calls).toHaveLength(2));
    const total = await registry.getSingleMetric("controller_runtime_reconcile_total")!.get();
    const mine = total.values.filter((v) => v.labels["controller"] === name);
    // Every result exists from the start (at 0), so the first of each is an increase.
    expect(Object.fromEntries(mine.map((v) => [v.labels["result"], v.value]))).toEqual({
      requeue_after: 1,
      success: 1,
      error: 0,
      requeue: 0,
    });
  });

  it("never reconciles one key twice at once, and reruns it once if it changed meanwhile", async () => {
    const h = makeHost();
    const inFlight = new Map<ObjectKey, number>();
    let maxPerKey = 0;
    let release1: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release1 = resolve));
    const r = recorder(async (key, call) => {
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
      maxPerKey = Math.max(maxPerKey, inFlight.get(key)!);
      if (call === 1) await gate;
      inFlight.set(key, inFlight.get(key)! - 1);
      return {};
    });
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() }).workers(4).complete(r.reconcile);
    start(c);
    const releases = h.store(ReleaseResource);
    releases.upsert(release("web"));
    await vi.waitFor(() => expect(r.calls).toHaveLength(1));
    for (let i = 0; i < 5; i++) releases.upsert(release("web"));
    releases.upsert(release("api"));
    await vi.waitFor(() => expect(r.calls).toEqual(["team-a/web", "team-a/api"]));
    release1();
    await vi.waitFor(() => expect(r.calls).toEqual(["team-a/web", "team-a/api", "team-a/web"]));
    await settle();
    expect(r.calls).toHaveLength(3);
    expect(maxPerKey).toBe(1);
  });

  it("logs one line per reconcile with the correlation fields", async () => {
    const h = makeHost();
    const r = recorder();
    const name = uniqueName();
    const c = controllerFor(h.host, ReleaseResource, { name }).complete(r.reconcile);
    start(c);
    h.store(ReleaseResource).upsert(release("web"));
    await vi.waitFor(() => expect(h.lines.filter((l) => l["msg"] === "reconciled")).toHaveLength(1));
    const line = h.lines.find((l) => l["msg"] === "reconciled")!;
    expect(line).toMatchObject({
      controller: name,
      namespace: "team-a",
      name: "web",
      result: "success",
      durationMs: 0,
    });
    expect(line["reconcileId"]).toBe(r.contexts[0]?.reconcileId);
  });
});

describe("stopping", () => {
  it("stops taking work on stop, waits for in-flight reconciles, and passes cancel as ctx.signal", async () => {
    const h = makeHost();
    let finish: () => void = () => {};
    const r = recorder(() => new Promise<ReconcileResult>((resolve) => (finish = () => resolve({}))));
    const c = controllerFor(h.host, ReleaseResource, { name: uniqueName() }).complete(r.reconcile);
    const run = start(c);
    const releases = h.store(ReleaseResource);
    releases.upsert(release("a"));
    await vi.waitFor(() => expect(r.calls).toHaveLength(1));
    releases.upsert(release("b"));
    run.stop.abort();
    let resolved = false;
    void run.done.then(() => (resolved = true));
    await settle();
    expect(resolved).toBe(false);
    expect(r.contexts[0]?.signal.aborted).toBe(false);
    run.cancel.abort();
    expect(r.contexts[0]?.signal.aborted).toBe(true);
    finish();
    await run.done;
    expect(r.calls).toEqual(["team-a/a"]);
  });

  it("refuses invalid worker counts", () => {
    const h = makeHost();
    expect(() => controllerFor(h.host, ReleaseResource).workers(0)).toThrow(/positive integer/);
  });
});
