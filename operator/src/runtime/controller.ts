/**
 * The controller builder and the worker loop behind it (controller-runtime's `builder` and
 * `reconcileHandler`). A controller is its wiring: which kind it reconciles, which kinds it
 * owns, which other kinds map to it, how many workers. Everything else (queueing, retries,
 * metrics, the per-reconcile log line) is handled here, once, for every controller.
 */
import { randomUUID } from "node:crypto";
import { controllerLogger, type Logger } from "../observability/logger.js";
import {
  activeWorkers,
  childRejectedTotal,
  initControllerMetrics,
  reconcileErrorsTotal,
  reconcileTimeSeconds,
  reconcileTotal,
  terminalReconcileErrorsTotal,
  workQueueMetrics,
} from "../observability/metrics.js";
import { isConflict } from "./client.js";
import { refusalOf, refusalRetryDelay, type Refusal, type RefusalReporter } from "./refusals.js";
import { groupOf } from "./resources.js";
import { WorkQueue } from "./workqueue.js";
import {
  objectKey,
  splitKey,
  TerminalError,
  type Clock,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type ReconcileResult,
  type Reconciler,
  type Resource,
  type StoreEvent,
} from "./types.js";

/** What a controller needs from its manager; `Manager` provides it. */
export interface ControllerHost {
  /** The one shared store per resource. */
  informer<T extends KubeObject = KubeObject>(res: Resource): ReadStore<T>;
  /** Registers a controller so its workers run while this process leads. */
  add(controller: Controller): void;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface RunOptions {
  /** Aborted to stop taking new keys: shutdown began or leadership was lost. */
  stop: AbortSignal;
  /** Aborted to cancel in-flight reconciles; reconcilers see it as `ctx.signal`. */
  cancel: AbortSignal;
}

export interface Controller {
  readonly name: string;
  /** True once every store this controller reads has completed its first list. */
  hasSynced(): boolean;
  /**
   * Waits for the stores to sync, then runs the workers until `stop` aborts, and resolves once
   * in-flight reconciles have returned. Runs once per process.
   */
  run(options: RunOptions): Promise<void>;
  /**
   * Queues every primary object in the cache again (the manager's periodic resync); returns how
   * many. Optional: a controller without primaries has nothing to resync.
   */
  resync?(): number;
}

/**
 * A controller as `complete` returns it: it can also be asked to reconcile a key directly, for
 * work that finishes outside any watch (a measurement settling, a webhook answering).
 */
export interface QueueingController extends Controller {
  /** Queues `key` as a watch event would (deduplicated; re-run once if it is being processed). */
  enqueue(key: ObjectKey): void;
}

/** Maps an object of a watched kind to the keys of the primary objects it affects. */
export type MapFn<U extends KubeObject = KubeObject> = (obj: U) => ObjectKey[];

/** Options of `watches`. */
export interface WatchOptions<U extends KubeObject = KubeObject> {
  /**
   * Which events of the watched kind are worth a reconcile; all of them when absent. An event
   * the predicate refuses is not mapped at all, so it costs no more than the predicate (as
   * controller-runtime's `WithPredicates`): use it for objects that change often in ways the
   * primary does not read.
   */
  predicate?: (event: StoreEvent<U>) => boolean;
  /**
   * Coalesces this watch's events per key: the first event opens a window of `batchMs` and
   * the key is reconciled once at its end, whatever arrived in between. For a primary that
   * summarises many objects (a Squad counting its Releases), so a burst of their changes costs
   * one reconcile and one status write, not one per change. Events of the primary itself and
   * of other watches are not delayed.
   */
  batchMs?: number;
}

export interface ControllerOptions {
  /** Metric label, log field and queue name; defaults to the primary kind in lower case. */
  name?: string;
}

/** After this many 409s in a row a key backs off, so a cache that never catches up cannot spin a worker. */
const MAX_IMMEDIATE_CONFLICT_REQUEUES = 5;
/** How often to check whether the stores have synced before starting workers. */
const SYNC_POLL_MS = 100;

/**
 * Starts describing a controller for `primary`:
 * `controllerFor(manager, ReleaseResource).owns(DeploymentResource).watches(SquadResource, fn).workers(4).complete(reconcile)`.
 */
export function controllerFor(
  host: ControllerHost,
  primary: Resource,
  options: ControllerOptions = {},
): ControllerBuilder {
  return new ControllerBuilder(host, primary, options.name ?? primary.kind.toLowerCase());
}

interface Watch {
  res: Resource;
  map: (obj: KubeObject) => ObjectKey[];
  predicate?: (event: StoreEvent) => boolean;
  batchMs?: number;
}

/** Each method returns the builder; `complete` ends the chain and registers the controller. */
export class ControllerBuilder {
  private readonly watched: Watch[] = [];
  private workerCount = 1;
  private refusals: RefusalReporting | undefined;

  constructor(
    private readonly host: ControllerHost,
    private readonly primary: Resource,
    private readonly name: string,
  ) {}

  /**
   * Reconciles the owner when an object of `res` changes: objects are mapped through their
   * controller ownerReference (`controller: true`) whose group and kind are the primary's.
   */
  owns(res: Resource): this {
    this.watched.push({ res, map: (obj) => ownerKeys(obj, this.primary) });
    return this;
  }

  /** Reconciles the keys `map` returns when an object of `res` changes (and `predicate` agrees). */
  watches<U extends KubeObject = KubeObject>(
    res: Resource,
    map: MapFn<U>,
    options: WatchOptions<U> = {},
  ): this {
    const predicate = options.predicate as ((event: StoreEvent) => boolean) | undefined;
    const { batchMs } = options;
    if (batchMs !== undefined && !(Number.isFinite(batchMs) && batchMs >= 0))
      throw new Error(`batchMs must be a non-negative number, got ${batchMs}`);
    this.watched.push({
      res,
      map: map as MapFn,
      ...(predicate ? { predicate } : {}),
      ...(batchMs ? { batchMs } : {}),
    });
    return this;
  }

  /** Concurrent reconciles (of different keys; one key never runs twice at once). Default 1. */
  workers(count: number): this {
    if (!Number.isInteger(count) || count < 1)
      throw new Error(`workers must be a positive integer, got ${count}`);
    this.workerCount = count;
    return this;
  }

  /**
   * Reports writes the apiserver refuses for good (runtime/refusals.ts) on the primary object:
   * `Stalled=True` with the apiserver's message, a Warning Event per distinct message, a metric,
   * and retries that back off to minutes. Without it such errors are retried like any other.
   */
  reportRefusals(reporter: RefusalReporter, ownersOf?: (key: ObjectKey) => KubeObject[]): this {
    this.refusals = { reporter, ...(ownersOf ? { ownersOf } : {}) };
    return this;
  }

  /** Subscribes to the stores, registers the controller with the host and returns it. */
  complete(reconcile: Reconciler): QueueingController {
    const controller = new RuntimeController({
      name: this.name,
      host: this.host,
      workers: this.workerCount,
      reconcile,
      ...(this.refusals ? { refusals: this.refusals } : {}),
      watches: [{ res: this.primary, map: (obj) => [objectKey(obj)] }, ...this.watched],
    });
    this.host.add(controller);
    return controller;
  }
}

/**
 * Keys of the primary objects that control `obj`. Versions are not compared, as in
 * controller-runtime: an owner written as v1beta1 is the same object as v1.
 */
export function ownerKeys(obj: KubeObject, primary: Resource): ObjectKey[] {
  const keys: ObjectKey[] = [];
  for (const ref of obj.metadata.ownerReferences ?? []) {
    if (ref.controller !== true || ref.kind !== primary.kind || groupOf(ref.apiVersion) !== primary.group)
      continue;
    if (!primary.namespaced) keys.push(ref.name);
    else if (obj.metadata.namespace) keys.push(`${obj.metadata.namespace}/${ref.name}`);
  }
  return keys;
}

type Outcome =
  | { kind: "success"; result: ReconcileResult }
  | { kind: "error"; error: unknown }
  /** A write refused for good, already reported on the primary (or the report failed). */
  | { kind: "refused"; refusal: Refusal; reported: "new" | "repeat" | "failed" };

interface RuntimeControllerOptions {
  name: string;
  host: ControllerHost;
  workers: number;
  reconcile: Reconciler;
  watches: Watch[];
  refusals?: RefusalReporting;
}

/**
 * Who hears of a refusal: the primary object of the key by default; a controller whose keys are
 * not objects (the FeatureToggle controller reconciles a namespace) names the owners itself.
 */
interface RefusalReporting {
  reporter: RefusalReporter;
  ownersOf?: (key: ObjectKey) => KubeObject[];
}

class RuntimeController implements QueueingController {
  readonly name: string;
  private readonly queue: WorkQueue;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly stores: ReadStore[];
  private readonly conflicts = new Map<ObjectKey, number>();
  /** Refusals in a row per key: they pace the retries, reset by a success. */
  private readonly refused = new Map<ObjectKey, number>();
  private started = false;

  constructor(private readonly opts: RuntimeControllerOptions) {
    this.name = opts.name;
    this.clock = opts.host.clock;
    this.log = controllerLogger(opts.host.logger, opts.name);
    this.queue = new WorkQueue({ clock: this.clock, metrics: workQueueMetrics(opts.name) });
    this.stores = opts.watches.map(({ res, map, predicate, batchMs }) => {
      const store = opts.host.informer(res);
      store.subscribe((event) => {
        if (!predicate || this.accepts(predicate, event, res)) this.onStoreEvent(event, map, res, batchMs);
      });
      return store;
    });
    initControllerMetrics(opts.name, opts.workers);
  }

  hasSynced(): boolean {
    return this.stores.every((s) => s.hasSynced());
  }

  enqueue(key: ObjectKey): void {
    this.queue.add(key);
  }

  /**
   * Every primary object of the cache, queued as a watch event would queue it (the primary's
   * store is the first). Keys already queued are not queued twice; those being reconciled run
   * once more. Predicates do not apply: a resync exists to reconcile what no event announced.
   */
  resync(): number {
    const primary = this.stores[0];
    if (!primary) return 0;
    const objects = primary.list();
    for (const obj of objects) this.queue.add(objectKey(obj));
    return objects.length;
  }

  async run({ stop, cancel }: RunOptions): Promise<void> {
    if (this.started) throw new Error(`controller ${this.name} already ran`);
    this.started = true;
    const onStop = (): void => this.queue.shutDown();
    stop.addEventListener("abort", onStop, { once: true });
    if (stop.aborted) onStop();
    try {
      while (!this.hasSynced() && !stop.aborted) await this.clock.sleep(SYNC_POLL_MS, stop);
      if (stop.aborted) return;
      this.log.info({ workers: this.opts.workers }, "caches synced; starting workers");
      await Promise.all(Array.from({ length: this.opts.workers }, () => this.worker(stop, cancel)));
      this.log.info("workers stopped");
    } finally {
      stop.removeEventListener("abort", onStop);
    }
  }

  /** A predicate that throws is logged and taken as true: a bug must not lose a reconcile. */
  private accepts(predicate: (event: StoreEvent) => boolean, event: StoreEvent, res: Resource): boolean {
    try {
      return predicate(event);
    } catch (err) {
      this.log.error({ err, kind: res.kind }, "watch predicate failed");
      return true;
    }
  }

  /** Store handlers only enqueue; a mapping function that throws is logged, never propagated. */
  private onStoreEvent(
    event: StoreEvent,
    map: (obj: KubeObject) => ObjectKey[],
    res: Resource,
    batchMs?: number,
  ): void {
    const objects =
      event.type === "resync"
        ? event.objects
        : event.type === "upsert" && event.previous
          ? [event.previous, event.object]
          : [event.object];
    const keys = new Set<ObjectKey>();
    for (const obj of objects) {
      try {
        for (const key of map(obj)) if (key) keys.add(key);
      } catch (err) {
        this.log.error({ err, kind: res.kind, object: objectKey(obj) }, "mapping function failed");
      }
    }
    for (const key of keys) {
      if (batchMs) this.queue.addWithin(key, batchMs);
      else this.queue.add(key);
    }
  }

  private async worker(stop: AbortSignal, cancel: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      // After shutDown the queue still hands out queued keys; leave them for the next leader.
      if (!stop.aborted) await this.process(key, cancel);
      this.queue.done(key);
    }
  }

  private async process(key: ObjectKey, signal: AbortSignal): Promise<void> {
    const reconcileId = randomUUID();
    const started = this.clock.now();
    activeWorkers.inc({ controller: this.name });
    let outcome: Outcome;
    try {
      outcome = { kind: "success", result: (await this.opts.reconcile(key, { reconcileId, signal })) ?? {} };
    } catch (error) {
      outcome = await this.reportIfRefused(key, error);
    } finally {
      activeWorkers.dec({ controller: this.name });
    }
    this.handleOutcome(key, outcome, reconcileId, this.clock.now() - started);
  }

  /** A refusal goes onto the primary's status before the key is requeued; other errors pass through. */
  private async reportIfRefused(key: ObjectKey, error: unknown): Promise<Outcome> {
    const reporting = this.opts.refusals;
    const refusal = reporting ? refusalOf(error) : undefined;
    if (!reporting || !refusal) return { kind: "error", error };
    childRejectedTotal.inc({ controller: this.name, reason: refusal.reason, kind: refusal.kind ?? "" });
    const primary = this.stores[0]?.get(key);
    const owners = reporting.ownersOf ? reporting.ownersOf(key) : primary ? [primary] : [];
    if (owners.length === 0) return { kind: "refused", refusal, reported: "failed" };
    let reported: "new" | "repeat" | "failed" = "repeat";
    for (const owner of owners) {
      try {
        if ((await reporting.reporter.report(owner, refusal)) === "new" && reported === "repeat")
          reported = "new";
      } catch (err) {
        reported = "failed";
        this.log.error(
          { namespace: owner.metadata.namespace, name: owner.metadata.name, err },
          "could not report a refused write on the object's status",
        );
      }
    }
    return { kind: "refused", refusal, reported };
  }

  /**
   * The one place an outcome becomes a queue action, a metric and a log line:
   * success → forget (and addAfter when asked); TerminalError → forget, never retried;
   * 409 Conflict → immediate requeue (the cache is simply behind); anything else → backoff.
   */
  private handleOutcome(key: ObjectKey, outcome: Outcome, reconcileId: string, durationMs: number): void {
    const controller = this.name;
    const { namespace, name } = splitKey(key);
    const fields = { namespace, name, reconcileId, durationMs };
    reconcileTimeSeconds.observe({ controller }, durationMs / 1000);

    if (outcome.kind === "success") {
      this.conflicts.delete(key);
      this.refused.delete(key);
      this.queue.forget(key);
      const after = outcome.result.requeueAfterMs;
      const requeue = after !== undefined && Number.isFinite(after) && after > 0;
      if (requeue) this.queue.addAfter(key, after);
      const result = requeue ? "requeue_after" : "success";
      reconcileTotal.inc({ controller, result });
      this.log.info({ ...fields, result, ...(requeue ? { requeueAfterMs: after } : {}) }, "reconciled");
      return;
    }

    if (outcome.kind === "refused") {
      // Retrying the same write cannot succeed until someone fixes the spec (which requeues the
      // key at once through the watch), so the retries back off to minutes, not a hot loop.
      this.conflicts.delete(key);
      const attempt = this.refused.get(key) ?? 0;
      this.refused.set(key, attempt + 1);
      const delayMs = refusalRetryDelay(attempt);
      this.queue.forget(key);
      this.queue.addAfter(key, delayMs);
      reconcileTotal.inc({ controller, result: "error" });
      reconcileErrorsTotal.inc({ controller });
      const { refusal, reported } = outcome;
      const line = { ...fields, result: "refused", reason: refusal.reason, retryInMs: delayMs };
      if (reported === "repeat") this.log.debug({ ...line, message: refusal.message }, "write still refused");
      else
        this.log.warn(
          { ...line, message: refusal.message },
          "write refused by the apiserver; reported as Stalled",
        );
      return;
    }

    this.refused.delete(key);
    const err = outcome.error;
    if (err instanceof TerminalError) {
      this.conflicts.delete(key);
      this.queue.forget(key);
      reconcileTotal.inc({ controller, result: "error" });
      reconcileErrorsTotal.inc({ controller });
      terminalReconcileErrorsTotal.inc({ controller });
      this.log.error(
        { ...fields, result: "error", terminal: true, reason: err.reason, err },
        "reconcile failed; not retrying",
      );
      return;
    }

    if (isConflict(err)) {
      const streak = (this.conflicts.get(key) ?? 0) + 1;
      this.conflicts.set(key, streak);
      if (streak <= MAX_IMMEDIATE_CONFLICT_REQUEUES) {
        this.queue.forget(key);
        this.queue.add(key);
        reconcileTotal.inc({ controller, result: "requeue" });
        this.log.info({ ...fields, result: "requeue", conflicts: streak }, "conflict; requeued");
        return;
      }
    } else {
      this.conflicts.delete(key);
    }

    this.queue.addRateLimited(key);
    reconcileTotal.inc({ controller, result: "error" });
    reconcileErrorsTotal.inc({ controller });
    this.log.error(
      { ...fields, result: "error", retries: this.queue.numRequeues(key), err },
      "reconcile failed; retrying",
    );
  }
}
