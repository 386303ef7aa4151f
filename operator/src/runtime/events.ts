/**
 * Kubernetes Events (`events.k8s.io/v1`) for what users should notice in `kubectl describe`:
 * phase changes, rollbacks, conflicts. Recording an Event is a side channel: it never fails a
 * reconcile, and repeats are folded into one Event's `series` instead of flooding etcd.
 */
import type { Logger } from "../observability/logger.js";
import { isNotFound, type KubeClient } from "./client.js";
import { EventResource } from "./resources.js";
import { systemClock, type Clock, type KubeObject } from "./types.js";

export const REPORTING_CONTROLLER = "crescendo.dev/operator";

export interface EventInput {
  type: "Normal" | "Warning";
  /** Why, in CamelCase (`RolledBack`, `Promoted`); what `kubectl get events` groups by. */
  reason: string;
  /** Human-readable detail; truncated to the apiserver's 1 kB limit. */
  note: string;
  /** What the controller did or failed to do (`Rollback`, `Reconcile`). */
  action: string;
  /** A second object involved, e.g. the Deployment a Release scaled. */
  related?: KubeObject;
}

export interface EventRecorderOptions {
  client: Pick<KubeClient, "create" | "mergePatch">;
  logger: Logger;
  /** This process, e.g. the pod name; shown as the Event's `reportingInstance`. */
  reportingInstance: string;
  reportingController?: string;
  clock?: Clock;
  /** Repeats within this window update the first Event's series (default 10 min, as client-go). */
  dedupWindowMs?: number;
  /** Bound on remembered (object, reason, note) keys; the least recent are forgotten. */
  maxEntries?: number;
  /**
   * Bound on Event writes waiting for the client's rate limit (default 1,000, as client-go's
   * broadcaster). Beyond it new Events are dropped, not queued: a thousand Releases changing at
   * once must not grow the operator's memory, or leave it writing Events long after it settled.
   */
  maxPending?: number;
}

interface SeriesEntry {
  namespace: string;
  name: string;
  count: number;
  lastSeen: number;
  /** Writes for one key run in order, so a repeat never patches an Event not yet created. */
  tail: Promise<void>;
}

/**
 * Writes Events about objects. `record` resolves once the write is done or dropped (tests await it;
 * reconcilers may `void` it) and never rejects: failures are logged.
 */
export class EventRecorder {
  private readonly entries = new Map<string, SeriesEntry>();
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly reportingController: string;
  private readonly maxPending: number;
  private sequence = 0;
  private pending = 0;
  /** Events dropped since the backlog last drained; reported once it has. */
  private dropped = 0;

  constructor(private readonly options: EventRecorderOptions) {
    this.clock = options.clock ?? systemClock;
    this.windowMs = options.dedupWindowMs ?? 10 * 60_000;
    this.maxEntries = options.maxEntries ?? 4096;
    this.reportingController = options.reportingController ?? REPORTING_CONTROLLER;
    this.maxPending = options.maxPending ?? 1000;
  }

  /** Records that `input` happened to `regarding`; a repeat within the window bumps the series. */
  record(regarding: KubeObject, input: EventInput): Promise<void> {
    if (this.pending >= this.maxPending) {
      if (this.dropped++ === 0)
        this.options.logger.warn({ pending: this.pending }, "too many Events waiting; dropping new ones");
      return Promise.resolve();
    }
    this.pending++;
    return this.write(regarding, input).finally(() => this.settled());
  }

  private settled(): void {
    this.pending--;
    if (this.pending > 0 || this.dropped === 0) return;
    this.options.logger.warn({ dropped: this.dropped }, "Event backlog drained; some Events were dropped");
    this.dropped = 0;
  }

  private write(regarding: KubeObject, input: EventInput): Promise<void> {
    const now = this.clock.now();
    this.prune(now);
    const note = truncate(input.note, 1024);
    const key = JSON.stringify([refKey(regarding), input.type, input.reason, input.action, note]);
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      entry.count += 1;
      entry.lastSeen = now;
      const count = entry.count;
      entry.tail = entry.tail.then(() => this.bumpSeries(entry, count, now, regarding, { ...input, note }));
      return entry.tail;
    }
    const fresh: SeriesEntry = {
      ...this.eventName(regarding, now),
      count: 1,
      lastSeen: now,
      tail: Promise.resolve(),
    };
    this.entries.set(key, fresh);
    fresh.tail = this.create(fresh, now, regarding, { ...input, note });
    return fresh.tail;
  }

  private async bumpSeries(
    entry: SeriesEntry,
    count: number,
    now: number,
    regarding: KubeObject,
    input: EventInput,
  ): Promise<void> {
    const series = { count, lastObservedTime: microTime(now) };
    try {
      await this.options.client.mergePatch(EventResource, entry.name, entry.namespace, { series });
    } catch (err) {
      if (!isNotFound(err)) return this.fail(err, regarding, input);
      // The Event expired (1 h TTL by default) or was deleted: start a new one.
      Object.assign(entry, this.eventName(regarding, now), { count: 1 });
      await this.create(entry, now, regarding, input);
    }
  }

  private async create(
    entry: SeriesEntry,
    now: number,
    regarding: KubeObject,
    input: EventInput,
  ): Promise<void> {
    const event: KubeObject = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: entry.name, namespace: entry.namespace },
      eventTime: microTime(now),
      reportingController: this.reportingController,
      reportingInstance: truncate(this.options.reportingInstance, 128),
      action: truncate(input.action, 128),
      reason: truncate(input.reason, 128),
      note: input.note,
      type: input.type,
      regarding: objectReference(regarding),
      ...(input.related ? { related: objectReference(input.related) } : {}),
    };
    try {
      await this.options.client.create(event, EventResource);
    } catch (err) {
      this.fail(err, regarding, input);
    }
  }

  private fail(err: unknown, regarding: KubeObject, input: EventInput): void {
    this.options.logger.warn(
      {
        err,
        kind: regarding.kind,
        namespace: regarding.metadata.namespace,
        name: regarding.metadata.name,
        reason: input.reason,
      },
      "could not record event",
    );
  }

  /** client-go's naming: `<object>.<hex nanoseconds>`; the sequence keeps names unique within a millisecond. */
  private eventName(regarding: KubeObject, now: number): { namespace: string; name: string } {
    this.sequence = (this.sequence + 1) % 1_000_000;
    const nanos = BigInt(Math.trunc(now)) * 1_000_000n + BigInt(this.sequence);
    return {
      // Events about cluster-scoped objects live in "default", as client-go puts them.
      namespace: regarding.metadata.namespace || "default",
      name: `${regarding.metadata.name ?? "unknown"}.${nanos.toString(16)}`,
    };
  }

  /** Entries are kept in last-seen order, so expired or excess ones are all at the front. */
  private prune(now: number): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.lastSeen < this.windowMs && this.entries.size < this.maxEntries) break;
      this.entries.delete(key);
    }
  }
}

function objectReference(obj: KubeObject): Record<string, string> {
  const { name, namespace, uid, resourceVersion } = obj.metadata;
  const ref: Record<string, string | undefined> = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    name,
    namespace,
    uid,
    resourceVersion,
  };
  return Object.fromEntries(
    Object.entries(ref).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""),
  );
}

function refKey(obj: KubeObject): string {
  const { uid, namespace, name } = obj.metadata;
  return uid ?? `${obj.apiVersion ?? ""}/${obj.kind ?? ""}/${namespace ?? ""}/${name ?? ""}`;
}

/** `metav1.MicroTime`: RFC 3339 with exactly six fractional digits, as the apiserver requires. */
export function microTime(now: number): string {
  return new Date(now).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** The apiserver counts bytes, not characters. */
function truncate(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = text.slice(0, maxBytes - 3);
  while (Buffer.byteLength(out) > maxBytes - 3) out = out.slice(0, -1);
  return `${out}...`;
}
