/**
 * Runs on-call notification attempts beside the reconciles, as `MeasurementRunner` runs
 * measurements: a reconcile starts the attempts `status.notifications` says are due and returns
 * at once (a POST may take its whole timeout); an attempt's outcome is held here and
 * `onSettled` records it in status at once (`ReleaseReconciler.recordAttempts`), the next
 * reconcile folding it in (`foldAttempts`) if that write failed; whichever writes it acks it.
 * Only status decides what is sent: this holds no retry schedule, so a process that stops loses
 * nothing but the outcome of an attempt in flight, which the next leader repeats. One attempt
 * per id at a time, and none while an outcome is held: a process never sends one id twice at once.
 */
import type { Logger } from "../../observability/logger.js";
import type { Clock, ObjectKey } from "../../runtime/types.js";
import type { SettledAttempt } from "./delivery.js";
import type { AttemptOutcome } from "./notify.js";

export interface NotificationAttempt {
  key: ObjectKey;
  /** The notification's id (the rollback id). */
  id: string;
  /** Its entry's `attempts` when this attempt begins. */
  attemptsBefore: number;
  /**
   * The attempt itself; the signal aborts it on shutdown or when the Release is gone. It
   * resolves to `undefined` when it found, before sending, that status has moved past the entry
   * (delivered or attempted by another process): nothing was sent, and there is nothing to record.
   */
  send: (signal: AbortSignal) => Promise<AttemptOutcome | undefined>;
}

export interface NotificationRunnerOptions {
  clock: Pick<Clock, "now">;
  logger: Logger;
  /** Called when an attempt settles, to record its outcome (and bring a reconcile). */
  onSettled: (key: ObjectKey) => void;
}

export class NotificationRunner {
  /** In flight, by key then id. */
  private readonly running = new Map<ObjectKey, Map<string, AbortController>>();
  private readonly settled = new Map<ObjectKey, SettledAttempt[]>();
  private readonly stopping = new AbortController();

  constructor(private readonly opts: NotificationRunnerOptions) {}

  /**
   * Starts `job` unless an attempt of that id is in flight or its outcome is not recorded yet.
   * Returns whether it started.
   */
  start(job: NotificationAttempt): boolean {
    if (this.stopping.signal.aborted || this.busy(job.key, job.id)) return false;
    let slots = this.running.get(job.key);
    if (!slots) this.running.set(job.key, (slots = new Map()));
    const abort = new AbortController();
    slots.set(job.id, abort);
    const signal = AbortSignal.any([abort.signal, this.stopping.signal]);
    const finish = (outcome: AttemptOutcome | undefined): void => {
      if (this.running.get(job.key)?.get(job.id) !== abort) return;
      this.release(job.key, job.id);
      // Aborted: the outcome is unknown, and the entry stays due for whoever leads next.
      // Not attempted: status is ahead of the cache that asked for it; its next event brings it.
      if (signal.aborted || outcome === undefined) return;
      const list = this.settled.get(job.key) ?? [];
      list.push({ id: job.id, attemptsBefore: job.attemptsBefore, outcome, at: this.opts.clock.now() });
      this.settled.set(job.key, list);
      try {
        this.opts.onSettled(job.key);
      } catch (err) {
        this.opts.logger.error({ err, key: job.key }, "onSettled threw");
      }
    };
    let promise: Promise<AttemptOutcome | undefined>;
    try {
      promise = job.send(signal);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(finish, (err: unknown) =>
      finish({ kind: "retryable", error: err instanceof Error ? err.message : String(err) }),
    );
    return true;
  }

  /** Whether an attempt of `id` is in flight, or settled and not yet recorded. */
  busy(key: ObjectKey, id: string): boolean {
    return (
      (this.running.get(key)?.has(id) ?? false) || (this.settled.get(key) ?? []).some((s) => s.id === id)
    );
  }

  /** Outcomes held for `key`, oldest first, until `ack`. */
  pending(key: ObjectKey): readonly SettledAttempt[] {
    return this.settled.get(key) ?? [];
  }

  /** Forgets held outcomes once the status recording them is written. */
  ack(key: ObjectKey, ids: Iterable<string>): void {
    const done = new Set(ids);
    const left = (this.settled.get(key) ?? []).filter((s) => !done.has(s.id));
    if (left.length > 0) this.settled.set(key, left);
    else this.settled.delete(key);
  }

  /** The Release is gone: abort its attempts, drop its outcomes. */
  cancel(key: ObjectKey): void {
    for (const abort of this.running.get(key)?.values() ?? []) abort.abort();
    this.running.delete(key);
    this.settled.delete(key);
  }

  /**
   * Shutdown: aborts every attempt in flight and starts none. Nothing is lost: each entry is
   * still pending in status, and the next leader attempts it. Idempotent.
   */
  close(): void {
    if (this.stopping.signal.aborted) return;
    const inFlight = [...this.running.values()].reduce((n, m) => n + m.size, 0);
    if (inFlight > 0) {
      this.opts.logger.info(
        { inFlight },
        "shutting down: on-call notifications in flight are left to the next leader",
      );
    }
    this.stopping.abort(new Error("the notification runner is closed"));
  }

  /** Attempts in flight across all Releases (tests). */
  inFlight(): number {
    let n = 0;
    for (const m of this.running.values()) n += m.size;
    return n;
  }

  private release(key: ObjectKey, id: string): void {
    const slots = this.running.get(key);
    slots?.delete(id);
    if (slots?.size === 0) this.running.delete(key);
  }
}
