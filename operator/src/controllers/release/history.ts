/**
 * `status.history`: the last rollouts, newest first, each with its revision, version, start,
 * end, outcome and reason — the raw data for the DORA keys (operator/src/delivery). Entries are
 * written once, when a rollout ends (promoted, rolled back or superseded) or when a Degraded
 * stable revision is restored, and never rewritten. They carry what the delivery figures need
 * and only the state machine knows at that instant: the change (`spec.change`) of the
 * revision, and the first failing measurement of a rolled-back rollout.
 */
import type { HistoryEntry, MetricResult, ReleaseChange, ReleaseStatus } from "../../api/release.js";

/** `status.history` keeps this many rollouts, newest first. */
export const HISTORY_LIMIT = 20;

/** One finished rollout; `extra` adds the change it carried and when it started failing. */
export function historyEntry(
  revision: string,
  version: string,
  startedAt: string,
  finishedAt: string,
  outcome: HistoryEntry["outcome"],
  reason: string,
  extra: {
    change?: ReleaseChange | undefined;
    failureStartedAt?: string | undefined;
    /** The stable revision a promotion replaced (kept for undo while the entry is). */
    replacedRevision?: string | undefined;
    /** The action that made the entry (an undo's `crescendo.dev/action-id`). */
    actionId?: string | undefined;
  } = {},
): HistoryEntry {
  return {
    revision,
    version,
    startedAt,
    finishedAt,
    outcome,
    reason,
    ...(extra.change ? { change: extra.change } : {}),
    ...(extra.failureStartedAt ? { failureStartedAt: extra.failureStartedAt } : {}),
    ...(extra.replacedRevision && extra.replacedRevision !== revision
      ? { replacedRevision: extra.replacedRevision }
      : {}),
    ...(extra.actionId ? { actionId: extra.actionId.slice(0, 64) } : {}),
  };
}

/**
 * Ends a Degraded period of the stable revision, if one is open: traffic is on an available
 * revision again (it recovered, or another revision took over). The period becomes a
 * `Degraded` history entry, so failed deployment recovery time can be measured from its start.
 */
export function endDegradation(s: ReleaseStatus, at: string, reason: string): ReleaseStatus {
  if (!s.degradedSince) return s;
  const entry = historyEntry(
    s.stableRevision ?? "",
    s.stableVersion ?? "",
    s.degradedSince,
    at,
    "Degraded",
    reason,
  );
  return { ...s, degradedSince: undefined, history: recordHistory(s.history, entry) };
}

/**
 * The earliest failing measurement the status still holds for the rollout's analyses (the step
 * analysis and the background one), at or after the rollout's start: when the failure began,
 * as far as the measurements tell. Undefined when no measurement failed (an abort, a deadline).
 */
export function firstFailure(s: ReleaseStatus): string | undefined {
  const since = s.rolloutStartedAt === undefined ? NaN : Date.parse(s.rolloutStartedAt);
  const metrics: MetricResult[] = [...(s.analysis?.metrics ?? []), ...(s.backgroundAnalysis?.metrics ?? [])];
  let first: { ms: number; at: string } | undefined;
  for (const m of metrics) {
    for (const measurement of m.measurements) {
      if (measurement.phase !== "Failed") continue;
      const ms = Date.parse(measurement.at);
      if (Number.isNaN(ms) || (!Number.isNaN(since) && ms < since)) continue;
      if (!first || ms < first.ms) first = { ms, at: measurement.at };
    }
  }
  return first?.at;
}

/** Prepends a finished rollout, keeping the newest `HISTORY_LIMIT`. */
export function recordHistory(history: HistoryEntry[] | undefined, entry: HistoryEntry): HistoryEntry[] {
  return [entry, ...(history ?? [])].slice(0, HISTORY_LIMIT);
}
