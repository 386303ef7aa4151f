/**
 * A Squad's delivery ledger: its change records of the last 30 days (pruned by age, not by
 * count) and the cumulative totals exported as Prometheus counters and histograms. Folding the
 * Releases' histories into it counts every new fact exactly once: a fact already in the ledger
 * is not new, and the ledger is written in the same status write as the totals it moved, so an
 * operator restarted at any instant neither loses nor repeats a count. Pure.
 */
import { DAY_MS } from "../api/common.js";
import type { ChangeRecord, DeliveryTotals, HistogramTotals } from "../api/delivery.js";
import { changeKey, deriveChanges, ms, type ReleaseHistory } from "./changes.js";
import { restoreByIncident, type IncidentResolution } from "./incident-recovery.js";

/** Records are kept this long after their last fact: the longest window the figures cover. */
export const LEDGER_HORIZON_MS = 30 * DAY_MS;

/**
 * A safety bound, far above any squad's month (66 changes a day), so a runaway never grows the
 * Squad object past what etcd stores; reaching it is reported (`truncatedBefore`), not hidden.
 */
export const LEDGER_LIMIT = 2000;

/** Change lead time buckets (seconds): 5 minutes to 180 days, edges at the DORA levels (1 d, 1 w, 30 d, 180 d). */
export const LEAD_TIME_BUCKETS = [
  300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800, 1209600, 2592000, 7776000, 15552000,
];

/** Recovery time buckets (seconds): 1 minute to 30 days, edges at the DORA levels (1 h, 1 d, 1 w, 30 d). */
export const RECOVERY_BUCKETS = [
  60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800, 2592000,
];

export interface Ledger {
  records: ChangeRecord[];
  totals: DeliveryTotals;
  /** Set when LEDGER_LIMIT dropped records younger than the horizon: the figures start here. */
  truncatedBefore?: string;
}

export function emptyTotals(since: string): DeliveryTotals {
  return {
    since,
    changes: 0,
    failedChanges: 0,
    deployments: 0,
    leadTimeFromCommit: emptyHistogram(LEAD_TIME_BUCKETS),
    leadTimeFromRolloutStart: emptyHistogram(LEAD_TIME_BUCKETS),
    recovery: emptyHistogram(RECOVERY_BUCKETS),
  };
}

function emptyHistogram(bounds: readonly number[]): HistogramTotals {
  return { count: 0, sumSeconds: 0, buckets: bounds.map(() => 0) };
}

/**
 * The ledger after reading every Release of the squad. `previous` is the ledger from the last
 * status (undefined the first time); Releases that are gone keep their records until they age out.
 * `incidents` (the Squad's `status.incidents`) restore the changes their reverts failed.
 */
export function foldLedger(
  previous: Ledger | undefined,
  releases: readonly ReleaseHistory[],
  now: number,
  revertWindowMs?: number,
  incidents: readonly IncidentResolution[] = [],
): Ledger {
  const horizon = now - LEDGER_HORIZON_MS;
  const before = new Map((previous?.records ?? []).map((r) => [changeKey(r), r]));
  const byRelease = new Map<string, ChangeRecord[]>();
  for (const r of before.values()) byRelease.set(r.release, [...(byRelease.get(r.release) ?? []), r]);

  const totals = structuredClone(previous?.totals ?? emptyTotals(new Date(now).toISOString()));
  const merged = new Map(before);
  for (const release of releases) {
    for (const r of deriveChanges(release, byRelease.get(release.release) ?? [], revertWindowMs)) {
      const key = changeKey(r);
      const old = before.get(key);
      // A record the ledger no longer holds and whose last fact is past the horizon was pruned
      // (or predates the ledger): reading it again from a long history must not count it again.
      if (!old && lastFact(r) < horizon) continue;
      count(totals, old, r);
      merged.set(key, r);
    }
  }
  // An incident's revert is restored by its incident, whether or not its Release is still there.
  for (const [key, r] of merged) {
    const restored = restoreByIncident(r, incidents, now);
    if (restored === r) continue;
    count(totals, r, restored);
    merged.set(key, restored);
  }

  // An open failure stays until restored, however old: its recovery is still to be counted.
  const kept = [...merged.values()].filter((r) => lastFact(r) >= horizon || isOpen(r)).sort(newestFirst);
  const truncated = kept.length > LEDGER_LIMIT ? kept[LEDGER_LIMIT - 1] : undefined;
  const truncatedBefore = truncated ? decidedAt(truncated) : previous?.truncatedBefore;
  return {
    records: kept.slice(0, LEDGER_LIMIT),
    totals,
    ...(truncatedBefore !== undefined && ms(truncatedBefore) >= horizon ? { truncatedBefore } : {}),
  };
}

/** Adds to the totals what `after` knows that `before` did not. */
function count(totals: DeliveryTotals, before: ChangeRecord | undefined, after: ChangeRecord): void {
  const decided = (r: ChangeRecord | undefined) => r?.deployedAt !== undefined || r?.failure !== undefined;
  if (!decided(before) && decided(after)) totals.changes += 1;
  if (before?.deployedAt === undefined && after.deployedAt !== undefined) {
    totals.deployments += 1;
    if (after.leadTimeSeconds !== undefined) {
      const hist =
        after.leadTimeFrom === "Commit" ? totals.leadTimeFromCommit : totals.leadTimeFromRolloutStart;
      observe(hist, LEAD_TIME_BUCKETS, after.leadTimeSeconds);
    }
  }
  if (before?.failure === undefined && after.failure !== undefined) totals.failedChanges += 1;
  const recovery = recoverySeconds(after);
  if (before?.restoredAt === undefined && recovery !== undefined)
    observe(totals.recovery, RECOVERY_BUCKETS, recovery);
}

function observe(hist: HistogramTotals, bounds: readonly number[], value: number): void {
  hist.count += 1;
  hist.sumSeconds += value;
  if (hist.buckets.length !== bounds.length) hist.buckets = bounds.map(() => 0);
  bounds.forEach((bound, i) => {
    if (value <= bound) hist.buckets[i] = (hist.buckets[i] ?? 0) + 1;
  });
}

/** Failure start to service restored, in whole seconds; undefined until restored. */
export function recoverySeconds(r: ChangeRecord): number | undefined {
  if (r.restoredAt === undefined || r.failureStartedAt === undefined) return undefined;
  return Math.max(0, Math.round((ms(r.restoredAt) - ms(r.failureStartedAt)) / 1000));
}

/** Failed and not restored yet. */
export function isOpen(r: ChangeRecord): boolean {
  return r.failure !== undefined && r.restoredAt === undefined;
}

/** When the change was decided: deployed, or failed before that. */
export function decidedAt(r: ChangeRecord): string {
  const times = [r.deployedAt, r.failedAt].filter((t): t is string => t !== undefined);
  return times.sort((a, b) => ms(a) - ms(b))[0] ?? r.startedAt;
}

/** The time of the record's newest fact. */
export function lastFact(r: ChangeRecord): number {
  const times = [r.startedAt, r.deployedAt, r.failedAt, r.revertedAt, r.restoredAt].filter(
    (t): t is string => t !== undefined,
  );
  return Math.max(...times.map(ms).filter((t) => !Number.isNaN(t)));
}

function newestFirst(a: ChangeRecord, b: ChangeRecord): number {
  return ms(decidedAt(b)) - ms(decidedAt(a)) || changeKey(a).localeCompare(changeKey(b));
}
