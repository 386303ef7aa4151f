/**
 * Keeps a Store equal to the apiserver's view of one kind: paged LIST, then WATCH from the
 * list's resourceVersion, for as long as the process runs. The loop is a small state machine
 * (as kube-rs `watcher.rs`): every transition is explicit, so "what happens after a 410 while
 * watching" has one answer in one place.
 */
import type { Logger } from "pino";
import { Backoff } from "./backoff.js";
import { ApiError, type KubeClient } from "./client.js";
import type { Store } from "./store.js";
import { systemClock, type Clock, type KubeObject, type Resource, type WatchEvent } from "./types.js";

/** Where the reflector is. The resourceVersion to resume from lives in the state, nowhere else. */
export type ReflectorState<T extends KubeObject = KubeObject> =
  | { phase: "Empty" }
  /** Part-way through a paged LIST: the pages fetched so far and the token for the next one. */
  | { phase: "Listing"; continueToken: string; items: T[] }
  | { phase: "Watching"; resourceVersion: string };

/**
 * How a watch ended, for `crescendo_watch_restarts_total`: `expired` when the apiserver closed it
 * at the timeout it asked for (the normal end, every 5-10 min by default); `closed` when it
 * closed sooner with no error (an apiserver shutting down); `gone` when its resourceVersion had
 * expired (410, a relist follows); `failed` on any other error, retried with backoff.
 */
export const WATCH_ENDS = ["expired", "closed", "gone", "failed"] as const;
export type WatchEnd = (typeof WATCH_ENDS)[number];

export interface ReflectorOptions<T extends KubeObject> {
  client: KubeClient;
  resource: Resource;
  namespace?: string;
  /** Lists and watches only the objects carrying these labels, e.g. `app.kubernetes.io/managed-by=crescendo`. */
  labelSelector?: string;
  /** Lists and watches only the objects whose fields match, e.g. `metadata.name=x`. */
  fieldSelector?: string;
  store: Store<T>;
  clock?: Clock;
  random?: () => number;
  logger?: Pick<Logger, "debug" | "info" | "warn">;
  pageSize?: number;
  /**
   * Each watch asks the apiserver to end it after a random time in [min, max] seconds (default
   * 300-600, as client-go's minWatchTimeout of 5 min), so watches of many clients do not expire
   * in step. `--watch-timeout` sets min, max being twice it.
   */
  minTimeoutSeconds?: number;
  maxTimeoutSeconds?: number;
  /** Called each time a watch ends (the runtime stays free of prom-client). */
  onWatchEnd?: (end: WatchEnd) => void;
}

export interface Reflector<T extends KubeObject> {
  store: Store<T>;
  /** Lists and watches until `signal` aborts; never rejects before that. */
  run(signal: AbortSignal): Promise<void>;
}

/** What one step did: the next state, and the error that ended it (if any) to back off on. */
interface Transition<T extends KubeObject> {
  state: ReflectorState<T>;
  error?: unknown;
  /** True when the step proved the apiserver healthy, which resets the backoff. */
  progressed: boolean;
}

/** Grace beyond the server-side timeout before a silent watch is considered stuck. */
const WATCHDOG_GRACE_MS = 30_000;
/** A watch that ends sooner than this with no events is treated as a failure, as client-go does. */
const SHORT_WATCH_MS = 1_000;

class WatchdogExpired extends Error {
  constructor(ms: number) {
    super(`watch saw no event or bookmark for ${ms} ms`);
    this.name = "WatchdogExpired";
  }
}

/**
 * Creates a reflector. `client-node`'s informer has no bookmarks, no server-side timeout and
 * stops on some errors; this one retries forever with backoff, relists only when the
 * resourceVersion is gone (410), and aborts a watch that has gone silent.
 */
export function createReflector<T extends KubeObject>(opts: ReflectorOptions<T>): Reflector<T> {
  const { client, resource, store } = opts;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const pageSize = opts.pageSize ?? 500;
  const minTimeout = opts.minTimeoutSeconds ?? 300;
  const maxTimeout = opts.maxTimeoutSeconds ?? 600;
  const log = { kind: resource.kind, namespace: opts.namespace };

  async function list(state: ReflectorState<T>, signal: AbortSignal): Promise<Transition<T>> {
    const continueToken = state.phase === "Listing" ? state.continueToken : undefined;
    const items = state.phase === "Listing" ? state.items : [];
    try {
      const page = await client.list<T>(
        resource,
        {
          namespace: opts.namespace,
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: pageSize,
          continue: continueToken,
        },
        signal,
      );
      const all = items.length ? items.concat(page.items) : page.items;
      if (page.metadata.continue) {
        return {
          state: { phase: "Listing", continueToken: page.metadata.continue, items: all },
          progressed: true,
        };
      }
      store.replace(all, page.metadata.resourceVersion);
      opts.logger?.debug(
        { ...log, count: all.length, resourceVersion: page.metadata.resourceVersion },
        "listed",
      );
      return {
        state: { phase: "Watching", resourceVersion: page.metadata.resourceVersion },
        progressed: true,
      };
    } catch (error) {
      // An expired continue token cannot be resumed: start the list again from the top.
      if (isExpired(error)) return { state: { phase: "Empty" }, progressed: false };
      return { state, error, progressed: false };
    }
  }

  async function watch(resourceVersion: string, signal: AbortSignal): Promise<Transition<T>> {
    const startedAt = clock.now();
    const timeoutSeconds = minTimeout + Math.floor(random() * (maxTimeout - minTimeout + 1));
    const t = await watchFor(resourceVersion, timeoutSeconds, signal);
    if (!signal.aborted) opts.onWatchEnd?.(endOf(t, clock.now() - startedAt, timeoutSeconds));
    return t;
  }

  /** How a watch ended: at its timeout (with a little slack for the round trip) or otherwise. */
  function endOf(t: Transition<T>, ranMs: number, timeoutSeconds: number): WatchEnd {
    if (t.state.phase === "Empty") return "gone";
    if (t.error !== undefined) return "failed";
    return ranMs >= timeoutSeconds * 1000 - 1000 ? "expired" : "closed";
  }

  async function watchFor(
    resourceVersion: string,
    timeoutSeconds: number,
    signal: AbortSignal,
  ): Promise<Transition<T>> {
    const limitMs = timeoutSeconds * 1000 + WATCHDOG_GRACE_MS;
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const startedAt = clock.now();
    let lastSeen = startedAt;
    let rv = resourceVersion;
    let events = 0;
    const dog = watchdog(clock, limitMs, () => lastSeen, ctl);
    const at = (): ReflectorState<T> => ({ phase: "Watching", resourceVersion: rv });
    try {
      const stream = client.watch<T>(
        resource,
        {
          namespace: opts.namespace,
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
        ctl.signal,
      );
      for await (const event of stream) {
        lastSeen = clock.now();
        events++;
        if (event.type === "ERROR") {
          if (event.object.code === 410) return { state: { phase: "Empty" }, progressed: events > 1 };
          return { state: at(), error: watchEventError(event), progressed: events > 1 };
        }
        rv = apply(event) ?? rv;
      }
      if (events === 0 && clock.now() - startedAt < SHORT_WATCH_MS) {
        return {
          state: at(),
          error: new Error("watch closed immediately with no events"),
          progressed: false,
        };
      }
      return { state: at(), progressed: events > 0 };
    } catch (error) {
      if (isExpired(error)) return { state: { phase: "Empty" }, progressed: events > 0 };
      return { state: at(), error: ctl.signal.aborted ? ctl.signal.reason : error, progressed: events > 0 };
    } finally {
      signal.removeEventListener("abort", onAbort);
      dog.stop();
    }
  }

  /** Applies one event to the store; returns the resourceVersion it carries. */
  function apply(event: WatchEvent<T>): string | undefined {
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
        store.upsert(event.object);
        break;
      case "DELETED":
        store.delete(event.object);
        break;
      case "BOOKMARK":
        break;
      default:
        return undefined; // an event type from the future: skip it
    }
    return event.object.metadata.resourceVersion || undefined;
  }

  function step(state: ReflectorState<T>, signal: AbortSignal): Promise<Transition<T>> {
    switch (state.phase) {
      case "Empty":
      case "Listing":
        return list(state, signal);
      case "Watching":
        return watch(state.resourceVersion, signal);
    }
  }

  return {
    store,
    async run(signal) {
      const backoff = new Backoff({ initialMs: 800, maxMs: 30_000, random });
      let state: ReflectorState<T> = { phase: "Empty" };
      while (!signal.aborted) {
        // Steps catch their own errors; this guard only keeps a bug from ending the loop.
        const t: Transition<T> = await step(state, signal).catch((error: unknown) => ({
          state,
          error,
          progressed: false,
        }));
        if (signal.aborted) break;
        if (t.state.phase === "Empty" && state.phase === "Watching") {
          opts.logger?.info(
            { ...log, resourceVersion: state.resourceVersion },
            "resourceVersion expired; relisting",
          );
        }
        state = t.state;
        if (t.progressed) backoff.reset();
        if (t.error !== undefined) {
          const delayMs = backoff.next();
          opts.logger?.warn(
            { ...log, phase: state.phase, err: t.error, delayMs },
            "list/watch failed; retrying",
          );
          await clock.sleep(delayMs, signal);
        }
      }
    },
  };
}

/**
 * Aborts `ctl` once `lastSeen()` is more than `limitMs` in the past. A watch through a dead
 * load balancer can hang with no error at all; this is what notices.
 */
function watchdog(
  clock: Clock,
  limitMs: number,
  lastSeen: () => number,
  ctl: AbortController,
): { stop(): void } {
  const stopped = new AbortController();
  void (async () => {
    while (!stopped.signal.aborted && !ctl.signal.aborted) {
      const remaining = lastSeen() + limitMs - clock.now();
      if (remaining <= 0) return ctl.abort(new WatchdogExpired(limitMs));
      await clock.sleep(remaining, stopped.signal);
    }
  })();
  return { stop: () => stopped.abort() };
}

function isExpired(error: unknown): boolean {
  return error instanceof ApiError && error.status === 410;
}

function watchEventError(event: Extract<WatchEvent, { type: "ERROR" }>): Error {
  const { code, reason, message } = event.object;
  return new Error(`watch ERROR event: ${code ?? "?"} ${reason ?? ""}: ${message ?? ""}`.trim());
}
