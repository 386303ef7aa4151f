import { describe, expect, it } from "vitest";
import { releaseStatus, type ReleaseStatus } from "../../api/release.js";
import type { MetricProvider, QueryResult } from "../../analysis/index.js";
import { createLogger } from "../../observability/logger.js";
import { registry } from "../../observability/metrics.js";
import { ApiError, type KubeClient } from "../../runtime/client.js";
import type { EventInput } from "../../runtime/events.js";
import { Store } from "../../runtime/store.js";
import type { KubeObject, Resource } from "../../runtime/types.js";
import { MeasurementRunner } from "./measurements.js";
import { NotificationRunner } from "./notification-runner.js";
import type { AttemptOutcome, RollbackNotification } from "./notify.js";
import { ReleaseReconciler } from "./reconciler.js";
import { ALLOWLIST, ERROR_RATE, R1, R2, spec, V2 } from "./test-fixtures.js";

const logger = createLogger({ level: "silent" });
const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const flush = () => new Promise((r) => setImmediate(r));
const ctx = { reconcileId: "r", signal: new AbortController().signal };

interface Call {
  verb: string;
  kind: string;
  name: string;
  body?: unknown;
}

/** RFC 7386, enough for status patches. */
function merge(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

/**
 * A small cluster: stores the controller reads, a client that writes back into them as the
 * watch would (unless `lagging`), Deployments that become ready when `settle` is called, and a
 * Prometheus whose answers the test gives one by one.
 */
class World {
  now = T0;
  rv = 100;
  lagging = false;
  calls: Call[] = [];
  /** Calls of earlier reconciles. */
  written: Call[] = [];
  events: EventInput[] = [];
  notified: { payload: RollbackNotification; squad?: string }[] = [];
  /** What the webhook answers to each attempt, in turn; delivered when none is left. */
  answers: AttemptOutcome[] = [];
  /** The webhook never answers (until aborted): no attempt settles. */
  webhookHangs = false;
  enqueued: string[] = [];
  queries: { address: string; query: string; answer: (r: QueryResult) => void }[] = [];
  /** Objects the API holds that the cache does not show (a Deployment whose managed-by label was removed). */
  uncached = new Map<string, KubeObject>();
  /** Names read with GET (Releases apart). */
  gets: string[] = [];
  /** Releases read with GET (the apiserver's answer, not the cache). */
  releaseGets = 0;
  /** The next status patches fail with 409, as if someone wrote first. */
  conflicts = 0;
  releases = this.store();
  deployments = this.store();
  /** The Deployment controller's ReplicaSets, as a test places them. */
  replicaSets = this.store();
  revisions = this.store();
  services = this.store();
  namespaces = this.store([
    // As the Squad controller labels it: the squad, and its tribe (declared).
    {
      metadata: {
        name: "shop",
        labels: { "crescendo.dev/squad": "payments", "crescendo.dev/tribe": "money" },
        resourceVersion: "1",
      },
    },
  ]);
  squads = this.store([
    {
      metadata: { name: "payments", uid: "sq", generation: 1, resourceVersion: "1" },
      spec: {
        tribe: "money",
        namespaces: [{ name: "shop" }],
        oncall: { webhookSecretRef: { name: "oncall" }, channel: "#payments" },
      },
    },
  ]);
  /** Toggles: one guarded by the Release "web", one by another Release, one in another namespace. */
  toggles = this.store([
    { metadata: { name: "one-click", namespace: "shop" }, spec: { guard: { release: "web" } } },
    { metadata: { name: "wallet", namespace: "shop" }, spec: { guard: { release: "api" } } },
    { metadata: { name: "one-click", namespace: "other" }, spec: { guard: { release: "web" } } },
  ]);
  clock = { now: () => this.now };
  runner = new MeasurementRunner({
    clock: this.clock,
    logger,
    onSettled: (key) => this.enqueued.push(key),
  });
  notifications = this.newNotificationRunner();
  provider = (address: string): MetricProvider => ({
    query: (query) =>
      new Promise<QueryResult>((resolve) => this.queries.push({ address, query, answer: resolve })),
  });
  client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get" | "list"> = {
    list: async <T extends KubeObject>(
      res: Resource,
      opts: { namespace?: string; labelSelector?: string } = {},
    ) => {
      this.calls.push({ verb: "list", kind: res.kind, name: opts.labelSelector ?? "" });
      const [key, value] = (opts.labelSelector ?? "").split("=");
      const items = this.storeOf(res.kind)
        .list(opts.namespace)
        .filter((o) => key === undefined || o.metadata.labels?.[key] === value);
      return { items: items as T[], metadata: { resourceVersion: String(this.rv) } };
    },
    apply: async <T extends KubeObject>(obj: T, res: Resource) => {
      this.calls.push({ verb: "apply", kind: res.kind, name: obj.metadata.name ?? "", body: obj });
      const store = this.storeOf(res.kind);
      const previous = store.get(`shop/${obj.metadata.name ?? ""}`);
      const generation = (previous?.metadata.generation ?? 0) + 1;
      store.upsert({
        ...previous,
        ...obj,
        metadata: {
          ...obj.metadata,
          uid: previous?.metadata.uid ?? `uid-${obj.metadata.name ?? ""}`,
          generation,
          resourceVersion: String(++this.rv),
        },
        ...(previous?.["status"] ? { status: previous["status"] } : {}),
      });
      return obj;
    },
    delete: async (res: Resource, name: string, namespace?: string) => {
      this.calls.push({ verb: "delete", kind: res.kind, name });
      const store = this.storeOf(res.kind);
      const obj = store.get(`${namespace ?? ""}/${name}`);
      if (obj) store.delete(obj);
      return true;
    },
    get: async <T extends KubeObject>(res: Resource, name: string, namespace?: string) => {
      if (res.kind === "Release") {
        this.releaseGets++;
        const { metadata } = this.latest;
        return (metadata.name === name && metadata.namespace === namespace ? this.latest : undefined) as
          T | undefined;
      }
      this.gets.push(name);
      const obj = this.uncached.get(`${namespace ?? ""}/${name}`);
      return (obj?.kind === res.kind ? obj : undefined) as T | undefined;
    },
    mergePatch: async <T extends KubeObject>(
      res: Resource,
      name: string,
      namespace: string | undefined,
      patch: unknown,
    ) => {
      if (res.kind !== "Release") return this.patchObject(res, name, namespace, patch) as Promise<T>;
      this.calls.push({ verb: "status", kind: res.kind, name, body: patch });
      const current = this.releases.get(`${namespace ?? ""}/${name}`)!;
      const p = patch as { metadata?: { resourceVersion?: string }; status: unknown };
      if (this.conflicts > 0 || p.metadata?.resourceVersion !== this.latest.metadata.resourceVersion) {
        this.conflicts = Math.max(0, this.conflicts - 1);
        throw new ApiError(
          409,
          "Conflict",
          "409: the object has been modified",
          undefined,
          undefined,
          "PATCH",
        );
      }
      const next = {
        ...this.latest,
        status: merge(this.latest["status"], p.status),
        metadata: { ...this.latest.metadata, resourceVersion: String(++this.rv) },
      } as KubeObject;
      this.latest = next;
      if (!this.lagging) this.releases.upsert(next);
      void current;
      return next as T;
    },
  };
  latest: KubeObject = { metadata: {} };
  reconciler = this.newReconciler();

  /** The operator restarted: a new reconciler and runner, no memory of the old process. */
  restart(): void {
    this.runner = new MeasurementRunner({
      clock: this.clock,
      logger,
      onSettled: (key) => this.enqueued.push(key),
    });
    this.notifications.close();
    this.notifications = this.newNotificationRunner();
    this.reconciler = this.newReconciler();
  }

  /** As the controller wires it: a settled attempt is recorded at once, then the Release enqueued. */
  private newNotificationRunner(): NotificationRunner {
    return new NotificationRunner({
      clock: this.clock,
      logger,
      onSettled: (key) => void this.reconciler.recordAttempts(key).finally(() => this.enqueued.push(key)),
    });
  }

  private newReconciler(): ReleaseReconciler {
    return new ReleaseReconciler({
      client: this.client,
      recorder: { record: async (_obj, input) => void this.events.push(input) },
      logger,
      clock: this.clock,
      runner: this.runner,
      providerFor: (address) => this.provider(address),
      allowlist: ALLOWLIST,
      notifications: this.notifications,
      webhook: {
        send: async (squad, payload, signal) => {
          this.notified.push({ payload, ...(squad ? { squad: squad.metadata.name } : {}) });
          if (this.webhookHangs) {
            await new Promise((resolve) => signal.addEventListener("abort", resolve));
          }
          return this.answers.shift() ?? { kind: "delivered" };
        },
      },
      releases: this.releases,
      deployments: this.deployments,
      revisions: this.revisions,
      services: this.services,
      namespaces: this.namespaces,
      squads: this.squads,
      toggles: this.toggles,
    });
  }

  /**
   * A merge patch of a Deployment's or ReplicaSet's metadata, as the apiserver does it: 409 on a
   * stale resourceVersion, and a Deployment being deleted goes once no finalizer is left.
   */
  private async patchObject(res: Resource, name: string, namespace: string | undefined, patch: unknown) {
    this.calls.push({ verb: "patch", kind: res.kind, name, body: patch });
    const store = this.storeOf(res.kind);
    const current = store.get(`${namespace ?? ""}/${name}`);
    if (!current) throw new ApiError(404, "NotFound", "not found", undefined, undefined, "PATCH");
    const p = patch as { metadata?: { resourceVersion?: string } };
    if (p.metadata?.resourceVersion !== current.metadata.resourceVersion)
      throw new ApiError(409, "Conflict", "conflict", undefined, undefined, "PATCH");
    const next = merge(current, patch) as KubeObject;
    next.metadata = { ...next.metadata, resourceVersion: String(++this.rv) };
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) store.delete(next);
    else store.upsert(next);
    return next;
  }

  private storeOf(kind: string): Store<KubeObject> {
    if (kind === "ReplicaSet") return this.replicaSets;
    if (kind === "Deployment") return this.deployments;
    if (kind === "ControllerRevision") return this.revisions;
    return this.services;
  }

  private store(objects: KubeObject[] = []): Store<KubeObject> {
    const s = new Store<KubeObject>();
    s.replace(objects, "1");
    return s;
  }

  /** Creates or updates the Release's spec (a new generation). */
  apply(s: Record<string, unknown>, annotations?: Record<string, string>): void {
    const previous = this.releases.get("shop/web");
    const next: KubeObject = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: {
        name: "web",
        namespace: "shop",
        uid: "rel-uid",
        generation: (previous?.metadata.generation ?? 0) + 1,
        resourceVersion: String(++this.rv),
        ...(annotations ? { annotations } : {}),
      },
      spec: s,
      ...(previous?.["status"] ? { status: previous["status"] } : {}),
    };
    this.latest = next;
    this.releases.upsert(next);
  }

  get status(): ReleaseStatus {
    return (this.latest["status"] ?? {}) as ReleaseStatus;
  }

  /** Every Deployment reports its spec.replicas ready, as the Deployment controller would. */
  settle(): void {
    for (const d of this.deployments.list()) {
      const replicas = (d["spec"] as { replicas: number }).replicas;
      const n = { replicas, readyReplicas: replicas, availableReplicas: replicas, updatedReplicas: replicas };
      this.deployments.upsert({
        ...d,
        metadata: { ...d.metadata, resourceVersion: String(++this.rv) },
        status: { observedGeneration: d.metadata.generation, ...n },
      });
    }
  }

  async reconcile() {
    this.written.push(...this.calls);
    this.calls = [];
    return this.reconciler.reconcile("shop/web", ctx);
  }

  /** Reconciles until nothing changes (deployments settled in between). */
  async converge(max = 10) {
    for (let i = 0; i < max; i++) {
      this.settle();
      await this.reconcile();
      if (this.calls.length === 0) return;
    }
    throw new Error("did not converge");
  }

  imageOf(revision: string): string | undefined {
    const spec = this.deployments.get(`shop/web-${revision}`)?.["spec"] as
      { template: { spec: { containers: { image: string }[] } } } | undefined;
    return spec?.template.spec.containers[0]?.image;
  }

  replicasOf(revision: string): number | undefined {
    return (this.deployments.get(`shop/web-${revision}`)?.["spec"] as { replicas?: number } | undefined)
      ?.replicas;
  }
}

async function metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const match = m?.values.find((v) =>
    Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want),
  );
  return match?.value ?? 0;
}

async function healthyAtV1(): Promise<World> {
  const w = new World();
  w.apply(spec());
  await w.converge();
  expect(w.status.phase).toBe("Healthy");
  return w;
}

/** From Healthy at V1, rolls V2 out to its analysis step, with one query in flight. */
async function atAnalysis(): Promise<World> {
  const w = await healthyAtV1();
  w.apply(spec({ template: V2, version: "2.0.0" }));
  await w.converge();
  expect(w.status).toMatchObject({ phase: "Progressing", currentStepIndex: 1, canaryRevision: R2 });
  expect(w.queries).toHaveLength(1);
  return w;
}

describe("ReleaseReconciler", () => {
  it("deploys the first revision with owned Deployment and Services, then writes nothing more", async () => {
    const w = new World();
    w.apply(spec());
    await w.reconcile();
    expect(w.calls.map((c) => `${c.verb} ${c.kind} ${c.name}`)).toEqual([
      `apply ControllerRevision web-${R1}`,
      "apply Service web",
      "apply Service web-stable",
      "apply Service web-canary",
      `apply Deployment web-${R1}`,
      "status Release web",
    ]);
    const dep = w.deployments.get(`shop/web-${R1}`)!;
    expect(dep.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "Release", name: "web", uid: "rel-uid", controller: true }),
    ]);
    expect(dep.metadata.labels).toMatchObject({
      "crescendo.dev/squad": "payments",
      "crescendo.dev/tribe": "money",
    });
    expect(w.status.phase).toBe("Progressing");
    w.settle();
    await w.reconcile();
    expect(w.status.phase).toBe("Healthy");
    expect(w.events.map((e) => e.reason)).toEqual(["Deploying", "Healthy"]);
    expect(releaseStatus.safeParse(w.status).success).toBe(true);

    await w.reconcile();
    expect(w.calls).toEqual([]);
    expect(await metricValue("crescendo_release_phase", { release: "web", phase: "Healthy" })).toBe(1);
    expect(await metricValue("crescendo_release_phase", { release: "web", phase: "Progressing" })).toBe(0);
  });

  it("labels workloads with the tribe on the namespace, not one the Squad names undeclared", async () => {
    const w = new World();
    // The Squad names tribe "money", but the platform does not declare it: the Squad controller
    // leaves the namespace without a tribe label, and so must the Release's objects.
    w.namespaces.upsert({
      metadata: { name: "shop", labels: { "crescendo.dev/squad": "payments" }, resourceVersion: "2" },
    });
    w.apply(spec());
    await w.reconcile();
    const dep = w.deployments.get(`shop/web-${R1}`)!;
    expect(dep.metadata.labels?.["crescendo.dev/squad"]).toBe("payments");
    expect(dep.metadata.labels).not.toHaveProperty("crescendo.dev/tribe");
  });

  it("measures without waiting, and folds the result in on the reconcile the settlement asks for", async () => {
    const w = await atAnalysis();
    const result = await w.reconcile(); // the query is still unanswered: nothing waits for it
    expect(w.calls).toEqual([]);
    // Only the analysis deadline is timed (2 × 5 measurements × 10 s): the answer, not a timer, brings the next reconcile.
    expect(result.requeueAfterMs).toBe(100_000);
    expect(w.queries[0]).toMatchObject({ query: `errors{revision="${R2}"}` });
    expect(w.runner.isRunning("shop/web", "step", "error-rate")).toBe(true);

    w.now += 500;
    w.queries[0]?.answer({ kind: "value", value: 0.01 });
    await flush();
    expect(w.enqueued).toEqual(["shop/web"]);
    const after = await w.reconcile();
    expect(w.status.analysis?.metrics[0]).toMatchObject({ name: "error-rate", successful: 1 });
    // Judged in the same reconcile (minSamples 1): on to setWeight 50, bounded by the progress deadline.
    expect(w.status).toMatchObject({ phase: "Progressing", currentStepIndex: 2 });
    expect(after.requeueAfterMs).toBe(600_000);
    expect(w.runner.pending("shop/web")).toEqual([]);
    await w.converge();
    expect(w.status).toMatchObject({ phase: "Healthy", stableRevision: R2 });
    expect(w.events.map((e) => e.reason)).toContain("Promoted");
  });

  it("requeues for the next due measurement", async () => {
    const w = new World();
    w.apply(spec({ analysis: { interval: "10s", metrics: [{ ...ERROR_RATE, minSamples: 3 }] } }));
    await w.converge();
    w.apply(
      spec({ template: V2, analysis: { interval: "10s", metrics: [{ ...ERROR_RATE, minSamples: 3 }] } }),
    );
    await w.converge();
    w.queries[0]?.answer({ kind: "value", value: 0.01 });
    await flush();
    const result = await w.reconcile();
    expect(result.requeueAfterMs).toBe(10_000);
    w.now += 10_000;
    await w.reconcile();
    expect(w.queries).toHaveLength(2);
  });

  it("measures at the squad's analysisInterval when the Release's analysis sets none", async () => {
    const w = new World();
    w.squads.upsert({
      metadata: { name: "payments", uid: "sq", generation: 2, resourceVersion: "2" },
      spec: { namespaces: [{ name: "shop" }], delivery: { analysisInterval: "20s" } },
    });
    // As the apiserver stores it: an analysis block without interval (the CRD defaults none).
    const analysis = { metrics: [{ ...ERROR_RATE, minSamples: 3 }] };
    w.apply(spec({ analysis }));
    await w.converge();
    w.apply(spec({ template: V2, analysis }));
    await w.converge();
    w.queries[0]?.answer({ kind: "value", value: 0.01 });
    await flush();
    const result = await w.reconcile();
    expect(result.requeueAfterMs).toBe(20_000);
  });

  it("rolls back on a failed measurement: traffic and canary first, then status, Event, metrics, on-call", async () => {
    const w = await atAnalysis();
    const before = await metricValue("crescendo_release_rollbacks_total", { reason: "AnalysisFailed" });
    w.now += 2_000;
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    w.now += 300;
    await w.reconcile();

    const order = w.calls.map((c) => `${c.verb} ${c.kind} ${c.name}`);
    expect(order.at(-1)).toBe("status Release web");
    expect(order).toContain(`apply Deployment web-${R2}`);
    expect(w.replicasOf(R2)).toBe(0);
    expect(w.replicasOf(R1)).toBe(3);
    expect(w.imageOf(R1)).toBe("web:1"); // the stable pods were never touched
    expect(w.status.phase).toBe("RolledBack");
    expect(w.status.message).toContain("error-rate");
    expect(w.status.message).toContain("0.05");
    const warning = w.events.find((e) => e.reason === "RolledBack");
    expect(warning).toMatchObject({ type: "Warning", action: "Rollback" });
    expect(warning?.note).toContain("error-rate");

    expect(await metricValue("crescendo_release_rollbacks_total", { reason: "AnalysisFailed" })).toBe(
      before + 1,
    );
    const ttr = await registry.getSingleMetric("crescendo_time_to_rollback_seconds")?.get();
    const sum = ttr?.values.find(
      (v) => (v as { metricName?: string }).metricName === "crescendo_time_to_rollback_seconds_sum",
    )?.value;
    expect(sum).toBeGreaterThan(0);

    expect(w.notified).toEqual([
      {
        squad: "payments",
        payload: expect.objectContaining({
          release: "web",
          namespace: "shop",
          squad: "payments",
          tribe: "money",
          revision: R2,
          version: "2.0.0",
          reason: "AnalysisFailed",
          metric: "error-rate",
          channel: "#payments",
        }),
      },
    ]);
    expect(w.notified[0]?.payload.message).toContain("error-rate");

    // Nothing is measured any more, and once settled a reconcile changes nothing.
    await w.converge();
    await w.reconcile();
    expect(w.calls).toEqual([]);
    expect(w.runner.inFlight()).toBe(0);
  });

  it("notifies on-call once per rollback, never again for a RolledBack Release reconciled later", async () => {
    const w = await atAnalysis();
    const rollbacks = () => metricValue("crescendo_release_rollbacks_total", { reason: "AnalysisFailed" });
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    expect(w.status.phase).toBe("RolledBack");
    expect(w.notified).toHaveLength(1);
    expect(w.notified[0]?.payload.at).toBe(w.status.abortedAt);
    const counted = await rollbacks();

    // Periodic requeues and resyncs.
    for (let i = 0; i < 3; i++) {
      w.now += 60_000;
      await w.reconcile();
    }
    // A spec edit that is no template change: status is written again (a new observedGeneration).
    w.apply(spec({ template: V2, version: "2.0.0", replicas: 4 }));
    await w.reconcile();
    expect(w.calls.some((c) => c.verb === "status")).toBe(true);
    expect(w.status.phase).toBe("RolledBack");
    // An operator restart: no memory of having notified, only the status.
    w.restart();
    await w.reconcile();
    w.settle();
    await w.reconcile();
    expect(w.notified).toHaveLength(1);
    expect(await rollbacks()).toBe(counted);
    expect(w.events.filter((e) => e.reason === "RolledBack")).toHaveLength(1);

    // A retry rolled back again is a new rollback: notified.
    w.now += 60_000;
    w.apply(spec({ template: V2, version: "2.0.0", replicas: 4 }), {
      "crescendo.dev/action": "retry",
      "crescendo.dev/action-id": "r1",
    });
    await w.converge();
    expect(w.status).toMatchObject({ phase: "Progressing", currentStepIndex: 1 });
    w.queries.at(-1)?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    expect(w.status.phase).toBe("RolledBack");
    expect(w.notified).toHaveLength(2);
    expect(w.notified[1]?.payload.at).toBe(w.status.abortedAt);
    expect(w.notified[1]?.payload.at).not.toBe(w.notified[0]?.payload.at);
  });

  it("records each delivery attempt in status, retries after the backoff, and ends at the webhook's 2xx", async () => {
    const w = await atAnalysis();
    const delivered = () => metricValue("crescendo_notifications_delivered_total");
    const before = await delivered();
    w.answers = [{ kind: "retryable", error: "POST http://hooks.example.com: HTTP 503" }];
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    expect(w.status.phase).toBe("RolledBack");
    // Recorded pending in the rollback's own write, and attempted once it was written.
    const id = `rel-uid/${R2}/${Date.parse(w.status.abortedAt!)}`;
    expect(w.notified.map((n) => n.payload.rollbackId)).toEqual([id]);
    // The message names the toggles the rollback kills: they get none of their own.
    expect(w.notified[0]?.payload.killedToggles).toEqual(["one-click"]);
    expect(w.status.notifications).toEqual([expect.objectContaining({ id, attempts: 0 })]);
    await flush();
    expect(w.enqueued).toContain("shop/web");
    const after503 = await w.reconcile();
    expect(w.status.notifications?.[0]).toMatchObject({
      attempts: 1,
      nextAttemptAt: new Date(w.now + 5_000).toISOString(),
      lastError: "POST http://hooks.example.com: HTTP 503",
    });
    expect(after503.requeueAfterMs).toBe(5_000);
    // Not due yet: no attempt.
    await w.reconcile();
    expect(w.notified).toHaveLength(1);
    w.now += 5_000;
    await w.reconcile();
    expect(w.notified).toHaveLength(2);
    expect(w.notified[1]?.payload).toEqual(w.notified[0]?.payload);
    await flush();
    const done = await w.reconcile();
    expect(w.status.notifications?.[0]).toMatchObject({
      attempts: 2,
      deliveredAt: new Date(w.now).toISOString(),
    });
    expect(w.status.notifications?.[0]?.nextAttemptAt).toBeUndefined();
    expect(done.requeueAfterMs).toBeUndefined();
    expect(await delivered()).toBe(before + 1);
    expect(releaseStatus.safeParse(w.status).success).toBe(true);
    await w.reconcile();
    expect(w.calls).toEqual([]);
    expect(w.notified).toHaveLength(2);
  });

  it("leaves an attempt in flight at shutdown to the next process, which delivers it once", async () => {
    const w = await atAnalysis();
    w.webhookHangs = true;
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    expect(w.notified).toHaveLength(1);
    // Reconciled again while the POST hangs: no second attempt, and no busy requeue loop.
    const waiting = await w.reconcile();
    expect(w.notified).toHaveLength(1);
    expect(waiting.requeueAfterMs).toBeUndefined();
    // SIGTERM: the runner is closed and the attempt aborted; its outcome is recorded nowhere.
    w.webhookHangs = false;
    w.restart();
    await flush();
    expect(w.status.notifications?.[0]).toMatchObject({ attempts: 0 });
    await w.reconcile();
    expect(w.notified).toHaveLength(2);
    expect(w.notified[1]?.payload.rollbackId).toBe(w.notified[0]?.payload.rollbackId);
    await flush();
    await w.reconcile();
    expect(w.status.notifications?.[0]).toMatchObject({ attempts: 1, deliveredAt: expect.any(String) });
    w.restart();
    await w.reconcile();
    expect(w.notified).toHaveLength(2);
  });

  it("records a delivery as soon as the webhook answers, so a process killed before its next reconcile sends nothing again", async () => {
    const w = await atAnalysis();
    const delivered = () => metricValue("crescendo_notifications_delivered_total");
    const before = await delivered();
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    expect(w.notified).toHaveLength(1);
    await flush();
    // No reconcile ran (the queue is busy with every other Release after a start): recorded anyway.
    expect(w.status.notifications?.[0]).toMatchObject({ attempts: 1, deliveredAt: expect.any(String) });
    expect(await delivered()).toBe(before + 1);
    expect(w.enqueued).toContain("shop/web");
    // SIGKILL, then the next leader: nothing more is sent, nothing counted twice.
    w.restart();
    await w.reconcile();
    await flush();
    await w.reconcile();
    expect(w.notified).toHaveLength(1);
    expect(await delivered()).toBe(before + 1);
  });

  it("records a delivery against a fresh read when its write conflicts, and reports it once", async () => {
    const w = await atAnalysis();
    const delivered = () => metricValue("crescendo_notifications_delivered_total");
    const before = await delivered();
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    // Someone wrote the Release between the cache and our write (an annotation, another reconcile).
    w.conflicts = 1;
    const gets = w.releaseGets;
    await flush();
    expect(w.releaseGets).toBeGreaterThan(gets);
    expect(w.status.notifications?.[0]).toMatchObject({ attempts: 1, deliveredAt: expect.any(String) });
    await w.reconcile();
    await w.reconcile();
    expect(await delivered()).toBe(before + 1);
    expect(w.notified).toHaveLength(1);
  });

  it("leaves a delivery it could not record to the next reconcile, which records it without sending again", async () => {
    const w = await atAnalysis();
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    w.conflicts = 3; // every try of the immediate record fails
    await flush();
    expect(w.status.notifications?.[0]).toMatchObject({ attempts: 0 });
    expect(w.notifications.busy("shop/web", w.status.notifications![0]!.id)).toBe(true);
    await w.reconcile();
    expect(w.status.notifications?.[0]).toMatchObject({ attempts: 1, deliveredAt: expect.any(String) });
    expect(w.notified).toHaveLength(1);
  });

  it("never sends again from a stale cache: each attempt reads the Release from the API first", async () => {
    const w = await atAnalysis();
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    // The delivery is recorded, but the cache (a watch reconnecting, a standby's) never shows it.
    w.lagging = true;
    await flush();
    expect(w.status.notifications?.[0]).toMatchObject({ deliveredAt: expect.any(String) });
    const cached = w.releases.get("shop/web")?.["status"] as ReleaseStatus;
    expect(cached.notifications?.[0]?.deliveredAt).toBeUndefined();
    // A new leader whose cache is that stale: it starts an attempt, finds it delivered, sends nothing.
    w.restart();
    await w.reconcile();
    await flush();
    expect(w.notified).toHaveLength(1);
    expect(w.notifications.inFlight()).toBe(0);
    // Nor when the cache says attempted once and due again while another process delivered it.
    await w.reconcile();
    await flush();
    expect(w.notified).toHaveLength(1);
  });

  it("gives up on what cannot succeed with a NotificationFailed Warning and the abandoned counter", async () => {
    const w = await atAnalysis();
    const abandoned = () => metricValue("crescendo_notifications_abandoned_total");
    const before = await abandoned();
    w.answers = [{ kind: "permanent", error: "POST http://hooks.example.com: HTTP 404" }];
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    await flush();
    await w.reconcile();
    expect(w.status.notifications?.[0]).toMatchObject({ attempts: 1, failedAt: expect.any(String) });
    expect(w.events.filter((e) => e.reason === "NotificationFailed")).toEqual([
      expect.objectContaining({ type: "Warning", note: expect.stringContaining("HTTP 404") }),
    ]);
    expect(await abandoned()).toBe(before + 1);
    w.now += 3_600_000;
    await w.reconcile();
    expect(w.notified).toHaveLength(1);
    expect(w.events.filter((e) => e.reason === "NotificationFailed")).toHaveLength(1);
  });

  it("never renders the stable revision from the canary's template", async () => {
    const w = await healthyAtV1();
    const stableTemplate = w.deployments.get(`shop/web-${R1}`)?.["spec"];
    w.written = [];
    w.apply(spec({ template: V2, version: "2.0.0" }));
    await w.converge();
    expect(w.written.some((c) => c.name === `web-${R2}`)).toBe(true);
    expect(w.written.filter((c) => c.name === `web-${R1}`)).toEqual([]);
    expect(w.imageOf(R1)).toBe("web:1");
    expect(w.imageOf(R2)).toBe("web:2");
    expect(w.deployments.get(`shop/web-${R1}`)?.["spec"]).toEqual(stableTemplate);

    // A stable revision whose Deployment is gone is recreated from its ControllerRevision, with
    // the template it ran (never the canary's), and the ControllerRevision is not rewritten.
    w.deployments.delete(w.deployments.get(`shop/web-${R1}`)!);
    await w.reconcile();
    expect(w.calls.filter((c) => c.name === `web-${R1}`).map((c) => `${c.verb} ${c.kind}`)).toEqual([
      "apply Deployment",
    ]);
    expect(w.deployments.get(`shop/web-${R1}`)?.["spec"]).toEqual(stableTemplate);
    w.written = [];
    w.calls = [];

    // Through promotion: the replaced revision is relabelled off its track, with its own
    // template, and the promoted one keeps the template it was created with.
    w.queries[0]?.answer({ kind: "value", value: 0.01 });
    await flush();
    await w.converge();
    expect(w.status).toMatchObject({ phase: "Healthy", stableRevision: R2 });
    const applied = [...w.written, ...w.calls].filter((c) => c.verb === "apply" && c.name === `web-${R1}`);
    expect(applied).toHaveLength(1);
    expect(w.imageOf(R1)).toBe("web:1");
    expect(w.deployments.get(`shop/web-${R1}`)?.metadata.labels?.["crescendo.dev/track"]).toBeUndefined();
    expect(w.imageOf(R2)).toBe("web:2");
  });

  it("reads a live revision's Deployment the cache lost (its label removed) from the API, and relabels it", async () => {
    const w = await atAnalysis();
    const before = w.status;
    expect(w.gets).toEqual([]);
    // The label is removed: the informer, which selects on it, reports the Deployment deleted.
    const stable = w.deployments.get(`shop/web-${R1}`)!;
    const { "app.kubernetes.io/managed-by": _removed, ...labels } = stable.metadata.labels ?? {};
    w.deployments.delete(stable);
    w.uncached.set(`shop/web-${R1}`, { ...stable, metadata: { ...stable.metadata, labels } });
    await w.reconcile();
    expect(w.gets).toEqual([`web-${R1}`]);
    // Not taken for gone: relabelled with the template it runs, and its replicas still counted.
    const applied = w.calls.filter((c) => c.verb === "apply" && c.name === `web-${R1}`);
    expect(applied).toHaveLength(1);
    expect((applied[0]?.body as KubeObject).metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "crescendo",
      "crescendo.dev/track": "stable",
    });
    expect(w.imageOf(R1)).toBe("web:1");
    expect(w.status).toMatchObject({
      phase: "Progressing",
      stableRevision: R1,
      canaryRevision: R2,
      readyReplicas: before.readyReplicas,
    });
    // Back in the cache: nothing more is read from the API.
    w.uncached.clear();
    w.gets = [];
    await w.reconcile();
    expect(w.gets).toEqual([]);
  });

  it("reads a live revision's ControllerRevision the cache lost from the API, and relabels it unchanged", async () => {
    const w = await atAnalysis();
    const name = `web-${R1}`;
    const kept = w.revisions.get(`shop/${name}`)!;
    const { "app.kubernetes.io/managed-by": _removed, ...labels } = kept.metadata.labels ?? {};
    w.revisions.delete(kept);
    w.uncached.set(`shop/${name}`, { ...kept, metadata: { ...kept.metadata, labels } });
    await w.reconcile();
    expect(w.gets).toEqual([name]);
    // Not created anew (its data is immutable): applied with its own data and number, relabelled.
    const applied = w.calls.filter((c) => c.verb === "apply" && c.kind === "ControllerRevision");
    expect(applied.map((c) => c.name)).toEqual([name]);
    const body = applied[0]?.body as KubeObject;
    expect(body["data"]).toEqual(kept["data"]);
    expect(body["revision"]).toEqual(kept["revision"]);
    expect(body.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "crescendo" });
    // Back in the cache: nothing more is read or written.
    w.uncached.clear();
    w.gets = [];
    await w.reconcile();
    expect(w.gets).toEqual([]);
    expect(w.calls.filter((c) => c.kind === "ControllerRevision")).toEqual([]);
  });

  it("reads its own status write while the informer lags, so a rollback is never undone", async () => {
    const w = await atAnalysis();
    w.lagging = true;
    w.webhookHangs = true; // its outcome would be a status write of its own
    w.queries[0]?.answer({ kind: "value", value: 0.5 });
    await flush();
    await w.reconcile();
    expect(w.status.phase).toBe("RolledBack");
    // The store still shows the Release at its analysis step; the controller must not act on it.
    expect((w.releases.get("shop/web")?.["status"] as ReleaseStatus).phase).toBe("Progressing");
    await w.reconcile();
    expect(w.calls).toEqual([]);
    expect(w.replicasOf(R2)).toBe(0);
  });

  it("writes on top of its own earlier writes while the informer lags by several", async () => {
    const w = await atAnalysis();
    w.lagging = true;
    for (let i = 0; i < 3; i++) {
      w.queries[i]?.answer({ kind: "error", reason: "connection refused" });
      await flush();
      // Each records a measurement: a status patch based on the previous one, never a 409.
      await w.reconcile();
      expect(w.calls.filter((c) => c.verb === "status")).toHaveLength(1);
      w.now += 10_000;
      await w.reconcile(); // starts the next measurement, writes nothing
      expect(w.calls).toEqual([]);
    }
    expect(w.status.analysis?.metrics[0]).toMatchObject({ inconclusive: 3, consecutiveInconclusive: 3 });
    const cached = w.releases.get("shop/web")?.["status"] as ReleaseStatus;
    expect(cached.analysis?.metrics[0]).toBeUndefined();
  });

  it("keeps a settled result when the status write fails, and records it on the next reconcile", async () => {
    const w = await atAnalysis();
    w.queries[0]?.answer({ kind: "value", value: 0.01 });
    await flush();
    const realLatest = w.latest;
    // Someone else wrote meanwhile: our write carries a stale resourceVersion.
    w.latest = { ...realLatest, metadata: { ...realLatest.metadata, resourceVersion: "stale" } };
    await expect(w.reconcile()).rejects.toThrow("409");
    expect(w.runner.pending("shop/web")).toHaveLength(1);
    w.latest = realLatest;
    await w.reconcile();
    expect(w.status.analysis?.metrics[0]?.successful).toBe(1);
    expect(w.runner.pending("shop/web")).toEqual([]);
  });

  it("pauses on inconclusive measurements, never rolling back or promoting", async () => {
    const w = await atAnalysis();
    for (let i = 0; i < 4; i++) {
      w.queries[i]?.answer({ kind: "error", reason: "connection refused" });
      await flush();
      await w.reconcile();
      w.now += 10_000;
      await w.reconcile();
    }
    expect(w.status).toMatchObject({
      phase: "Paused",
      pauseReason: "InconclusiveAnalysis",
      stableRevision: R1,
    });
    expect(w.status.conditions?.find((c) => c.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "InconclusiveAnalysis",
    });
    expect(w.runner.inFlight()).toBe(0);
    expect(w.notified).toEqual([]);
  });

  it("does not count time no operator ran toward the analysis deadline, and records it in status", async () => {
    const w = new World();
    // 2 × 10 s × (3 + 0 + 3 + 1): a 140 s deadline.
    const analysis = { interval: "10s", metrics: [{ ...ERROR_RATE, minSamples: 3 }] };
    w.apply(spec({ analysis }));
    await w.converge();
    w.apply(spec({ template: V2, version: "2.0.0", analysis }));
    await w.converge();
    const started = Date.parse(w.status.analysis?.startedAt ?? "");
    w.queries[0]?.answer({ kind: "value", value: 0.01 });
    await flush();
    await w.reconcile();
    // The operator is gone for 200 s (killed; the Lease had to expire), then a new one starts.
    w.now += 200_000;
    w.restart();
    await w.reconcile();
    expect(w.status).toMatchObject({ phase: "Progressing", currentStepIndex: 1 });
    expect(w.queries).toHaveLength(2);
    w.queries[1]?.answer({ kind: "value", value: 0.01 });
    await flush();
    await w.reconcile();
    // 200 s since the last measurement, less one interval and the slack.
    expect(w.status.analysis).toMatchObject({ unattendedSeconds: 175 });
    expect(w.status.analysis?.metrics[0]).toMatchObject({ successful: 2 });
    // Its deadline is 175 s later: the third sample, 10 s on, promotes.
    w.now += 10_000;
    await w.reconcile();
    w.queries[2]?.answer({ kind: "value", value: 0.01 });
    await flush();
    await w.reconcile();
    expect(w.status).toMatchObject({ phase: "Progressing", currentStepIndex: 2 });
    expect(w.now).toBeGreaterThan(started + 140_000);
  });

  it("counts no unattended time for a Prometheus that answers each query only at the client's timeout", async () => {
    const w = new World();
    const analysis = { interval: "10s", metrics: [{ ...ERROR_RATE, minSamples: 3, inconclusiveLimit: 20 }] };
    w.apply(spec({ analysis }));
    await w.converge();
    w.apply(spec({ template: V2, version: "2.0.0", analysis }));
    await w.converge();
    // Each query fails after 5 s; the next is due 10 s after it began.
    for (let i = 0; w.status.phase === "Progressing" && i < 100; i++) {
      w.now += 5_000;
      w.queries[i]?.answer({ kind: "error", reason: "query timed out after 5000 ms" });
      await flush();
      await w.reconcile();
      expect(w.status.analysis?.unattendedSeconds).toBeUndefined();
      w.now += 5_000;
      await w.reconcile();
    }
    expect(w.status).toMatchObject({ phase: "Paused", pauseReason: "InconclusiveAnalysis" });
  });

  it("holds at the deadline an analysis whose query never answers while the operator runs", async () => {
    const w = new World();
    const analysis = { interval: "10s", metrics: [{ ...ERROR_RATE, minSamples: 3 }] };
    w.apply(spec({ analysis }));
    await w.converge();
    w.apply(spec({ template: V2, version: "2.0.0", analysis }));
    await w.converge();
    const started = Date.parse(w.status.analysis?.startedAt ?? "");
    w.now = started + 139_999;
    await w.reconcile();
    expect(w.status.phase).toBe("Progressing");
    w.now = started + 140_000;
    await w.reconcile();
    expect(w.status).toMatchObject({ phase: "Paused", pauseReason: "AnalysisDeadlineExceeded" });
  });

  it("hands a deleted stable Deployment over: ReplicaSet orphaned, finalizer removed, recreated alike", async () => {
    const w = await atAnalysis();
    const name = `web-${R1}`;
    const stable = w.deployments.get(`shop/${name}`)!;
    expect(stable.metadata.finalizers).toEqual(["crescendo.dev/serving"]);
    const template = (stable["spec"] as { template: unknown }).template;
    // The Deployment controller's ReplicaSet, and a delete that the finalizer holds.
    const owner = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      name,
      uid: stable.metadata.uid ?? "",
      controller: true,
    };
    w.replicaSets.upsert({
      metadata: {
        name: `${name}-5d4f`,
        namespace: "shop",
        uid: "rs-uid",
        resourceVersion: "7",
        labels: { "crescendo.dev/revision": R1 },
        ownerReferences: [owner],
      },
    });
    w.deployments.upsert({
      ...stable,
      metadata: {
        ...stable.metadata,
        deletionTimestamp: "2030-01-01T00:00:00Z",
        resourceVersion: String(++w.rv),
      },
    });
    await w.reconcile();
    expect(w.calls.filter((c) => c.verb === "patch").map((c) => [c.kind, c.name, c.body])).toEqual([
      ["ReplicaSet", `${name}-5d4f`, { metadata: { ownerReferences: null, resourceVersion: "7" } }],
      ["Deployment", name, { metadata: { finalizers: [], resourceVersion: expect.any(String) } }],
    ]);
    // Orphaned before the finalizer went, so the garbage collector leaves it; the Deployment is gone.
    expect(w.replicaSets.get(`shop/${name}-5d4f`)?.metadata.ownerReferences).toBeUndefined();
    expect(w.deployments.get(`shop/${name}`)).toBeUndefined();
    await w.reconcile();
    const recreated = w.deployments.get(`shop/${name}`);
    expect((recreated?.["spec"] as { template: unknown }).template).toEqual(template);
    expect(recreated?.metadata.finalizers).toEqual(["crescendo.dev/serving"]);
    expect(w.status).toMatchObject({ phase: "Progressing", stableRevision: R1 });
  });

  it("lets a deleted Release's Deployments go, and removes the finalizer before deleting a stale one", async () => {
    const w = await healthyAtV1();
    const owner = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      name: "web",
      uid: "rel-uid",
      controller: true,
    };
    w.deployments.upsert({
      metadata: {
        name: "web-old",
        namespace: "shop",
        uid: "old-uid",
        resourceVersion: "3",
        labels: { "app.kubernetes.io/managed-by": "crescendo", "crescendo.dev/revision": "old" },
        finalizers: ["crescendo.dev/serving"],
        ownerReferences: [owner],
      },
      spec: { replicas: 1 },
    });
    await w.reconcile();
    expect(w.calls.filter((c) => c.name === "web-old").map((c) => [c.verb, c.body])).toEqual([
      ["patch", { metadata: { finalizers: [], resourceVersion: "3" } }],
      ["delete", undefined],
    ]);

    // The Release is deleted; the garbage collector deletes its Deployment, which the finalizer holds.
    w.apply(spec({ template: V2, version: "2.0.0" }));
    await w.converge();
    const name = `web-${R2}`;
    const dep = w.deployments.get(`shop/${name}`)!;
    w.releases.delete(w.releases.get("shop/web")!);
    w.deployments.upsert({
      ...dep,
      metadata: {
        ...dep.metadata,
        deletionTimestamp: "2030-01-01T00:00:00Z",
        resourceVersion: String(++w.rv),
      },
    });
    await w.reconcile();
    expect(w.calls.map((c) => [c.verb, c.kind, c.name])).toEqual([["patch", "Deployment", name]]);
    expect(w.deployments.get(`shop/${name}`)).toBeUndefined();
  });

  it("cancels in-flight measurements when the rollout ends or the Release is deleted", async () => {
    const w = await atAnalysis();
    w.apply(spec({ template: V2, version: "2.0.0" }), {
      "crescendo.dev/action": "abort",
      "crescendo.dev/action-id": "a1",
    });
    await w.reconcile();
    expect(w.status.phase).toBe("RolledBack");
    expect(w.runner.inFlight()).toBe(0);
    expect(w.notified[0]?.payload).toMatchObject({ reason: "Aborted", metric: null });

    const v = await atAnalysis();
    v.releases.delete(v.releases.get("shop/web")!);
    await v.reconciler.reconcile("shop/web", ctx);
    expect(v.runner.inFlight()).toBe(0);
    expect(await registry.getSingleMetric("crescendo_release_phase")?.get()).toSatisfy(
      (m: { values: { labels: Record<string, unknown> }[] }) =>
        m.values.every((x) => x.labels["release"] !== "web"),
    );
  });

  it("deletes only what the Release controls", async () => {
    const w = await healthyAtV1();
    w.services.upsert({
      metadata: { name: "web-preview", namespace: "shop", resourceVersion: "1" },
    });
    // Switching to blue-green: web-canary is no longer planned and goes; web-preview is not ours.
    w.apply(spec({ strategy: { blueGreen: {} }, analysis: undefined }));
    await w.reconcile();
    const deleted = w.calls.filter((c) => c.verb === "delete").map((c) => c.name);
    expect(deleted).toEqual(["web-canary"]);
    expect(w.calls.some((c) => c.verb === "apply" && c.name === "web-preview")).toBe(true);
  });

  it("prunes its ControllerRevisions of revisions neither live nor in history, and no one else's", async () => {
    const w = await healthyAtV1();
    const kept = (
      name: string,
      revision: string,
      owner: { uid: string; controller: boolean },
    ): KubeObject => ({
      apiVersion: "apps/v1",
      kind: "ControllerRevision",
      metadata: {
        name,
        namespace: "shop",
        resourceVersion: "1",
        labels: { "crescendo.dev/release": "web", "crescendo.dev/revision": revision },
        ownerReferences: [{ apiVersion: "crescendo.dev/v1alpha1", kind: "Release", name: "web", ...owner }],
      },
      data: { spec: { template: V2 } },
      revision: 1,
    });
    w.revisions.upsert(kept("web-gone", "gone", { uid: "rel-uid", controller: true }));
    w.revisions.upsert(kept("web-shared", "shared", { uid: "rel-uid", controller: false }));
    w.revisions.upsert(kept("web-other", "other", { uid: "another-release", controller: true }));
    await w.reconcile();
    expect(w.calls.map((c) => `${c.verb} ${c.kind} ${c.name}`)).toEqual([
      "delete ControllerRevision web-gone",
    ]);
    expect(w.revisions.get(`shop/web-${R1}`)).toBeDefined();
  });

  it("reports an invalid spec as Stalled InvalidSpec once, applying and measuring nothing", async () => {
    const w = new World();
    w.apply({ ...spec(), version: undefined });
    await w.reconcile();
    expect(w.calls.map((c) => c.verb)).toEqual(["status"]);
    expect(w.status.conditions?.find((c) => c.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "InvalidSpec",
      message: expect.stringContaining("spec.version"),
    });
    expect(w.events).toEqual([expect.objectContaining({ type: "Warning", reason: "InvalidSpec" })]);
    const result = await w.reconcile();
    expect(result).toEqual({});
    expect(w.calls).toEqual([]);

    // Fixed: the next generation reconciles as usual and the condition clears.
    w.apply(spec());
    await w.converge();
    expect(w.status.phase).toBe("Healthy");
    expect(w.status.conditions?.find((c) => c.type === "Stalled")?.status).toBe("False");
  });

  it("refuses analysis that names an unknown metric or a query that does not render", async () => {
    const w = new World();
    w.apply(spec({ strategy: { canary: { steps: [{ analysis: { metrics: ["latency"] } }] } } }));
    await w.reconcile();
    expect(w.status.conditions?.find((c) => c.type === "Stalled")?.message).toBe(
      "spec.strategy.canary.steps[0].analysis.metrics: latency is not defined in spec.analysis.metrics or the squad's delivery.metrics",
    );
    w.apply(
      spec({
        analysis: {
          metrics: [{ ...ERROR_RATE, prometheus: { address: "http://p:9090", query: "x{a={{nope}}}" } }],
        },
      }),
    );
    await w.reconcile();
    expect(w.status.conditions?.find((c) => c.type === "Stalled")?.message).toContain("nope");
  });

  it("takes the squad's delivery defaults: metrics, interval and Prometheus address", async () => {
    const w = new World();
    w.squads.upsert({
      metadata: { name: "payments", uid: "sq", generation: 2, resourceVersion: "2" },
      spec: {
        namespaces: [{ name: "shop" }],
        delivery: {
          prometheus: { address: "http://prom.monitoring:9090" },
          analysisInterval: "20s",
          metrics: [
            { ...ERROR_RATE, name: "squad-errors", prometheus: { query: ERROR_RATE.prometheus.query } },
          ],
        },
      },
    });
    const own = spec({ analysis: undefined });
    w.apply(own);
    await w.converge();
    w.apply({ ...own, template: V2 });
    await w.converge();
    expect(w.queries).toEqual([
      expect.objectContaining({ address: "http://prom.monitoring:9090", query: `errors{revision="${R2}"}` }),
    ]);
    w.queries[0]?.answer({ kind: "value", value: 0 });
    await flush();
    await w.converge();
    expect(w.status.phase).toBe("Healthy");
  });
});
