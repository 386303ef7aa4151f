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
 * - No resolution within `INCIDENT_RESOLUTION_WAIT_MS` of the revert (Alertmanager without
 *   `send_resolved`, an alert that never clears, or the record evicted from the Squad's bounded
 *   `status.incidents`): restored at the revert (`Revert`), so no failure stays open for ever.
 *   Not sooner when the record is missing: the receiver writes the undo before the record, so a
 *   reconcile in between would see no incident yet.
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
export type IncidentResolution = Pick<IncidentRecord, "actions" | "resolvedAt">;

/** The record restored as its incident says, or unchanged (not an incident's revert, or still open). */
export function restoreByIncident(
  r: ChangeRecord,
  incidents: readonly IncidentResolution[],
  now: number,
): ChangeRecord {
  if (r.revertActionId === undefined || r.restoredAt !== undefined || r.failedAt === undefined) return r;
  const reverted = ms(r.failedAt);
  const resolvedAt = incidentOf(r, incidents)?.resolvedAt;
  const resolved = resolvedAt === undefined ? NaN : ms(resolvedAt);
  if (resolvedAt !== undefined && !Number.isNaN(resolved) && resolved >= reverted) {
    return { ...r, restoredAt: resolvedAt, restoredFrom: "IncidentResolved" };
  }
  if (!Number.isNaN(resolved) || now - reverted >= INCIDENT_RESOLUTION_WAIT_MS) {
    return { ...r, restoredAt: r.failedAt, restoredFrom: "Revert" };
  }
  return r;
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
    if (r.revertActionId === undefined || r.restoredAt !== undefined || r.failedAt === undefined) continue;
    const due = ms(r.failedAt) + INCIDENT_RESOLUTION_WAIT_MS;
    if (!Number.isNaN(due)) next = Math.min(next, Math.max(0, due - now) + 1);
  }
  return next === Infinity ? undefined : next;
}
