/**
 * The work queue between event handlers and reconcilers, with client-go's semantics: handlers
 * add keys as often as they like, and each key is reconciled by at most one worker at a time,
 * once per burst of changes. Errors back off per key; requeue-after is a delayed add.
 */
import { exponentialDelay } from "./backoff.js";
import { systemClock, type Clock } from "./types.js";

/** Hooks for client-go's workqueue metrics; the queue stays free of prom-client. */
export interface WorkQueueMetrics {
  /** A key entered the queue (not counted when deduplicated). */
  onAdd(): void;
  /** Keys waiting to be processed, including those that will rerun after their current run. */
  onDepth(depth: number): void;
  /** A delayed add: a rate-limited retry or a requeue-after. */
  onRetry(): void;
  /** Seconds a key waited between being added and handed to a worker. */
  onQueueLatency(seconds: number): void;
  /** Seconds between `get` and `done`. */
  onWorkDuration(seconds: number): void;
}

export interface WorkQueueOptions {
  clock?: Clock;
  metrics?: WorkQueueMetrics;
  /** First per-key retry delay (default 5 ms); it doubles on each failure. */
  baseDelayMs?: number;
  /** Cap on the per-key retry delay (default 5 min). */
  maxDelayMs?: number;
}

/** Min-heap of (deadline, key) for delayed adds. Superseded entries are skipped lazily on pop. */
class DeadlineHeap {
  private readonly items: { at: number; key: string }[] = [];

  push(at: number, key: string): void {
    const a = this.items;
    a.push({ at, key });
    for (let i = a.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.at <= a[i]!.at) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  peek(): { at: number; key: string } | undefined {
    return this.items[0];
  }

  pop(): void {
    const a = this.items;
    const last = a.pop();
    if (!last || a.length === 0) return;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < a.length && a[l]!.at < a[min]!.at) min = l;
      if (r < a.length && a[r]!.at < a[min]!.at) min = r;
      if (min === i) break;
      [a[min], a[i]] = [a[i]!, a[min]!];
      i = min;
    }
  }

  clear(): void {
    this.items.length = 0;
  }
}

/**
 * A deduplicating, rate-limited, delaying work queue (client-go `workqueue`). The invariants:
 * a key is never handed to two workers at once; a key added while queued is queued once; a
 * key added while being processed runs again once, after `done`.
 */
export class WorkQueue {
  private readonly clock: Clock;
  private readonly metrics: WorkQueueMetrics | undefined;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private fifo: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, number>();
  private readonly heap = new DeadlineHeap();
  private timer: { at: number; cancel: AbortController } | undefined;
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.metrics = opts.metrics;
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 300_000;
  }

  /** Marks `key` as needing work. Cheap and idempotent, so event handlers can call it freely. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.addedAt.has(key)) this.addedAt.set(key, this.clock.now());
    this.metrics?.onAdd();
    this.metrics?.onDepth(this.dirty.size);
    if (this.processing.has(key)) return; // `done` queues it again
    this.fifo.push(key);
    this.dispatch();
  }

  /**
   * Adds `key` after `ms` (a reconciler's requeue-after). If the key is already waiting, the
   * earlier deadline wins: asking for work sooner must never be postponed by a later request.
   */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    this.metrics?.onRetry();
    this.later(key, ms);
  }

  /**
   * Adds `key` within `ms`: every call until then joins the same add, so a burst of events
   * becomes one reconcile at the end of a window that opens with the first of them (a key
   * already queued stays where it is). Not a retry: the metrics count it as the add it becomes.
   */
  addWithin(key: string, ms: number): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.later(key, ms);
  }

  private later(key: string, ms: number): void {
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing <= at) return;
    this.delayed.set(key, at);
    this.heap.push(at, key);
    this.schedule();
  }

  /** Retries a failed key after its own exponential backoff (5 ms, 10 ms, … 5 min). */
  addRateLimited(key: string): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.addAfter(key, exponentialDelay(failures, this.baseDelayMs, this.maxDelayMs));
  }

  /** Resets a key's backoff after a success, so its next failure retries quickly again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * Waits for the next key and marks it as processing until `done(key)`. Resolves undefined
   * once the queue is shut down and drained: the worker's signal to exit.
   */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends processing of `key`; if it was added meanwhile, it is queued again now. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (started !== undefined) this.metrics?.onWorkDuration((this.clock.now() - started) / 1000);
    if (this.dirty.has(key)) {
      this.fifo.push(key);
      this.dispatch();
    }
  }

  /**
   * Stops accepting keys and drops delayed ones. Workers still get what is queued; after that
   * `get` resolves undefined.
   */
  shutDown(): void {
    this.shuttingDown = true;
    this.timer?.cancel.abort();
    this.timer = undefined;
    this.delayed.clear();
    this.heap.clear();
    for (const waiter of this.waiters.splice(0)) waiter(this.take());
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Keys waiting for a worker (not those being processed, nor delayed ones). */
  len(): number {
    return this.fifo.length - this.head;
  }

  private take(): string | undefined {
    if (this.head >= this.fifo.length) return undefined;
    const key = this.fifo[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.head);
      this.head = 0;
    }
    const now = this.clock.now();
    this.dirty.delete(key);
    this.processing.add(key);
    this.startedAt.set(key, now);
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (added !== undefined) this.metrics?.onQueueLatency((now - added) / 1000);
    this.metrics?.onDepth(this.dirty.size);
    return key;
  }

  private dispatch(): void {
    while (this.waiters.length > 0 && this.len() > 0) this.waiters.shift()!(this.take());
  }

  /** Keeps one timer, armed for the earliest live deadline. */
  private schedule(): void {
    let next = this.heap.peek();
    while (next && this.delayed.get(next.key) !== next.at) {
      this.heap.pop();
      next = this.heap.peek();
    }
    if (!next || (this.timer && this.timer.at <= next.at)) return;
    this.timer?.cancel.abort();
    const cancel = new AbortController();
    const at = next.at;
    this.timer = { at, cancel };
    void this.clock.sleep(Math.max(0, at - this.clock.now()), cancel.signal).then(() => {
      if (cancel.signal.aborted) return;
      this.timer = undefined;
      this.fireDue();
      this.schedule();
    });
  }

  private fireDue(): void {
    const now = this.clock.now();
    for (let next = this.heap.peek(); next && next.at <= now; next = this.heap.peek()) {
      this.heap.pop();
      if (this.delayed.get(next.key) !== next.at) continue; // superseded by an earlier deadline
      this.delayed.delete(next.key);
      this.add(next.key);
    }
  }
}
