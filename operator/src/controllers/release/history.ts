/**
 * `status.history`: the last rollouts, newest first, each with its revision, version, start,
 * end, outcome and reason — the raw data for DORA metrics (deployment frequency, lead time,
 * change failure rate). Entries are written once, when a rollout ends (promoted, rolled back or
 * superseded), and never rewritten.
 */
import type { HistoryEntry } from "../../api/release.js";

/** `status.history` keeps this many rollouts, newest first. */
export const HISTORY_LIMIT = 20;

/** One finished rollout. */
export function historyEntry(
  revision: string,
  version: string,
  startedAt: string,
  finishedAt: string,
  outcome: HistoryEntry["outcome"],
  reason: string,
): HistoryEntry {
  return { revision, version, startedAt, finishedAt, outcome, reason };
}

/** Prepends a finished rollout, keeping the newest `HISTORY_LIMIT`. */
export function recordHistory(history: HistoryEntry[] | undefined, entry: HistoryEntry): HistoryEntry[] {
  return [entry, ...(history ?? [])].slice(0, HISTORY_LIMIT);
}
