/**
 * When a change an incident reverted is restored: when its incident resolves. Pure.
 *
 * An incident's undo fails the change it reverts (`changes.ts`, `revertActionId`) from the
 * alert's start, and leaves it open: the alert, not the revert, says when the service is well
 * again, and that is the recovery time the issue asks the squad's figures to count (alert start
 * to resolved, as the incident's own `recoverySeconds`). The link is the undo's action id, which
 * the Release's `Undone` history entry and the incident's `actions[]` both record.
 *
 * - The incident resolved after the revert: restored at its `resolvedAt` (`IncidentResolved`).
 * - It resolved before the revert took effect (the alert cleared while the undo waited): the
 *   failing revision still served until the revert, so restored at the revert (`Revert`).
 * - Its resolution was inferred (`resolvedFrom: FiredAgain`: Alertmanager's resolved notification
 *   never arrived, and the alert later fired again): restored at the revert (`Revert`), at once.
 *   The record's `resolvedAt` is then only an upper bound, the new firing's start, which may be
 *   hours or a day after users were well again; a recovery time measured to it would be that
 *   wrong in the squad's figures. The revert is when the failing revision stopped serving, the
 *   same end as when no resolution is seen at all, and nothing is gained by waiting 24 hours for a
 *   resolution that is already known to have happened.
 * - No resolution within `INCIDENT_RESOLUTION_WAIT_MS` of the revert (Alertmanager without
 *   `send_resolved`, an alert that never clears, or the record evicted from the Squad's bounded
 *   `status.incidents`): restored at the revert (`Revert`), so no failure stays open for ever.
 *   Not sooner when the record is missing: the receiver writes the undo before the record, so a
 *   reconcile in between would see no incident yet.
 *
 * While the change waits, its failure start follows the incident's `firedAt`: an alert of the
 * group that arrives later with an earlier `startsAt` moves the incident's start back, and the
 * change's with it (never forward, and never before the change's deployment, where the change
 * could not have caused anything: from there `Traffic`, as when the alert is older than the
 * change at the revert), so its recovery time stays the incident's `recoverySeconds`. The moved
 * start is written in the Squad's status with the record, so a restarted operator reads it there.
 *
 * A restore is a fact like any other: once set it is never moved, so the ledger counts the
 * recovery exactly once, and the state is all in the Squad's status.
 */
import { DAY_MS } from "../api/common.js";
import type { ChangeRecord } from "../api/delivery.js";
import type { IncidentRecord } from "../api/incident.js";
import { ms } from "./changes.js";

/** How long after the revert a change waits for its incident's resolution. */
export const INCIDENT_RESOLUTION_WAIT_MS = DAY_MS;

/** What of an incident record the restore reads. */
export type IncidentResolution = Pick<IncidentRecord, "actions" | "firedAt" | "resolvedAt" | "resolvedFrom">;

/** The record restored as its incident says, or unchanged (not an incident's revert, or still open). */
export function restoreByIncident(
  r: ChangeRecord,
  incidents: readonly IncidentResolution[],
  now: number,
): ChangeRecord {
  const revertedAt = revertOf(r);
  if (r.revertActionId === undefined || r.restoredAt !== undefined || revertedAt === undefined) return r;
  const reverted = ms(revertedAt);
  const incident = incidentOf(r, incidents);
  const started = incident ? followFiredAt(r, incident.firedAt, reverted) : r;
  const resolvedAt = incident?.resolvedAt;
  const resolved = resolvedAt === undefined ? NaN : ms(resolvedAt);
  const inferred = incident?.resolvedFrom === "FiredAgain";
  if (resolvedAt !== undefined && !inferred && !Number.isNaN(resolved) && resolved >= reverted) {
    return { ...started, restoredAt: resolvedAt, restoredFrom: "IncidentResolved" };
  }
  if (!Number.isNaN(resolved) || now - reverted >= INCIDENT_RESOLUTION_WAIT_MS) {
    return { ...started, restoredAt: revertedAt, restoredFrom: "Revert" };
  }
  return started;
}

/** When the incident's revert took effect: `revertedAt`, or `failedAt` in records from before it. */
function revertOf(r: ChangeRecord): string | undefined {
  return r.revertedAt ?? r.failedAt;
}

/**
 * The record with its failure start moved back to the incident's `firedAt` when that is earlier
 * (held to the deployment); unchanged otherwise, and for a start the incident cannot explain (an
 * alert start after the revert, unreadable times).
 */
function followFiredAt(r: ChangeRecord, firedAt: string, reverted: number): ChangeRecord {
  const fired = ms(firedAt);
  const deployed = r.deployedAt === undefined ? NaN : ms(r.deployedAt);
  const current = r.failureStartedAt === undefined ? NaN : ms(r.failureStartedAt);
  if (Number.isNaN(fired) || Number.isNaN(deployed) || Number.isNaN(current) || fired > reverted) return r;
  const start =
    fired >= deployed
      ? { failureStartedAt: firedAt, failureStartFrom: "Alert" as const }
      : { failureStartedAt: r.deployedAt, failureStartFrom: "Traffic" as const };
  return ms(start.failureStartedAt ?? "") < current ? { ...r, ...start } : r;
}

/** The incident whose Revert of this change's Release wrote the undo that reverted it. */
function incidentOf(
  r: ChangeRecord,
  incidents: readonly IncidentResolution[],
): IncidentResolution | undefined {
  return incidents.find((i) =>
    i.actions.some((a) => a.do === "Revert" && a.actionId === r.revertActionId && a.target === r.release),
  );
}

/**
 * Milliseconds from `now` until a change waiting for its incident gives up waiting (restored at
 * its revert), so the Squad looks again then; undefined when none waits.
 */
export function nextResolutionDeadlineMs(records: readonly ChangeRecord[], now: number): number | undefined {
  let next = Infinity;
  for (const r of records) {
    const revertedAt = revertOf(r);
    if (r.revertActionId === undefined || r.restoredAt !== undefined || revertedAt === undefined) continue;
    const due = ms(revertedAt) + INCIDENT_RESOLUTION_WAIT_MS;
    if (!Number.isNaN(due)) next = Math.min(next, Math.max(0, due - now) + 1);
  }
  return next === Infinity ? undefined : next;
}
