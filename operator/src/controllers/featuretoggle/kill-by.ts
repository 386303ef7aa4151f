/**
 * How `status.killedBy` tells a kill action's kill (`action <id>`) from a guard Release's
 * rollback's (the revision). Its own file so the kill's notification (`kill-notify.ts`) and the
 * plan (`plan.ts`) read it without importing each other.
 */

/** `killedBy` of a toggle a `kill` action killed (an incident's KillToggles, or a person). */
export const KILLED_BY_ACTION_PREFIX = "action ";

/** Whether the toggle's kill came from a `kill` action rather than its guard's rollback. */
export function killedByAction(status: { killedBy?: string } | undefined): boolean {
  return status?.killedBy?.startsWith(KILLED_BY_ACTION_PREFIX) ?? false;
}
