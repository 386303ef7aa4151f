/**
 * The manager runs everything a controller process needs around its controllers: shared
 * informers (one reflector per kind, started before leadership so a new leader is warm),
 * leader election on a Lease, the health/metrics server, and an orderly shutdown that
 * finishes in-flight reconciles and hands the Lease over at once instead of letting it expire.
 */
import { setMaxListeners } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "../observability/logger.js";
import {
  leaderElectionMasterStatus,
  watchMetrics,
  registry as defaultRegistry,
  restClientMetrics,
} from "../observability/metrics.js";
import { createKubeClient, isConflict, type KubeClient } from "./client.js";
import type { Controller, ControllerHost } from "./controller.js";
import { microTime } from "./events.js";
import type { KubeConnection } from "./kubeconfig.js";
import { createReflector } from "./reflector.js";
import { LeaseResource } from "./resources.js";
import { DEFAULT_SYNC_PERIOD_MS, runResync } from "./resync.js";
import { Store } from "./store.js";
import { systemClock, type Clock, type KubeObject, type ReadStore, type Resource } from "./types.js";

/** client-go's defaults; the brief and controller-runtime use the same. */
export interface LeaseTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}
export const DEFAULT_LEASE_TIMINGS: LeaseTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** Which objects of one kind an informer lists and watches; without a selector, all of them. */
export interface CacheSelector {
  /** e.g. `app.kubernetes.io/managed-by=crescendo`. */
  labelSelector?: string;
  /** e.g. `metadata.name=featureflags.core.openfeature.dev`. */
  fieldSelector?: string;
}

/**
 * What the shared informers cache, per kind (controller-runtime's `cache.Options.ByObject`).
 * Every controller reading a kind reads the same selected store: a selector is a promise that
 * no controller needs the objects it leaves out.
 */
export interface CacheOptions {
  /** Selectors by kind (group, version and plural, as informers are keyed); kinds not listed are cached whole. */
  byResource?: readonly (CacheSelector & { resource: Resource })[];
}

/** Something that keeps a store filled; a reflector in production, a fake in tests. */
export type InformerFactory = (
  resource: Resource,
  store: Store<KubeObject>,
  selector: CacheSelector,
) => { run(signal: AbortSignal): Promise<void> };

/** The key of a kind's one shared informer (and of its cache selector). */
export function informerKey(res: Resource): string {
  return `${res.group}/${res.version}/${res.plural}`;
}

export interface ManagerOptions {
  client: KubeClient;
  /**
   * For clients of their own: with it, leader election renews the Lease through a separate
   * client and rate limiter (without it, through `client`).
   */
  kubeConfig?: KubeConnection;
  logger: Logger;
  /** Without leader election every replica reconciles: only for a single replica or local runs. */
  leaderElection: boolean;
  leaseNamespace: string;
  leaseName: string;
  /** Unique per process, e.g. the pod name; written as the Lease's holderIdentity. */
  identity: string;
  /** `/healthz`, `/readyz` and (unless `metricsPort` differs) `/metrics`. Default 8081; 0 picks a free port. */
  healthPort?: number;
  /** A separate `/metrics` port (controller-runtime uses 8080); default: the health port. */
  metricsPort?: number;
  /** Bind address for the servers (default all interfaces). */
  host?: string;
  clock?: Clock;
  registry?: Registry;
  /** How long shutdown waits for in-flight reconciles before cancelling them (default 30 s). */
  shutdownTimeoutMs?: number;
  leaseTimings?: Partial<LeaseTimings>;
  /**
   * How often every controller's primary objects are all reconciled again, jittered to
   * [0.9, 1.1) of it (controller-runtime's SyncPeriod); default 10 h, 0 turns it off.
   */
  syncPeriodMs?: number;
  /** Source of the resync jitter, [0, 1); Math.random by default (tests fix it). */
  random?: () => number;
  /** Per-kind selectors for the informers; without it every informer caches its whole kind. */
  cache?: CacheOptions;
  informerFactory?: InformerFactory;
  /**
   * The least time each informer watch asks the apiserver to end it after (`--watch-timeout`);
   * each asks for a random time up to twice it. Default 300 s, as client-go's minWatchTimeout.
   */
  watchTimeoutSeconds?: number;
}

/** The reflector's timeout range for `--watch-timeout`: [t, 2t], as client-go draws it. */
function watchTimeouts(seconds: number | undefined): {
  minTimeoutSeconds?: number;
  maxTimeoutSeconds?: number;
} {
  if (seconds === undefined) return {};
  return { minTimeoutSeconds: seconds, maxTimeoutSeconds: 2 * seconds };
}

export interface Manager extends ControllerHost {
  readonly client: KubeClient;
  readonly kubeConfig: KubeConnection | undefined;
  readonly registry: Registry;
  /** Serves `/healthz`, `/readyz` (and `/metrics` unless on its own port); listening after `start`. */
  readonly healthServer: http.Server;
  /** The `/metrics` server: `healthServer` itself unless `metricsPort` differs. */
  readonly metricsServer: http.Server;
  isLeader(): boolean;
  /** True when every informer has completed its first list. */
  hasSynced(): boolean;
  /**
   * Serves the probes (and metrics) before `start`, which otherwise does it: `/healthz` answers
   * while start-up waits for the apiserver, and `/readyz` says why it is not ready yet.
   */
  listen(): Promise<void>;
  /** While `why` is set, `/readyz` answers 503 with it, whatever the informers say. */
  setNotReady(why: string | undefined): void;
  /** Stops serving what `listen` serves, for a process stopped before `start` (which closes them itself). */
  closeListeners(): Promise<void>;
  /**
   * Runs until `signal` aborts, then shuts down gracefully and resolves. Rejects with
   * `LeadershipLostError` after stopping the workers if the Lease could not be renewed:
   * the process should then exit non-zero, as controller-runtime does.
   */
  start(signal: AbortSignal): Promise<void>;
  /** `start`, stopped by SIGTERM or SIGINT; a second signal exits at once with status 1. */
  runUntilSignal(): Promise<void>;
}

export class LeadershipLostError extends Error {
  constructor(leaseName: string) {
    super(`lost leadership of lease ${leaseName}`);
    this.name = "LeadershipLostError";
  }
}

/** Creates a manager. Nothing starts until `start`: no listening, no watching, no Lease. */
export function createManager(opts: ManagerOptions): Manager {
  const clock = opts.clock ?? systemClock;
  const registry = opts.registry ?? defaultRegistry;
  const logger = opts.logger;
  const informers = new Map<string, { store: Store<KubeObject>; run(signal: AbortSignal): Promise<void> }>();
  const informerRuns: Promise<void>[] = [];
  const controllers: Controller[] = [];
  const informerStop = new AbortController();
  // Every informer's watch listens on this one signal: more than Node's default of 10 is expected.
  setMaxListeners(0, informerStop.signal);
  let started = false;
  let leading = false;
  let notReady: string | undefined;
  let listening: Promise<void> | undefined;
  const selectors = cacheSelectors(opts.cache);
  const factory: InformerFactory =
    opts.informerFactory ??
    ((resource, store, selector) =>
      createReflector({
        client: opts.client,
        resource,
        store,
        clock,
        logger,
        ...selector,
        ...watchTimeouts(opts.watchTimeoutSeconds),
        onWatchEnd: watchMetrics(resource),
      }));

  const unsynced = (): string[] => [...informers].filter(([, i]) => !i.store.hasSynced()).map(([key]) => key);
  const hasSynced = (): boolean => unsynced().length === 0;
  const readiness = (): string | undefined => {
    if (notReady !== undefined) return notReady;
    // Served from `listen`, before the controllers have even asked for their informers: no
    // informer yet is not "all synced". OFREP answers from these caches.
    if (!started) return "starting: informers not started yet";
    return hasSynced() ? undefined : `informers not synced: ${unsynced().join(", ")}`;
  };
  const separateMetrics = opts.metricsPort !== undefined && opts.metricsPort !== (opts.healthPort ?? 8081);
  const healthServer = http.createServer(httpHandler({ registry, readiness, metrics: !separateMetrics }));
  const metricsServer = separateMetrics
    ? http.createServer(httpHandler({ registry, readiness, metrics: true, probes: false }))
    : healthServer;
  const servers = separateMetrics ? [healthServer, metricsServer] : [healthServer];

  function startInformer(key: string): void {
    const informer = informers.get(key)!;
    informerRuns.push(
      informer
        .run(informerStop.signal)
        .catch((err: unknown) => logger.error({ err, resource: key }, "informer stopped")),
    );
  }

  const manager: Manager = {
    client: opts.client,
    kubeConfig: opts.kubeConfig,
    registry,
    clock,
    logger,
    healthServer,
    metricsServer,
    isLeader: () => leading,
    hasSynced,

    listen(): Promise<void> {
      listening ??= (async () => {
        await Promise.all([
          listen(healthServer, opts.healthPort ?? 8081, opts.host),
          ...(separateMetrics ? [listen(metricsServer, opts.metricsPort ?? 0, opts.host)] : []),
        ]);
        logger.info(
          { health: addressOf(healthServer), metrics: addressOf(metricsServer) },
          "serving health and metrics",
        );
      })();
      return listening;
    },

    setNotReady(why: string | undefined): void {
      notReady = why;
    },

    async closeListeners(): Promise<void> {
      await Promise.all(servers.map(close));
    },

    informer<T extends KubeObject>(res: Resource): ReadStore<T> {
      const key = informerKey(res);
      let informer = informers.get(key);
      if (!informer) {
        const store = new Store<KubeObject>({
          onHandlerError: (err) => logger.error({ err, resource: key }, "store subscriber threw"),
          ...(res.keepLastApplied ? { keepLastApplied: true } : {}),
        });
        informer = { store, run: factory(res, store, selectors.get(key) ?? {}).run };
        informers.set(key, informer);
        if (started) startInformer(key);
      }
      return informer.store as unknown as ReadStore<T>;
    },

    add(controller: Controller): void {
      if (started) throw new Error(`controller ${controller.name} added after the manager started`);
      controllers.push(controller);
    },

    async start(signal: AbortSignal): Promise<void> {
      if (started) throw new Error("manager already started");
      started = true;
      await manager.listen();
      for (const key of informers.keys()) startInformer(key);
      try {
        await lead(signal);
      } finally {
        informerStop.abort();
        await Promise.allSettled(informerRuns);
        await Promise.all(servers.map(close));
        logger.info("manager stopped");
      }
    },

    async runUntilSignal(): Promise<void> {
      const ctl = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => {
        if (ctl.signal.aborted) {
          logger.error({ signal: sig }, "second signal; exiting now");
          process.exit(1);
        }
        logger.info({ signal: sig }, "shutting down");
        ctl.abort();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      try {
        await manager.start(ctl.signal);
      } finally {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      }
    },
  };

  /** Acquires leadership (or skips election), runs the controllers, and gives the Lease back. */
  async function lead(signal: AbortSignal): Promise<void> {
    const gauge = { name: opts.leaseName };
    if (!opts.leaderElection) {
      leading = true;
      try {
        await runControllers(signal, new AbortController().signal);
      } finally {
        leading = false;
      }
      return;
    }
    leaderElectionMasterStatus.set(gauge, 0);
    // Renewals get a client and rate limiter of their own, as controller-runtime's do: queued
    // in a shared limiter behind reconcile writes and fire-and-forget Events, a renewal can
    // miss the renew deadline under load, and the leader then exits in the middle of its work.
    const leaseClient = opts.kubeConfig
      ? createKubeClient(opts.kubeConfig, {
          qps: 5,
          burst: 10,
          userAgent: "crescendo-leader-election",
          onRequest: restClientMetrics(),
        })
      : undefined;
    try {
      await electAndRun(signal, leaseClient ?? opts.client);
    } finally {
      leaseClient?.close();
    }
  }

  /** Waits for the Lease, runs the controllers while renewing it, then gives it back. */
  async function electAndRun(signal: AbortSignal, client: LeaderElectorOptions["client"]): Promise<void> {
    const gauge = { name: opts.leaseName };
    const elector = new LeaderElector({
      client,
      namespace: opts.leaseNamespace,
      name: opts.leaseName,
      identity: opts.identity,
      clock,
      logger,
      timings: { ...DEFAULT_LEASE_TIMINGS, ...opts.leaseTimings },
    });
    if (!(await elector.acquire(signal))) return;
    leading = true;
    leaderElectionMasterStatus.set(gauge, 1);
    logger.info({ lease: opts.leaseName, identity: opts.identity }, "became leader");

    const lost = new AbortController();
    const renewStop = new AbortController();
    const renewing = elector.renew(AbortSignal.any([signal, renewStop.signal])).then((result) => {
      if (result === "lost") lost.abort();
    });
    try {
      await runControllers(AbortSignal.any([signal, lost.signal]), lost.signal);
    } finally {
      renewStop.abort();
      await renewing;
      leading = false;
      leaderElectionMasterStatus.set(gauge, 0);
    }
    if (lost.signal.aborted) {
      logger.error({ lease: opts.leaseName }, "leadership lost; workers stopped");
      throw new LeadershipLostError(opts.leaseName);
    }
    await elector.release();
  }

  /**
   * Runs every controller until `stop`, then waits for in-flight reconciles, up to the shutdown
   * timeout; after that (or when leadership is lost) reconcilers' signals are aborted.
   */
  async function runControllers(stop: AbortSignal, lost: AbortSignal): Promise<void> {
    const cancel = new AbortController();
    const onLost = (): void => cancel.abort(new LeadershipLostError(opts.leaseName));
    lost.addEventListener("abort", onLost, { once: true });
    const runs = Promise.allSettled(controllers.map((c) => c.run({ stop, cancel: cancel.signal })));
    const resync = runResync({
      periodMs: opts.syncPeriodMs ?? DEFAULT_SYNC_PERIOD_MS,
      controllers,
      clock,
      logger,
      stop,
      ...(opts.random ? { random: opts.random } : {}),
    });
    // Controllers may return early (none registered, or all stopped); the manager still runs until told.
    await untilAborted(stop);
    await resync;
    const timer = new AbortController();
    const drained = await Promise.race([
      runs.then(() => true),
      clock.sleep(opts.shutdownTimeoutMs ?? 30_000, timer.signal).then(() => false),
    ]);
    timer.abort();
    lost.removeEventListener("abort", onLost);
    if (!drained) {
      logger.warn("in-flight reconciles did not finish in time; cancelling them");
      cancel.abort(new Error("shutdown timeout"));
    }
  }

  return manager;
}

/** The selectors by informer key; a kind given twice is a mistake, refused rather than guessed at. */
function cacheSelectors(cache: CacheOptions | undefined): Map<string, CacheSelector> {
  const out = new Map<string, CacheSelector>();
  for (const { resource, labelSelector, fieldSelector } of cache?.byResource ?? []) {
    const key = informerKey(resource);
    if (out.has(key)) throw new Error(`cache selector for ${key} given twice`);
    out.set(key, {
      ...(labelSelector ? { labelSelector } : {}),
      ...(fieldSelector ? { fieldSelector } : {}),
    });
  }
  return out;
}

interface HttpHandlerOptions {
  registry: Registry;
  /** Why this replica is not ready, or undefined when it is. */
  readiness(): string | undefined;
  metrics: boolean;
  probes?: boolean;
}

function httpHandler(o: HttpHandlerOptions): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = (code: number, body: string, type = "text/plain; charset=utf-8"): void => {
      res.writeHead(code, { "Content-Type": type });
      res.end(body);
    };
    if (o.probes !== false && path === "/healthz") return reply(200, "ok");
    if (o.probes !== false && path === "/readyz") {
      const why = o.readiness();
      return why === undefined ? reply(200, "ok") : reply(503, why);
    }
    if (o.metrics && path === "/metrics") {
      o.registry.metrics().then(
        (text) => reply(200, text, o.registry.contentType),
        (err: unknown) => reply(500, String(err)),
      );
      return;
    }
    reply(404, "not found");
  };
}

function listen(server: http.Server, port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // Prometheus keeps connections alive between scrapes; do not wait for them.
    server.closeAllConnections();
  });
}

function addressOf(server: http.Server): string | undefined {
  const addr = server.address() as AddressInfo | string | null;
  return addr === null ? undefined : typeof addr === "string" ? addr : `${addr.address}:${addr.port}`;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = KubeObject & { spec?: LeaseSpec };

export interface LeaderElectorOptions {
  client: Pick<KubeClient, "get" | "create" | "replace">;
  namespace: string;
  name: string;
  identity: string;
  clock: Clock;
  logger: Logger;
  timings: LeaseTimings;
}

/** What identifies one write of a Lease record (client-go compares the same fields). */
function recordOf(spec: LeaseSpec): string {
  return JSON.stringify([
    spec.holderIdentity,
    spec.leaseDurationSeconds,
    spec.acquireTime,
    spec.renewTime,
    spec.leaseTransitions,
  ]);
}

/**
 * client-go's `leaderelection` on a Lease. Expiry is judged by this process's clock from when
 * it last saw the record change (never by comparing another node's renewTime with our clock),
 * so clock skew between replicas cannot make two leaders. Updates carry the resourceVersion:
 * two candidates racing for an expired Lease cannot both win.
 */
export class LeaderElector {
  private observedRecord = "";
  private observedAt = 0;
  /** The record this process last wrote: a late renewal only goes ahead if it is still there. */
  private heldRecord = "";

  constructor(private readonly o: LeaderElectorOptions) {}

  /** Tries every retry period until this process holds the Lease; false if `signal` aborted first. */
  async acquire(signal: AbortSignal): Promise<boolean> {
    const { retryPeriodMs } = this.o.timings;
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew()) return true;
      await this.o.clock.sleep(retryPeriodMs * (1 + 0.2 * Math.random()), signal);
    }
    return false;
  }

  /**
   * Renews every retry period until `signal` aborts ("stopped") or no renewal succeeded for the
   * renew deadline ("lost"). The deadline is shorter than the lease, so a leader that cannot
   * renew stops working before anyone else may take over.
   */
  async renew(signal: AbortSignal): Promise<"stopped" | "lost"> {
    const { retryPeriodMs, renewDeadlineMs } = this.o.timings;
    let lastRenew = this.o.clock.now();
    for (;;) {
      await this.o.clock.sleep(retryPeriodMs, signal);
      if (signal.aborted) return "stopped";
      const remaining = lastRenew + renewDeadlineMs - this.o.clock.now();
      // Half the time left at most, so one attempt hung on a dead connection leaves room for a
      // retry on a fresh one. Past the deadline — this process was starved or paused, it did not
      // fail to renew — one last attempt still counts, but only if the Lease is untouched since
      // we last held it: the resourceVersion makes that renewal safe, and a Lease that moved on
      // in the meantime means another leader may have worked, so it is lost.
      const late = remaining <= 0;
      const attempt = this.tryAcquireOrRenew({ onlyIfHeld: late });
      const bound = late ? retryPeriodMs : Math.min(remaining, Math.max(remaining / 2, retryPeriodMs));
      const renewed = await this.withDeadline(attempt, bound);
      if (renewed) lastRenew = this.o.clock.now();
      else if (late || this.o.clock.now() - lastRenew >= renewDeadlineMs) return "lost";
    }
  }

  /** Gives the Lease up (ReleaseOnCancel) so the next leader need not wait for it to expire. */
  async release(): Promise<void> {
    try {
      const lease = await this.o.client.get<Lease>(LeaseResource, this.o.name, this.o.namespace);
      if (!lease || lease.spec?.holderIdentity !== this.o.identity) return;
      const now = microTime(this.o.clock.now());
      const spec: LeaseSpec = {
        holderIdentity: "",
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: lease.spec.leaseTransitions ?? 0,
      };
      await this.o.client.replace({ ...lease, spec }, LeaseResource);
      this.o.logger.info({ lease: this.o.name }, "released leadership");
    } catch (err) {
      this.o.logger.warn({ err, lease: this.o.name }, "could not release the lease; it will expire");
    }
  }

  /** One attempt: create the Lease, renew ours, or take over an expired or released one. */
  async tryAcquireOrRenew(options: { onlyIfHeld?: boolean } = {}): Promise<boolean> {
    const { client, name, namespace, identity, clock } = this.o;
    const now = clock.now();
    const leaseDurationSeconds = Math.ceil(this.o.timings.leaseDurationMs / 1000);
    try {
      const lease = await client.get<Lease>(LeaseResource, name, namespace);
      if (!lease) {
        if (options.onlyIfHeld) return false;
        const spec: LeaseSpec = {
          holderIdentity: identity,
          leaseDurationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        };
        await client.create(
          { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec },
          LeaseResource,
        );
        this.observe(spec, now);
        this.heldRecord = recordOf(spec);
        return true;
      }
      const old = lease.spec ?? {};
      this.observe(old, now);
      const holder = old.holderIdentity ?? "";
      const expiresAt = this.observedAt + (old.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (holder !== "" && holder !== identity && expiresAt > now) return false;
      const ours = holder === identity;
      if (options.onlyIfHeld && recordOf(old) !== this.heldRecord) return false;
      const spec: LeaseSpec = {
        ...old,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: microTime(now),
        acquireTime: ours && old.acquireTime ? old.acquireTime : microTime(now),
        leaseTransitions: (old.leaseTransitions ?? 0) + (ours ? 0 : 1),
      };
      await client.replace({ ...lease, spec }, LeaseResource);
      this.observe(spec, now);
      this.heldRecord = recordOf(spec);
      if (!ours) this.o.logger.info({ lease: name, previous: holder || undefined }, "acquired lease");
      return true;
    } catch (err) {
      // A 409 means another candidate wrote first: an ordinary lost race, not worth a warning.
      if (!isConflict(err)) this.o.logger.warn({ err, lease: name }, "lease update failed");
      return false;
    }
  }

  private observe(spec: LeaseSpec, now: number): void {
    const record = recordOf(spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = now;
    }
  }

  /** A renewal stuck on a hung connection must not outlive the renew deadline. */
  private async withDeadline(attempt: Promise<boolean>, ms: number): Promise<boolean> {
    const timer = new AbortController();
    try {
      return await Promise.race([attempt, this.o.clock.sleep(ms, timer.signal).then(() => false)]);
    } finally {
      timer.abort();
    }
  }
}
