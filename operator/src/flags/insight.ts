/**
 * Evaluation insight: which flags are still evaluated, which variants they serve and who reads
 * them. The OFREP server calls `EvaluationInsight.record` once per evaluated flag; counting is a
 * few Map lookups and an array increment, nothing is written per evaluation and nothing is
 * allocated once a flag/variant has been seen in the current hour.
 *
 * Memory is bounded: at most `maxFlags` flags (namespace + key) and, per flag, `maxVariants`
 * variants and `maxCallers` callers; past a cap new entries are dropped (and counted in
 * `dropped`), never evicting what is already counted. Counts live in 24 hourly buckets (a ring
 * indexed by the hour since the epoch), so "the last 24 h" needs no timers: a bucket of an older
 * hour is zeroed when its slot is reused, and ignored when summarised.
 *
 * Each replica counts only the evaluations it served. `report()` is what a replica shares;
 * `summarise()` merges any number of replica reports into one flag's 24 h summary (a sum of
 * disjoint counts, the newest last evaluation, the union of callers), so the leader's summary is
 * correct however app traffic was spread across replicas (docs/featuretoggle.md, "Insight").
 */

export const HOUR_MS = 3_600_000;
export const WINDOW_HOURS = 24;
export const WINDOW_MS = WINDOW_HOURS * HOUR_MS;

export interface InsightLimits {
  /** Distinct flags (namespace + key) counted; default 10,000. */
  maxFlags: number;
  /** Variants per flag; default 32 (the FeatureToggle spec's own limit). */
  maxVariants: number;
  /** Distinct callers remembered per flag; default 100. */
  maxCallers: number;
}

const DEFAULT_LIMITS: InsightLimits = { maxFlags: 10_000, maxVariants: 32, maxCallers: 100 };

/** One flag's counts as a replica reports them: plain JSON, so it can be stored in an object. */
export interface FlagReport {
  /** Epoch ms of the newest evaluation this replica served. */
  lastEvaluatedAt: number;
  /** Hour index (epoch ms / HOUR_MS) → variant → evaluations in that hour. Only the last 24 h. */
  hours: Record<string, Record<string, number>>;
  /** Caller → epoch ms it last evaluated the flag (callers seen in the last 24 h). */
  callers: Record<string, number>;
}

/** One flag's insight over the last 24 h, merged across replicas. */
export interface InsightSummary {
  lastEvaluatedAt?: number;
  /** Variant → evaluations in the 24 h before `now`. */
  byVariant: Record<string, number>;
  /** Callers that evaluated the flag in the 24 h before `now`, sorted. */
  callers: string[];
}

class FlagCounts {
  lastEvaluatedAt = 0;
  /** The hour each ring slot currently holds. */
  readonly slotHour = new Float64Array(WINDOW_HOURS).fill(-1);
  /** Variant → evaluations per ring slot. */
  readonly variants = new Map<string, Float64Array>();
  /** Variant → evaluations since the process started (the metric). */
  readonly totals = new Map<string, number>();
  readonly callers = new Map<string, number>();
  /** Evaluated since its summary was last taken: the first evaluation after that notifies. */
  fresh = false;
}

export class EvaluationInsight {
  private readonly limits: InsightLimits;
  /** Namespace → key → counts: two lookups, no key string built per evaluation. */
  private readonly flags = new Map<string, Map<string, FlagCounts>>();
  private flagCount = 0;
  /** Evaluations not counted because a cap was reached. */
  dropped = 0;
  /** Told of a flag's first evaluation since its summary was taken (the controller queues the namespace). */
  onFresh?: (namespace: string, key: string) => void;

  constructor(
    private readonly now: () => number = Date.now,
    limits: Partial<InsightLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /**
   * Counts one evaluation. `caller` is the identity the auth layer established (e.g. a
   * ServiceAccount `system:serviceaccount:ns:name`); undefined while callers are anonymous.
   */
  record(namespace: string, key: string, variant: string, caller?: string): void {
    const counts = this.countsFor(namespace, key);
    if (!counts) return;
    const now = this.now();
    const hour = Math.floor(now / HOUR_MS);
    const slot = hour % WINDOW_HOURS;
    if (counts.slotHour[slot] !== hour) {
      counts.slotHour[slot] = hour;
      for (const ring of counts.variants.values()) ring[slot] = 0;
    }
    let ring = counts.variants.get(variant);
    if (!ring) {
      if (counts.variants.size >= this.limits.maxVariants) return void this.dropped++;
      counts.variants.set(variant, (ring = new Float64Array(WINDOW_HOURS)));
    }
    ring[slot]! += 1;
    counts.totals.set(variant, (counts.totals.get(variant) ?? 0) + 1);
    if (now > counts.lastEvaluatedAt) counts.lastEvaluatedAt = now;
    if (caller !== undefined) this.recordCaller(counts, caller, now);
    if (!counts.fresh) {
      counts.fresh = true;
      this.onFresh?.(namespace, key);
    }
  }

  /**
   * The flag's summary was taken into status: the next evaluation notifies again. Until then
   * evaluations do not (the controller has already asked to come back when the minute is up).
   */
  taken(namespace: string, key: string): void {
    const counts = this.flags.get(namespace)?.get(key);
    if (counts) counts.fresh = false;
  }

  private countsFor(namespace: string, key: string): FlagCounts | undefined {
    let keys = this.flags.get(namespace);
    let counts = keys?.get(key);
    if (counts) return counts;
    if (this.flagCount >= this.limits.maxFlags) {
      this.dropped++;
      return undefined;
    }
    if (!keys) this.flags.set(namespace, (keys = new Map()));
    keys.set(key, (counts = new FlagCounts()));
    this.flagCount++;
    return counts;
  }

  private recordCaller(counts: FlagCounts, caller: string, now: number): void {
    if (counts.callers.has(caller) || counts.callers.size < this.limits.maxCallers) {
      counts.callers.set(caller, now);
      return;
    }
    // Full: make room by forgetting callers not seen in 24 h, else drop this one.
    for (const [name, seen] of counts.callers) if (seen <= now - WINDOW_MS) counts.callers.delete(name);
    if (counts.callers.size < this.limits.maxCallers) counts.callers.set(caller, now);
    else this.dropped++;
  }

  /** This replica's counts for one flag over the last 24 h, or undefined if it served none. */
  report(namespace: string, key: string): FlagReport | undefined {
    const counts = this.flags.get(namespace)?.get(key);
    if (!counts || counts.lastEvaluatedAt === 0) return undefined;
    const now = this.now();
    const oldest = Math.floor(now / HOUR_MS) - WINDOW_HOURS + 1;
    const hours: FlagReport["hours"] = {};
    for (let slot = 0; slot < WINDOW_HOURS; slot++) {
      const hour = counts.slotHour[slot]!;
      if (hour < oldest) continue;
      for (const [variant, ring] of counts.variants) {
        if (ring[slot]! > 0) (hours[String(hour)] ??= {})[variant] = ring[slot]!;
      }
    }
    const callers: FlagReport["callers"] = {};
    for (const [caller, seen] of counts.callers) if (seen > now - WINDOW_MS) callers[caller] = seen;
    return { lastEvaluatedAt: counts.lastEvaluatedAt, hours, callers };
  }

  /** This replica's reports of every flag it served in the last 24 h, by `namespace/key`. */
  reportAll(): Map<string, FlagReport> {
    const out = new Map<string, FlagReport>();
    for (const [namespace, keys] of this.flags)
      for (const key of keys.keys()) {
        const report = this.report(namespace, key);
        if (report) out.set(`${namespace}/${key}`, report);
      }
    return out;
  }

  /** Evaluations since start per (namespace, flag, variant): what the metric exports. */
  *totals(): Generator<{ namespace: string; flag: string; variant: string; count: number }> {
    for (const [namespace, keys] of this.flags)
      for (const [flag, counts] of keys)
        for (const [variant, count] of counts.totals) yield { namespace, flag, variant, count };
  }

  /** Forgets the flags a namespace no longer serves (a deleted toggle's counts, its metric series). */
  retainFlags(namespace: string, served: Iterable<string>): void {
    const keys = this.flags.get(namespace);
    if (!keys) return;
    const keep = new Set(served);
    for (const key of [...keys.keys()]) {
      if (keep.has(key)) continue;
      keys.delete(key);
      this.flagCount--;
    }
    if (keys.size === 0) this.flags.delete(namespace);
  }

  /** Distinct flags counted (for tests and the bound). */
  get size(): number {
    return this.flagCount;
  }
}

/**
 * Merges replica reports of one flag into its summary at `now`. Replicas count disjoint
 * evaluations (each request is served by one replica), so hourly counts add up; the last
 * evaluation is the newest any replica saw; callers are the union of those seen in the window.
 * Hours outside the 24 h window, and reports from replicas that stopped reporting long ago, add
 * nothing. Pure: the leader's I/O gathers the reports, this decides.
 */
export function summarise(reports: readonly (FlagReport | undefined)[], now: number): InsightSummary {
  const oldest = Math.floor(now / HOUR_MS) - WINDOW_HOURS + 1;
  const newest = Math.floor(now / HOUR_MS);
  const byVariant: Record<string, number> = {};
  const callers = new Set<string>();
  let last = 0;
  for (const report of reports) {
    if (!report) continue;
    if (report.lastEvaluatedAt > last) last = report.lastEvaluatedAt;
    for (const [hourText, variants] of Object.entries(report.hours)) {
      const hour = Number(hourText);
      if (!(hour >= oldest && hour <= newest)) continue;
      for (const [variant, count] of Object.entries(variants)) {
        if (variant === "__proto__") continue;
        byVariant[variant] = (byVariant[variant] ?? 0) + count;
      }
    }
    for (const [caller, seen] of Object.entries(report.callers))
      if (seen > now - WINDOW_MS && seen <= now + HOUR_MS) callers.add(caller);
  }
  return {
    ...(last > 0 ? { lastEvaluatedAt: last } : {}),
    byVariant,
    callers: [...callers].sort(),
  };
}
