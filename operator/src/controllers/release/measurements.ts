/**
 * Non-blocking measurements (after Argo Rollouts' `metric/provider.go`). A reconcile
 * starts the measurements that are due and returns at once; the runner keeps the in-flight
 * promises, and when one settles it holds the result and asks for the Release to be reconciled.
 * That reconcile folds the held results into status (`foldMeasurements`), judges, writes status
 * once, and only then acknowledges them (`ack`), so a result is never lost to a failed status
 * write.
 *
 * Nothing here is needed to resume: status is the record. After a crash, what was in flight or
 * held but not yet written is simply measured again when it is next due.
 */
import type { Measurement, MetricResult, ReleaseStatus } from "../../api/release.js";
import { measurementTime, recordMeasurement } from "../../analysis/index.js";
import type { Logger } from "../../observability/logger.js";
import type { Clock, ObjectKey } from "../../runtime/types.js";

/** Which analysis of a Release a measurement belongs to. */
export type AnalysisKind = "step" | "background" | "postPromotion";

export interface MeasurementJob {
  key: ObjectKey;
  kind: AnalysisKind;
  metric: string;
  /**
   * Identifies the analysis instance (see `analysisToken`); a result whose analysis has since
   * been restarted or replaced is dropped instead of counting toward the new one.
   */
  analysis: string;
  /** Takes the measurement; rejects only on abort (or a bug, recorded as Inconclusive). */
  run(signal: AbortSignal): Promise<Measurement>;
}

/** A measurement that settled and waits to be folded into status. */
export interface SettledMeasurement {
  id: number;
  kind: AnalysisKind;
  metric: string;
  analysis: string;
  measurement: Measurement;
  /** When it was started, in ms: `measurement.at` has only second precision. */
  takenAt: number;
}

export interface MeasurementRunnerOptions {
  /** Called when a result is held for `key`: enqueue the Release. Never throws into the runner. */
  onSettled(key: ObjectKey, measurement: Measurement): void;
  clock: Pick<Clock, "now">;
  logger: Logger;
}

interface Running {
  analysis: string;
  abort: AbortController;
}

/**
 * In-flight and settled-but-unrecorded measurements, per Release key and per (analysis kind,
 * metric): at most one measurement of a metric runs at a time.
 */
export class MeasurementRunner {
  private readonly running = new Map<ObjectKey, Map<string, Running>>();
  private readonly settled = new Map<ObjectKey, SettledMeasurement[]>();
  private readonly followed = new WeakSet<AbortSignal>();
  private nextId = 1;

  constructor(private readonly opts: MeasurementRunnerOptions) {}

  /**
   * Starts `job` unless one runs for the same key, kind and metric. Returns at once; `parent`
   * (the controller's cancel signal) aborts it on shutdown. Returns whether it started.
   */
  start(job: MeasurementJob, parent?: AbortSignal): boolean {
    let slots = this.running.get(job.key);
    const slot = slotOf(job.kind, job.metric);
    if (slots?.has(slot)) return false;
    if (!slots) this.running.set(job.key, (slots = new Map()));
    const abort = new AbortController();
    const entry: Running = { analysis: job.analysis, abort };
    slots.set(slot, entry);
    if (parent) this.follow(parent);
    if (parent?.aborted) abort.abort(parent.reason);
    const takenAt = this.opts.clock.now();
    const finish = (measurement: Measurement | undefined, error?: unknown): void => {
      // Cancelled (or replaced) meanwhile: the result belongs to nobody.
      if (this.running.get(job.key)?.get(slot) !== entry) return;
      this.release(job.key, slot);
      if (abort.signal.aborted) return;
      const m = measurement ?? this.failedToMeasure(job, error, takenAt);
      const held: SettledMeasurement = {
        id: this.nextId++,
        kind: job.kind,
        metric: job.metric,
        analysis: job.analysis,
        measurement: m,
        takenAt,
      };
      const list = this.settled.get(job.key) ?? [];
      list.push(held);
      this.settled.set(job.key, list);
      try {
        this.opts.onSettled(job.key, m);
      } catch (err) {
        this.opts.logger.error({ err, key: job.key }, "onSettled threw");
      }
    };
    let promise: Promise<Measurement>;
    try {
      promise = job.run(abort.signal);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (m) => finish(m),
      (err: unknown) => finish(undefined, err),
    );
    return true;
  }

  /**
   * Aborts everything in flight when `parent` aborts. One listener per parent signal, not one
   * per measurement: the controller passes the same process-lifetime signal every time.
   */
  private follow(parent: AbortSignal): void {
    if (this.followed.has(parent)) return;
    this.followed.add(parent);
    const abortAll = (): void => {
      for (const key of [...this.running.keys()]) {
        for (const entry of this.running.get(key)?.values() ?? []) entry.abort.abort(parent.reason);
      }
    };
    if (parent.aborted) abortAll();
    else parent.addEventListener("abort", abortAll, { once: true });
  }

  /** Whether a measurement of this metric is in flight for `key`. */
  isRunning(key: ObjectKey, kind: AnalysisKind, metric: string): boolean {
    return this.running.get(key)?.has(slotOf(kind, metric)) ?? false;
  }

  /** Results held for `key`, oldest first; they stay held until `ack`. */
  pending(key: ObjectKey): readonly SettledMeasurement[] {
    return this.settled.get(key) ?? [];
  }

  /** Forgets held results once status recording them has been written (or they were stale). */
  ack(key: ObjectKey, ids: Iterable<number>): void {
    const done = new Set(ids);
    const left = (this.settled.get(key) ?? []).filter((s) => !done.has(s.id));
    if (left.length > 0) this.settled.set(key, left);
    else this.settled.delete(key);
  }

  /**
   * Cancels in-flight measurements of `key` and drops its held results, except those for which
   * `keep(kind, analysis)` holds: the analyses still live. `keep` absent cancels everything
   * (the rollout ended, the Release was deleted).
   */
  cancel(key: ObjectKey, keep: (kind: AnalysisKind, analysis: string) => boolean = () => false): void {
    const slots = this.running.get(key);
    for (const [slot, entry] of slots ?? []) {
      if (keep(kindOf(slot), entry.analysis)) continue;
      this.release(key, slot);
      entry.abort.abort(new Error("measurement cancelled: its analysis is no longer live"));
    }
    const held = this.settled.get(key);
    if (held)
      this.ack(
        key,
        held.filter((s) => !keep(s.kind, s.analysis)).map((s) => s.id),
      );
  }

  /** Number of in-flight measurements across all Releases (for tests and debugging). */
  inFlight(): number {
    let n = 0;
    for (const slots of this.running.values()) n += slots.size;
    return n;
  }

  private release(key: ObjectKey, slot: string): void {
    const slots = this.running.get(key);
    slots?.delete(slot);
    if (slots?.size === 0) this.running.delete(key);
  }

  /**
   * `measure` only rejects on abort or for a spec error, which the controller validates before
   * measuring; anything else is a bug. It is recorded as Inconclusive, as any measurement that
   * could not be taken, so it is bounded by `inconclusiveLimit` rather than retried in a loop.
   */
  private failedToMeasure(job: MeasurementJob, error: unknown, takenAt: number): Measurement {
    this.opts.logger.error({ err: error, key: job.key, metric: job.metric }, "measurement failed");
    const reason = error instanceof Error ? error.message : String(error);
    return {
      at: measurementTime(takenAt),
      phase: "Inconclusive",
      message: `${job.metric}: measurement failed: ${reason}`,
    };
  }
}

const slotOf = (kind: AnalysisKind, metric: string): string => `${kind}/${metric}`;
const kindOf = (slot: string): AnalysisKind => slot.slice(0, slot.indexOf("/")) as AnalysisKind;

/**
 * The identity of an analysis in `status`: the canary revision, the step and the time it began
 * (for post-promotion verification: the promoted revision and the promotion's time). A restarted
 * analysis (a retry, a resume after a problem hold, a new rollout) has another token.
 */
export function analysisToken(status: ReleaseStatus, kind: AnalysisKind): string | undefined {
  if (kind === "postPromotion") {
    const p = status.postPromotion;
    return p ? `postPromotion/${p.revision}/${p.startedAt}` : undefined;
  }
  const canary = status.canaryRevision ?? "";
  if (kind === "step") {
    const a = status.analysis;
    return a ? `step/${canary}/${a.step ?? ""}/${a.startedAt}` : undefined;
  }
  const b = status.backgroundAnalysis;
  return b ? `background/${canary}/${b.startedAt}` : undefined;
}

/**
 * Records held results into `status` with `recordMeasurement`, each into the analysis it was
 * taken for; results for an analysis that no longer exists are returned as `stale`. Pure.
 */
export function foldMeasurements(
  status: ReleaseStatus,
  held: readonly SettledMeasurement[],
): { status: ReleaseStatus; recorded: SettledMeasurement[]; stale: SettledMeasurement[] } {
  let out = status;
  const recorded: SettledMeasurement[] = [];
  const stale: SettledMeasurement[] = [];
  for (const s of held) {
    const token = analysisToken(out, s.kind);
    if (token === undefined || token !== s.analysis) {
      stale.push(s);
      continue;
    }
    recorded.push(s);
    if (s.kind === "step" && out.analysis) {
      out = { ...out, analysis: { ...out.analysis, metrics: record(out.analysis.metrics, s) } };
    } else if (s.kind === "postPromotion" && out.postPromotion) {
      out = {
        ...out,
        postPromotion: { ...out.postPromotion, metrics: record(out.postPromotion.metrics, s) },
      };
    } else if (s.kind === "background" && out.backgroundAnalysis) {
      out = {
        ...out,
        backgroundAnalysis: {
          ...out.backgroundAnalysis,
          metrics: record(out.backgroundAnalysis.metrics, s),
        },
      };
    }
  }
  return { status: out, recorded, stale };
}

function record(results: readonly MetricResult[], s: SettledMeasurement): MetricResult[] {
  const index = results.findIndex((r) => r.name === s.metric);
  const next = recordMeasurement(results[index], s.metric, s.measurement);
  return index < 0 ? [...results, next] : results.map((r, i) => (i === index ? next : r));
}
