/**
 * A toggle's on-call entry as the message to send, whatever it is about: a ramp's rollback
 * (`ramp-notify.ts`; also an entry recorded before entries said what they are about) or a kill
 * (`kill-notify.ts`).
 */
import type { ToggleNotification } from "../../api/toggle-rollout.js";
import type { OncallMessage } from "../release/notify.js";
import { killOncallMessage, toggleKillNotificationOf } from "./kill-notify.js";
import { toggleOncallMessage, toggleRollbackNotificationOf, type ToggleFacts } from "./ramp-notify.js";

export function toggleMessageOf(n: ToggleNotification, facts: ToggleFacts): OncallMessage {
  return n.event === "Killed"
    ? killOncallMessage(toggleKillNotificationOf(n, facts))
    : toggleOncallMessage(toggleRollbackNotificationOf(n, facts));
}

/** What an entry is about, for the Event of a delivery given up: `the kill`, `the rollback of variant "on"`. */
export function toggleNoticeSubject(n: ToggleNotification): string {
  return n.event === "Killed" ? "the kill" : `the rollback of variant "${n.variant ?? ""}"`;
}
