import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../observability/logger.js";
import { registry } from "../observability/metrics.js";
import { ApiError, type KubeClient, type ListOptions, type WatchOptions } from "./client.js";
import type { Controller, RunOptions } from "./controller.js";
import { createManager, LeaderElector, LeadershipLostError, type ManagerOptions } from "./manager.js";
import { ConfigMapResource, CustomResourceDefinitionResource, DeploymentResource } from "./resources.js";
import type { Store } from "./store.js";
import { systemClock, type KubeObject, type Resource } from "./types.js";

const logger = createLogger({ level: "silent" });
const timings = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 50 };

/** An in-memory Lease endpoint with the apiserver's optimistic concurrency. */
class FakeLeases {
  lease: KubeObject | undefined;
  failWrites = false;
  private rv = 0;
  readonly client = {
    get: async <T extends KubeObject>(_res: Resource, name: string): Promise<T | undefined> =>
      this.lease?.metadata.name === name ? (structuredClone(this.lease) as T) : undefined,
    create: async <T extends KubeObject>(obj: KubeObject): Promise<T> => {
      if (this.failWrites) throw new ApiError(500, "InternalError", "down", undefined, undefined, "POST");
      if (this.lease) throw new ApiError(409, "AlreadyExists", "exists", undefined, undefined, "POST");
      this.lease = {
        ...structuredClone(obj),
        metadata: { ...obj.metadata, resourceVersion: String(++this.rv) },
      };
      return structuredClone(this.lease) as T;
    },
    replace: async <T extends KubeObject>(obj: KubeObject): Promise<T> => {
      if (this.failWrites) throw new ApiError(500, "InternalError", "down", undefined, undefined, "PUT");
      if (obj.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) {
        throw new ApiError(409, "Conflict", "modified", undefined, undefined, "PUT");
      }
      this.lease = {
        ...structuredClone(obj),
        metadata: { ...obj.metadata, resourceVersion: String(++this.rv) },
      };
      return structuredClone(this.lease) as T;
    },
  };
  holder(): unknown {
    return (this.lease?.["spec"] as { holderIdentity?: string } | undefined)?.holderIdentity;
  }
}

/** A controller that records what the manager asks of it. */
class FakeController implements Controller {
  runs: RunOptions[] = [];
  finished = false;
  resyncs = 0;
  resync = (): number => ++this.resyncs;
  constructor(
    readonly name: string,
    private readonly untilCancel = false,
  ) {}
  hasSynced = () => true;
  async run(options: RunOptions): Promise<void> {
    this.runs.push(options);
    const signal = this.untilCancel ? options.cancel : options.stop;
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    this.finished = true;
  }
}

let leaseCounter = 0;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(overrides: Partial<ManagerOptions> = {}, leases = new FakeLeases()) {
  const informerRuns: Resource[] = [];
  const stores: Store<KubeObject>[] = [];
  const manager = createManager({
    client: leases.client as unknown as KubeClient,
    logger,
    leaderElection: true,
    leaseNamespace: "crescendo-system",
    leaseName: `lease-${++leaseCounter}`,
    identity: "pod-a",
    healthPort: 0,
    leaseTimings: timings,
    informerFactory: (resource, store) => {
      stores.push(store);
      return {
        run: async (signal) => {
          informerRuns.push(resource);
          await new Promise<void>((resolve) =>
            signal.addEventListener("abort", () => resolve(), { once: true }),
          );
        },
      };
    },
    ...overrides,
  });
  const stop = new AbortController();
  cleanups.push(() => stop.abort());
  return { manager, leases, informerRuns, stores, stop };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function httpGet(server: Server, path: string) {
  await vi.waitFor(() => expect(server.listening).toBe(true));
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe("informers", () => {
  it("shares one store per resource, whatever the number of callers", () => {
    const { manager, stores } = setup();
    const a = manager.informer(DeploymentResource);
    expect(manager.informer(DeploymentResource)).toBe(a);
    expect(manager.informer(ConfigMapResource)).not.toBe(a);
    expect(stores).toHaveLength(2);
  });

  it("gives each informer its kind's cache selector, and none to kinds not listed", () => {
    const selectors = new Map<string, unknown>();
    const { manager } = setup({
      cache: {
        byResource: [
          { resource: DeploymentResource, labelSelector: "app.kubernetes.io/managed-by=crescendo" },
          { resource: CustomResourceDefinitionResource, fieldSelector: "metadata.name=x.example.com" },
        ],
      },
      informerFactory: (resource, _store, selector) => {
        selectors.set(resource.kind, selector);
        return { run: async () => undefined };
      },
    });
    for (const res of [DeploymentResource, CustomResourceDefinitionResource, ConfigMapResource])
      manager.informer(res);
    expect(Object.fromEntries(selectors)).toEqual({
      Deployment: { labelSelector: "app.kubernetes.io/managed-by=crescendo" },
      CustomResourceDefinition: { fieldSelector: "metadata.name=x.example.com" },
      ConfigMap: {},
    });
  });

  it("refuses a kind given two cache selectors", () => {
    expect(() =>
      setup({
        cache: {
          byResource: [
            { resource: DeploymentResource, labelSelector: "a=b" },
            { resource: DeploymentResource, labelSelector: "c=d" },
          ],
        },
      }),
    ).toThrow("cache selector for apps/v1/deployments given twice");
  });

  it("lists and watches with the cache selector through its own reflector", async () => {
    const requests: { verb: string; kind: string; labelSelector?: string; fieldSelector?: string }[] = [];
    const record = (verb: string, res: Resource, o: ListOptions | WatchOptions) =>
      requests.push({
        verb,
        kind: res.kind,
        ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}),
        ...(o.fieldSelector ? { fieldSelector: o.fieldSelector } : {}),
      });
    const client = {
      list: async (res: Resource, o: ListOptions = {}) => {
        record("list", res, o);
        return { items: [], metadata: { resourceVersion: "1" } };
      },
      async *watch(res: Resource, o: WatchOptions, signal: AbortSignal) {
        record("watch", res, o);
        await new Promise<void>((resolve) =>
          signal.addEventListener("abort", () => resolve(), { once: true }),
        );
        yield* [];
      },
    };
    const { manager, stop } = setup({
      client: client as unknown as KubeClient,
      leaderElection: false,
      informerFactory: undefined,
      cache: {
        byResource: [
          { resource: DeploymentResource, labelSelector: "app.kubernetes.io/managed-by=crescendo" },
          { resource: CustomResourceDefinitionResource, fieldSelector: "metadata.name=x.example.com" },
        ],
      },
    });
    manager.informer(DeploymentResource);
    manager.informer(CustomResourceDefinitionResource);
    manager.informer(ConfigMapResource);
    const done = manager.start(stop.signal);
    await vi.waitFor(() => expect(requests.filter((r) => r.verb === "watch")).toHaveLength(3));
    stop.abort();
    await done;
    const label = { labelSelector: "app.kubernetes.io/managed-by=crescendo" };
    const field = { fieldSelector: "metadata.name=x.example.com" };
    expect(requests).toEqual(
      expect.arrayContaining([
        { verb: "list", kind: "Deployment", ...label },
        { verb: "watch", kind: "Deployment", ...label },
        { verb: "list", kind: "CustomResourceDefinition", ...field },
        { verb: "watch", kind: "CustomResourceDefinition", ...field },
        { verb: "list", kind: "ConfigMap" },
        { verb: "watch", kind: "ConfigMap" },
      ]),
    );
    expect(requests).toHaveLength(6);
  });

  it("starts informers before leadership (warm standby)", async () => {
    const leases = new FakeLeases();
    leases.lease = {
      metadata: { name: "held", namespace: "crescendo-system", resourceVersion: "1" },
      spec: { holderIdentity: "pod-b", leaseDurationSeconds: 3600 },
    };
    const { manager, informerRuns, stop } = setup({ leaseName: "held" }, leases);
    manager.informer(DeploymentResource);
    const controller = new FakeController("c");
    manager.add(controller);
    const done = manager.start(stop.signal);
    await vi.waitFor(() => expect(informerRuns).toEqual([DeploymentResource]));
    await new Promise((r) => setTimeout(r, 100));
    expect(manager.isLeader()).toBe(false);
    expect(controller.runs).toHaveLength(0);
    stop.abort();
    await done;
  });
});

describe("health server", () => {
  it("serves /healthz, /readyz once informers synced, and /metrics", async () => {
    const { manager, stores, stop } = setup({ leaderElection: false });
    manager.informer(DeploymentResource);
    const done = manager.start(stop.signal);
    expect(await httpGet(manager.healthServer, "/healthz")).toEqual({ status: 200, body: "ok" });
    expect((await httpGet(manager.healthServer, "/readyz")).status).toBe(503);
    stores[0]!.replace([], "1");
    expect((await httpGet(manager.healthServer, "/readyz")).status).toBe(200);
    const metrics = await httpGet(manager.healthServer, "/metrics");
    expect(metrics.body).toContain("controller_runtime_reconcile_total");
    expect(metrics.body).toContain("process_cpu_user_seconds_total");
    expect((await httpGet(manager.healthServer, "/nope")).status).toBe(404);
    stop.abort();
    await done;
    expect(manager.healthServer.listening).toBe(false);
  });

  it("answers the probes before start: alive, and not ready with the reason set until cleared", async () => {
    const { manager, stores, stop } = setup({ leaderElection: false });
    await manager.listen();
    await manager.listen(); // once
    manager.setNotReady("waiting for the apiserver: connect ECONNREFUSED 127.0.0.1:6443");
    expect(await httpGet(manager.healthServer, "/healthz")).toEqual({ status: 200, body: "ok" });
    expect(await httpGet(manager.healthServer, "/readyz")).toEqual({
      status: 503,
      body: "waiting for the apiserver: connect ECONNREFUSED 127.0.0.1:6443",
    });
    manager.setNotReady(undefined);
    // The apiserver answered, the controllers are not registered yet: no informer is not "synced".
    expect(await httpGet(manager.healthServer, "/readyz")).toEqual({
      status: 503,
      body: "starting: informers not started yet",
    });
    manager.informer(DeploymentResource);
    const done = manager.start(stop.signal);
    expect((await httpGet(manager.healthServer, "/readyz")).body).toMatch(/^informers not synced: /);
    stores[0]!.replace([], "1");
    expect((await httpGet(manager.healthServer, "/readyz")).status).toBe(200);
    stop.abort();
    await done;
  });

  it("stops listening when the process stops before start", async () => {
    const { manager } = setup({ leaderElection: false });
    await manager.listen();
    expect(manager.healthServer.listening).toBe(true);
    await manager.closeListeners();
    expect(manager.healthServer.listening).toBe(false);
  });

  it("can serve /metrics on its own port", async () => {
    const port = await freePort();
    const { manager, stop } = setup({ leaderElection: false, metricsPort: port });
    expect(manager.metricsServer).not.toBe(manager.healthServer);
    const done = manager.start(stop.signal);
    expect((await httpGet(manager.metricsServer, "/metrics")).body).toContain("workqueue_depth");
    expect((await httpGet(manager.metricsServer, "/healthz")).status).toBe(404);
    expect((await httpGet(manager.healthServer, "/metrics")).status).toBe(404);
    stop.abort();
    await done;
  });
});

describe("leader election", () => {
  it("creates the Lease, runs controllers while leading, and releases the Lease on shutdown", async () => {
    const { manager, leases, stop } = setup();
    const controller = new FakeController("c");
    manager.add(controller);
    const done = manager.start(stop.signal);
    await vi.waitFor(() => expect(controller.runs).toHaveLength(1));
    expect(manager.isLeader()).toBe(true);
    expect(leases.holder()).toBe("pod-a");
    expect(leases.lease?.["spec"]).toMatchObject({ leaseDurationSeconds: 1, leaseTransitions: 0 });
    const renewed = (leases.lease?.["spec"] as { renewTime: string }).renewTime;
    await vi.waitFor(() =>
      expect((leases.lease?.["spec"] as { renewTime: string }).renewTime).not.toBe(renewed),
    );
    stop.abort();
    await done;
    expect(controller.finished).toBe(true);
    expect(leases.lease?.["spec"]).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 });
    expect(manager.isLeader()).toBe(false);
  });

  it("waits for a held Lease to expire, then takes over", async () => {
    const leases = new FakeLeases();
    const a = setup({ identity: "pod-a", leaseName: "shared" }, leases);
    const b = setup({ identity: "pod-b", leaseName: "shared" }, leases);
    const ca = new FakeController("a");
    const cb = new FakeController("b");
    a.manager.add(ca);
    b.manager.add(cb);
    const doneA = a.manager.start(a.stop.signal);
    await vi.waitFor(() => expect(a.manager.isLeader()).toBe(true));
    const doneB = b.manager.start(b.stop.signal);
    await new Promise((r) => setTimeout(r, 150));
    expect(b.manager.isLeader()).toBe(false);
    // pod-a hangs without releasing: its writes fail, it loses the lease; pod-b takes over after expiry.
    leases.failWrites = true;
    await expect(doneA).rejects.toBeInstanceOf(LeadershipLostError);
    expect(ca.runs[0]?.stop.aborted).toBe(true);
    expect(ca.runs[0]?.cancel.aborted).toBe(true);
    leases.failWrites = false;
    await vi.waitFor(() => expect(b.manager.isLeader()).toBe(true), { timeout: 4000 });
    expect(leases.holder()).toBe("pod-b");
    expect(leases.lease?.["spec"]).toMatchObject({ leaseTransitions: 1 });
    b.stop.abort();
    await doneB;
  });

  it("hands over immediately after a graceful release", async () => {
    const leases = new FakeLeases();
    const a = setup({ identity: "pod-a", leaseName: "handover" }, leases);
    const doneA = a.manager.start(a.stop.signal);
    await vi.waitFor(() => expect(a.manager.isLeader()).toBe(true));
    a.stop.abort();
    await doneA;
    const b = setup(
      { identity: "pod-b", leaseName: "handover", leaseTimings: { ...timings, leaseDurationMs: 60_000 } },
      leases,
    );
    const doneB = b.manager.start(b.stop.signal);
    await vi.waitFor(() => expect(b.manager.isLeader()).toBe(true), { timeout: 1500 });
    b.stop.abort();
    await doneB;
  });

  it("reports leader_election_master_status", async () => {
    const { manager, stop } = setup({ leaseName: "gauge-lease" });
    const done = manager.start(stop.signal);
    await vi.waitFor(() => expect(manager.isLeader()).toBe(true));
    const gauge = await registry.getSingleMetric("leader_election_master_status")!.get();
    expect(gauge.values.find((v) => v.labels["name"] === "gauge-lease")?.value).toBe(1);
    stop.abort();
    await done;
  });

  describe("after this process was paused past the renew deadline", () => {
    /** The system clock plus a jump, as a process sees it when it wakes from a pause. */
    function pausedClock() {
      let skew = 0;
      return {
        clock: { now: () => Date.now() + skew, sleep: systemClock.sleep },
        pause: (ms: number) => (skew += ms),
      };
    }
    const elector = (leases: FakeLeases, identity: string, clock = systemClock) =>
      new LeaderElector({
        client: leases.client,
        namespace: "ns",
        name: "paused",
        identity,
        clock,
        logger,
        timings,
      });

    it("keeps leading when the Lease is still the one it last wrote", async () => {
      const leases = new FakeLeases();
      const { clock, pause } = pausedClock();
      const a = elector(leases, "a", clock);
      expect(await a.tryAcquireOrRenew()).toBe(true);
      const stop = new AbortController();
      const renewing = a.renew(stop.signal);
      pause(timings.renewDeadlineMs * 3);
      const before = (leases.lease?.["spec"] as { renewTime: string }).renewTime;
      await vi.waitFor(() =>
        expect((leases.lease?.["spec"] as { renewTime: string }).renewTime).not.toBe(before),
      );
      stop.abort();
      expect(await renewing).toBe("stopped");
      expect(leases.holder()).toBe("a");
    });

    it("gives up when another candidate took the Lease meanwhile", async () => {
      const leases = new FakeLeases();
      const { clock, pause } = pausedClock();
      const a = elector(leases, "a", clock);
      expect(await a.tryAcquireOrRenew()).toBe(true);
      const renewing = a.renew(new AbortController().signal);
      pause(timings.renewDeadlineMs * 3);
      // b saw the Lease expire by its own clock, took it, and released it again: the record moved.
      const b = elector(leases, "b");
      (leases.lease!["spec"] as { holderIdentity: string }).holderIdentity = "";
      expect(await b.tryAcquireOrRenew()).toBe(true);
      await b.release();
      expect(await renewing).toBe("lost");
      expect(leases.holder()).toBe("");
    });
  });

  it("never lets two candidates lead at once", async () => {
    const leases = new FakeLeases();
    const elector = (identity: string) =>
      new LeaderElector({
        client: leases.client,
        namespace: "ns",
        name: "race",
        identity,
        clock: systemClock,
        logger,
        timings,
      });
    const results = await Promise.all([elector("a").tryAcquireOrRenew(), elector("b").tryAcquireOrRenew()]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe("periodic resync", () => {
  it("resyncs every controller each jittered sync period while leading, and stops with them", async () => {
    const { manager, stop } = setup({ leaderElection: false, syncPeriodMs: 40, random: () => 0.5 });
    const a = new FakeController("a");
    const b = new FakeController("b");
    manager.add(a);
    manager.add(b);
    const done = manager.start(stop.signal);
    await vi.waitFor(() => expect(a.resyncs).toBeGreaterThanOrEqual(2), { timeout: 2000 });
    expect(b.resyncs).toBeGreaterThanOrEqual(1);
    stop.abort();
    await done;
    const after = a.resyncs;
    await new Promise((r) => setTimeout(r, 100));
    expect(a.resyncs).toBe(after);
  });

  it("does not resync a standby: only the leader reconciles", async () => {
    const leases = new FakeLeases();
    const a = setup({ identity: "pod-a", leaseName: "resync-shared", syncPeriodMs: 20 }, leases);
    const b = setup({ identity: "pod-b", leaseName: "resync-shared", syncPeriodMs: 20 }, leases);
    const ca = new FakeController("a");
    const cb = new FakeController("b");
    a.manager.add(ca);
    b.manager.add(cb);
    const doneA = a.manager.start(a.stop.signal);
    await vi.waitFor(() => expect(a.manager.isLeader()).toBe(true));
    const doneB = b.manager.start(b.stop.signal);
    await vi.waitFor(() => expect(ca.resyncs).toBeGreaterThanOrEqual(3), { timeout: 2000 });
    expect(b.manager.isLeader()).toBe(false);
    expect(cb.resyncs).toBe(0);
    b.stop.abort();
    a.stop.abort();
    await Promise.all([doneA, doneB]);
  });
});

describe("shutdown", () => {
  it("cancels in-flight reconciles that outlast the shutdown timeout", async () => {
    const { manager, stop } = setup({ leaderElection: false, shutdownTimeoutMs: 50 });
    const stubborn = new FakeController("stubborn", true);
    manager.add(stubborn);
    const done = manager.start(stop.signal);
    await vi.waitFor(() => expect(stubborn.runs).toHaveLength(1));
    stop.abort();
    await done;
    expect(stubborn.runs[0]?.cancel.aborted).toBe(true);
    expect(stubborn.finished).toBe(true);
  });

  it("refuses controllers added after start", async () => {
    const { manager, stop } = setup({ leaderElection: false });
    const done = manager.start(stop.signal);
    expect(() => manager.add(new FakeController("late"))).toThrow(/after the manager started/);
    stop.abort();
    await done;
  });
});
