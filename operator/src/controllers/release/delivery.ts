/**
 * At-least-once delivery of rollback notifications, as pure decisions on `status.notifications`.
 *
 * The rollback's own status write records a pending notification (its id, no attempt yet): from
 * then on the notification is part of the Release's state, not of a process's memory, so the
 * leader that recorded it, a restarted one or a new one after a failover all see it pending and
 * deliver it. An attempt's outcome is recorded in status afterwards: delivered (`deliveredAt`),
 * retried later with exponential backoff (`nextAttemptAt`), or given up (`failedAt`) on a
 * permanent error or after `GIVE_UP_AFTER_MS` of trying. A process that dies between a
 * successful POST and recording it sends once more: at least once, never lost. The payload's
 * `rollbackId` and the `Idempotency-Key` header carry the id, so a receiver drops the repeat.
 */
import type { PendingNotification, ReleaseStatus } from "../../api/release.js";
import {
  rollbackNotificationOf,
  type AttemptOutcome,
  type RollbackFacts,
  type RollbackNotification,
} from "./notify.js";
import { ROLLBACK_REASONS, type RollbackReason, type StepResult } from "./state.js";

/** First retry after 5 s, doubling, at most 5 min apart. */
export const RETRY_BASE_MS = 5_000;
export const RETRY_MAX_MS = 5 * 60_000;
/** Retries stop this long after the rollback: an on-call page older than that is noise. */
export const GIVE_UP_AFTER_MS = 60 * 60_000;
/** `status.notifications` keeps this many entries (the schema's bound); finished ones go first. */
export const NOTIFICATIONS_LIMIT = 10;

/**
 * What every notification entry has, whatever rolled back: the rules below read only these, so a
 * Release's `status.notifications` and a FeatureToggle's are delivered by the same code.
 */
export type DeliveryEntry = Pick<
  PendingNotification,
  "id" | "at" | "attempts" | "nextAttemptAt" | "deliveredAt" | "failedAt" | "lastError"
>;

/** A status holding notification entries (a Release's, a FeatureToggle's). */
export interface WithNotifications<N extends DeliveryEntry> {
  notifications?: N[];
}

/** The entry type of such a status. */
type EntryOf<S extends WithNotifications<DeliveryEntry>> = NonNullable<S["notifications"]>[number];

/**
 * The id of a rollback: the object (by uid, so a recreated one differs), what was rolled back (a
 * Release's revision, a ramp's id), the time.
 */
export function rollbackId(releaseUid: string, revision: string, abortedAt: string): string {
  const ms = Date.parse(abortedAt);
  return `${releaseUid}/${revision}/${Number.isNaN(ms) ? abortedAt : ms}`;
}

/**
 * A new pending notification, due at once. It carries what the payload says of the rollback
 * (version, reason, message, metric) as the rollback's own reconcile knew it, so whichever
 * process delivers it later sends the same message.
 */
export function pending(
  id: string,
  rollback: NonNullable<StepResult["rolledBack"]>,
  at: string,
  metric?: string,
): PendingNotification {
  const { revision, version, reason, message } = rollback;
  return newEntry({ id, revision, version, reason, message, metric, at });
}

/** A notification entry as first recorded: no attempt yet, due at once, the message bounded. */
export function newEntry<N extends DeliveryEntry & { message?: string }>(
  fields: Omit<N, "attempts" | "nextAttemptAt" | "deliveredAt" | "failedAt" | "lastError">,
): N {
  const message = fields.message === undefined ? undefined : truncate(fields.message);
  return clean({ ...fields, message, attempts: 0, nextAttemptAt: fields.at } as unknown as N);
}

/**
 * The payload of a pending notification: the rollback as recorded in its entry (for an entry
 * recorded without those, by an older operator, from the Release's history), the squad as it
 * is now.
 */
export function payloadOf(
  n: PendingNotification,
  facts: Pick<RollbackFacts, "release" | "squad" | "killedToggles">,
  status: ReleaseStatus,
): RollbackNotification {
  const entry = status.history?.find(
    (h) => h.outcome === "RolledBack" && h.revision === n.revision && h.finishedAt === n.at,
  );
  const reason = [n.reason, entry?.reason].find(isRollbackReason) ?? "Aborted";
  return rollbackNotificationOf({
    ...facts,
    rollback: {
      revision: n.revision,
      version: n.version ?? entry?.version ?? "",
      reason,
      message: n.message ?? `rolled back revision ${n.revision} (${reason})`,
    },
    metric: n.metric,
    at: n.at,
    id: n.id,
  });
}

function isRollbackReason(r: string | undefined): r is RollbackReason {
  return (ROLLBACK_REASONS as readonly (string | undefined)[]).includes(r);
}

/**
 * `list` with `entry` added first (unless its id is there already), within the bound: when full,
 * the oldest finished entry makes room, and only if none is finished the oldest pending one.
 */
export function addNotification<N extends DeliveryEntry>(list: readonly N[] | undefined, entry: N): N[] {
  const current = list ?? [];
  if (current.some((n) => n.id === entry.id)) return [...current];
  const out = [entry, ...current];
  while (out.length > NOTIFICATIONS_LIMIT) {
    const finished = out.map((n, i) => ({ n, i })).filter(({ n }) => !isPending(n));
    const drop = finished.at(-1)?.i ?? out.length - 1;
    out.splice(drop, 1);
  }
  return out;
}

export function isPending(n: DeliveryEntry): boolean {
  return n.deliveredAt === undefined && n.failedAt === undefined;
}

/** The pending notifications whose next attempt is due at `now`. */
export function due<N extends DeliveryEntry>(s: WithNotifications<N>, now: number): N[] {
  return (s.notifications ?? []).filter(
    (n) => isPending(n) && (n.nextAttemptAt === undefined || parse(n.nextAttemptAt, now) <= now),
  );
}

/**
 * Milliseconds until the next attempt of a pending notification; undefined when none waits.
 * `busy`: entries with an attempt in flight, whose end brings a reconcile of its own.
 */
export function nextAttemptInMs(
  s: WithNotifications<DeliveryEntry>,
  now: number,
  busy: (id: string) => boolean = () => false,
): number | undefined {
  const times = (s.notifications ?? [])
    .filter((n) => isPending(n) && !busy(n.id))
    .map((n) => parse(n.nextAttemptAt ?? "", now));
  if (times.length === 0) return undefined;
  return Math.max(0, Math.min(...times) - now);
}

/** What an attempt's outcome does to its entry, and whether it was just given up. */
export function afterAttempt<N extends DeliveryEntry>(
  n: N,
  outcome: AttemptOutcome,
  now: number,
): { entry: N; gaveUp: boolean } {
  const at = new Date(now).toISOString();
  const attempts = n.attempts + (outcome.kind === "skipped" ? 0 : 1);
  const base = { ...n, attempts, nextAttemptAt: undefined };
  switch (outcome.kind) {
    case "delivered":
      return { entry: clean({ ...base, deliveredAt: at, lastError: undefined }), gaveUp: false };
    case "skipped":
      return { entry: clean({ ...base, failedAt: at, lastError: outcome.why }), gaveUp: false };
    case "permanent":
      return { entry: clean({ ...base, failedAt: at, lastError: truncate(outcome.error) }), gaveUp: true };
    case "retryable": {
      const next = now + backoffMs(attempts);
      if (next - parse(n.at, now) > GIVE_UP_AFTER_MS) {
        return { entry: clean({ ...base, failedAt: at, lastError: truncate(outcome.error) }), gaveUp: true };
      }
      const entry = {
        ...base,
        nextAttemptAt: new Date(next).toISOString(),
        lastError: truncate(outcome.error),
      };
      return { entry: clean(entry), gaveUp: false };
    }
  }
}

/** The wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s … at most 5 min. */
export function backoffMs(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));
}

/** One attempt as it ended, with the attempt count its entry had when it began. */
export interface SettledAttempt {
  id: string;
  attemptsBefore: number;
  outcome: AttemptOutcome;
  /** When it ended (ms since the epoch). */
  at: number;
}

/**
 * `status` with the outcomes of settled attempts recorded, and which entries they delivered or
 * gave up. An outcome applies only to a still pending entry whose attempt count is the one the
 * attempt began with: folding the same outcome twice (a status write that failed, then a
 * retry), or an attempt of another process that status has moved past, changes nothing.
 */
export function foldAttempts<S extends WithNotifications<DeliveryEntry>>(
  status: S,
  settled: readonly SettledAttempt[],
): { status: S; delivered: EntryOf<S>[]; gaveUp: EntryOf<S>[] } {
  type N = EntryOf<S>;
  let list = status.notifications as N[] | undefined;
  const delivered: N[] = [];
  const gaveUp: N[] = [];
  for (const s of settled) {
    const n = list?.find((e) => e.id === s.id);
    if (!n || !isPending(n) || n.attempts !== s.attemptsBefore) continue;
    const next = afterAttempt(n, s.outcome, s.at);
    list = replaceNotification(list, next.entry);
    if (next.entry.deliveredAt) delivered.push(next.entry);
    if (next.gaveUp) gaveUp.push(next.entry);
  }
  return {
    status: list === status.notifications ? status : { ...status, notifications: list },
    delivered,
    gaveUp,
  };
}

/** `list` with the entry of the same id replaced. */
export function replaceNotification<N extends DeliveryEntry>(
  list: readonly N[] | undefined,
  entry: N,
): N[] | undefined {
  if (!list) return undefined;
  return list.map((n) => (n.id === entry.id ? entry : n));
}

function parse(text: string, fallback: number): number {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? fallback : ms;
}

function truncate(text: string): string {
  return text.length > 1024 ? `${text.slice(0, 1021)}...` : text;
}

function clean<N>(n: N): N {
  return Object.fromEntries(Object.entries(n as object).filter(([, v]) => v !== undefined)) as N;
}
