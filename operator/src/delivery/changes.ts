/**
 * Which changes a Release made and how each ended, read from the state machine's own history
 * (`status.history`, oldest entry first) on top of what was already recorded for it. Pure.
 *
 * A change is one revision of one Release: the pod template the rollout carried. It is decided
 * when it first reaches full production traffic (deployed) or is rolled back before that. It
 * fails at most once, whichever comes first: a rollback during its rollout, an abort after its
 * promotion, a switch back to the revision it replaced, a later rollout returning to the
 * previous revision (a revert) within the revert window, or a Degraded period of it within that
 * window. Superseded rollouts never reached production and are not changes; a rollout of a
 * revision that was already deployed is a revert or a redeploy, not a new change; a switch back
 * is a restore, never a deployment. A revert an incident asked for fails its change here and
 * leaves its restore to the incident's resolution (`incident-recovery.ts`); if the change had
 * already failed by a Degraded period that undo ended, that failure is the one linked to the
 * incident, not a second one. A return to the revision a revert took off (the undo undone, the
 * reverted change rolled out again) is no failure of the revision the revert restored: that one
 * was never a change of its own, only the place the revert went back to.
 *
 * Facts are only ever added, never rewritten, so reading the same history again on top of its
 * own result changes nothing: that is what lets the Squad count each fact exactly once.
 */
import type { ChangeRecord, FailureKind, FailureStartFrom } from "../api/delivery.js";
import type { HistoryEntry, ReleaseStatus } from "../api/release.js";

/** How long after its deployment a revert or a Degraded period still counts as the change's failure. */
export const DEFAULT_REVERT_WINDOW_MS = 24 * 3_600_000;

export interface ReleaseHistory {
  /** `namespace/name`. */
  release: string;
  status: Pick<ReleaseStatus, "history" | "degradedSince" | "stableRevision"> | undefined;
}

/** The record's key in a Squad's ledger. */
export function changeKey(r: Pick<ChangeRecord, "release" | "revision">): string {
  return `${r.release}@${r.revision}`;
}

/**
 * The Release's change records: `previous` (what was recorded before, for this Release) with
 * every fact its history and status add. Records are returned in no particular order.
 */
export function deriveChanges(
  input: ReleaseHistory,
  previous: readonly ChangeRecord[],
  revertWindowMs = DEFAULT_REVERT_WINDOW_MS,
): ChangeRecord[] {
  const records = new Map(previous.map((r) => [r.revision, { ...r }]));
  const history = [...(input.status?.history ?? [])].reverse().filter(readable);
  // The revision at full traffic as the walk goes, and the one it replaced (for an abort after promotion).
  let stable: string | undefined;
  let replaced: string | undefined;
  // When `stable` is there by a restore (a revert, an undo, a switch back, an abort after
  // promotion) rather than its own deployment: the revision that restore took off production.
  let returnedFrom: string | undefined;
  // The times of incidents' undos: a Degraded period one of them ended is restored by the
  // incident's resolution (linked below), not by the undo.
  // Revisions that served full traffic as the walk goes, the one a promotion replaced included:
  // a Release's first revision was deployed without a rollout, so it has no entry of its own.
  const served = new Set<string>();
  const incidentUndos = new Set(history.filter((e) => incidentUndo(e) !== undefined).map((e) => e.startedAt));

  const get = (e: HistoryEntry): ChangeRecord => {
    let r = records.get(e.revision);
    if (!r) {
      r = { release: input.release, revision: e.revision, version: e.version, startedAt: e.startedAt };
      records.set(e.revision, r);
    }
    if (e.change?.id && !r.changeId) r.changeId = e.change.id;
    return r;
  };
  const withinWindow = (r: ChangeRecord | undefined, at: string) =>
    r?.deployedAt !== undefined && ms(at) - ms(r.deployedAt) <= revertWindowMs;

  for (const e of history) {
    const at = e.finishedAt ?? e.startedAt;
    switch (e.outcome) {
      case "Superseded":
        break;
      case "Promoted": {
        // Set when this entry's revision replaces `stable` by a restore, not by its own deployment.
        let restore = false;
        if (e.reason === "SwitchedBack") {
          restore = true;
          const left = stable === undefined ? undefined : records.get(stable);
          if (left && stable !== e.revision && returnedFrom !== e.revision) {
            fail(left, "SwitchedBack", at, evidence(left), at);
          }
        } else {
          const r = records.get(e.revision);
          // An undo returns to a revision deployed before by definition, and so does a rollout of
          // one that served before, even a Release's first one, which was deployed, never rolled
          // out, and so has no record of its own (an entry that replaced it names it).
          const before =
            (r?.deployedAt !== undefined && ms(r.deployedAt) < ms(at)) ||
            (r === undefined && served.has(e.revision));
          if (before || e.reason === "Undone") {
            // A revision deployed before, rolled out again: a revert of the one it replaces,
            // unless that one is only there because a revert took this very revision off.
            restore = true;
            const left = stable === undefined ? undefined : records.get(stable);
            const incident = incidentUndo(e);
            if (left && stable !== e.revision) {
              // An incident's revert fails its change whatever the revert window: the incident
              // named it a suspect (deployed within its correlation window before the alert) and
              // reverted it, which its record says, and the figures must not say otherwise.
              const counts = withinWindow(left, e.startedAt) || incident !== undefined;
              if (returnedFrom !== e.revision && counts) {
                // An incident's revert is restored when its incident resolves (incident-recovery.ts).
                fail(left, "Reverted", e.startedAt, alertOrTraffic(left, e), incident ? undefined : at);
              }
              if (incident) linkIncident(left, incident, e);
            }
          } else if (r?.deployedAt === undefined) {
            deploy(get(e), e, at);
          }
        }
        if (stable !== e.revision) {
          replaced = stable ?? e.replacedRevision;
          returnedFrom = restore ? stable : undefined;
        }
        stable = e.revision;
        served.add(e.revision);
        if (e.replacedRevision !== undefined) served.add(e.replacedRevision);
        break;
      }
      case "RolledBack": {
        const r = get(e);
        const afterPromotion = r.deployedAt !== undefined && ms(r.deployedAt) <= ms(e.startedAt);
        if (afterPromotion) {
          const start = e.failureStartedAt
            ? { at: e.failureStartedAt, from: "Measurement" as const }
            : evidence(r);
          // Verification after promotion turned it away (post-promotion.ts): a revert.
          const kind = e.reason === "PostPromotionAnalysisFailed" ? "Reverted" : "AbortedAfterPromotion";
          fail(r, kind, at, start, at);
          if (stable === e.revision) {
            stable = replaced;
            returnedFrom = e.revision;
          }
        } else {
          const start = e.failureStartedAt
            ? { at: e.failureStartedAt, from: "Measurement" as const }
            : { at: e.startedAt, from: "Traffic" as const };
          fail(r, "RolledBack", at, start, at);
        }
        break;
      }
      case "Degraded": {
        const r = records.get(e.revision);
        // Restored when available again or replaced; when an incident's undo replaced it, by the
        // incident's resolution (the undo links the failure to it), not by the undo.
        const end = e.reason === "SwitchedBack" && incidentUndos.has(at) ? undefined : at;
        if (r && withinWindow(r, e.startedAt)) {
          fail(r, "Degraded", e.startedAt, { at: e.startedAt, from: "Degraded" }, end);
        }
        if (r?.failure === "Degraded" && r.failedAt === e.startedAt && end !== undefined)
          r.restoredAt ??= end;
        break;
      }
    }
  }

  // A Degraded period still open: the stable change has failed, and is not restored yet.
  const since = input.status?.degradedSince;
  const live =
    input.status?.stableRevision === undefined ? undefined : records.get(input.status.stableRevision);
  if (since !== undefined && !Number.isNaN(ms(since)) && live && withinWindow(live, since)) {
    fail(live, "Degraded", since, { at: since, from: "Degraded" }, undefined);
  }
  return [...records.values()];
}

/** Deployed: the first time the change reached full traffic, and its lead time. */
function deploy(r: ChangeRecord, e: HistoryEntry, at: string): void {
  r.deployedAt = at;
  const committed = e.change?.committedAt === undefined ? NaN : ms(e.change.committedAt);
  const fromCommit = !Number.isNaN(committed) && committed <= ms(at);
  r.leadTimeFrom = fromCommit ? "Commit" : "RolloutStart";
  r.leadTimeSeconds = seconds(ms(at) - (fromCommit ? committed : ms(r.startedAt)));
}

/**
 * Failed, once: a second failure of the same change adds nothing (one change counts once).
 * Whether this one was recorded.
 */
function fail(
  r: ChangeRecord,
  failure: FailureKind,
  failedAt: string,
  start: { at: string; from: FailureStartFrom },
  restoredAt: string | undefined,
): boolean {
  if (r.failure !== undefined) return false;
  r.failure = failure;
  r.failedAt = failedAt;
  r.failureStartedAt = start.at;
  r.failureStartFrom = start.from;
  if (restoredAt !== undefined) r.restoredAt = restoredAt;
  return true;
}

/**
 * Links the change an incident's undo reverted to that incident, so its resolution restores it
 * (`incident-recovery.ts`): the failure the undo just recorded, or one still open from before, a
 * Degraded period the undo ended. One change, one failure: an open Degraded failure is not
 * failed again, and its start is the earlier evidence, the Degraded start or the alert's (held
 * to the deployment, as for any incident revert). A failure already restored (one counted with
 * its recovery) is left as it is, and so is one already linked.
 */
function linkIncident(r: ChangeRecord, actionId: string, e: HistoryEntry): void {
  if (r.failure === undefined || r.restoredAt !== undefined || r.revertActionId !== undefined) return;
  r.revertActionId = actionId;
  r.revertedAt = e.startedAt;
  const alert = alertOrTraffic(r, e);
  if (r.failureStartedAt === undefined || ms(alert.at) < ms(r.failureStartedAt)) {
    r.failureStartedAt = alert.at;
    r.failureStartFrom = alert.from;
  }
}

/**
 * The action id of an undo an incident asked for: one that carries its alert's start and says
 * which action it was (entries written before `actionId` was recorded do not, and keep being
 * restored by the revert itself).
 */
function incidentUndo(e: HistoryEntry): string | undefined {
  return e.reason === "Undone" && e.failureStartedAt !== undefined ? e.actionId : undefined;
}

/**
 * Where a deployed change's failure starts when nothing measured it: its deployment, since the
 * failing revision has served production traffic from then on.
 */
function evidence(r: ChangeRecord): { at: string; from: FailureStartFrom } {
  return { at: r.deployedAt ?? r.startedAt, from: "Traffic" };
}

/**
 * A revert an incident asked for (`undo` with `crescendo.dev/failure-started-at`) carries its
 * alert's start: the failure began there, if that is after the change reached production and not
 * after the revert; otherwise, as for any revert, at the deployment.
 */
function alertOrTraffic(r: ChangeRecord, e: HistoryEntry): { at: string; from: FailureStartFrom } {
  const alert = e.failureStartedAt === undefined ? NaN : ms(e.failureStartedAt);
  const deployed = r.deployedAt === undefined ? NaN : ms(r.deployedAt);
  if (e.failureStartedAt !== undefined && alert >= deployed && alert <= ms(e.startedAt)) {
    return { at: e.failureStartedAt, from: "Alert" };
  }
  return evidence(r);
}

/** Entries with unreadable or backwards times are left out, as the figures could not place them. */
function readable(e: HistoryEntry): boolean {
  const start = ms(e.startedAt);
  const end = e.finishedAt === undefined ? NaN : ms(e.finishedAt);
  return !Number.isNaN(start) && !Number.isNaN(end) && end >= start;
}

/** Milliseconds since the epoch of an RFC 3339 time (NaN when unreadable). */
export function ms(text: string): number {
  return Date.parse(text);
}

/** Whole seconds, never negative. */
export function seconds(durationMs: number): number {
  return Math.max(0, Math.round(durationMs / 1000));
}
