/**
 * Which on-call notifications an incident's status write records: pure, called by the receiver
 * (`respond.ts`) with the squad's records before and after the plan, so the pending entries go
 * into the very write that records the incident (Squad `status.notifications`). From then on a
 * message is part of the Squad's state: the leader delivers it from there (the Squad controller,
 * `controllers/squad/incident-notices.ts`) with the Releases' at-least-once rules
 * (`release/delivery.ts`), and a crash between the record and the POST loses nothing.
 *
 * Two events per incident, each told once:
 * - Opened: the record first appears, unresolved. Sent at once, not held for the actions'
 *   outcome: on-call hears in seconds; the message shows each action as it stands when sent
 *   (usually Requested) and the Resolved message shows how they ended.
 * - Resolved: `resolvedAt` first appears. An incident already resolved when first received
 *   (resolved before it was acted on) gets this one message only.
 * A repeat of the same Alertmanager notification changes no record, so it adds nothing; and the
 * ids are derived from the record, so an entry already in the list is never added twice.
 */
import type { IncidentNoticeEvent, IncidentNotification, IncidentRecord } from "../../api/incident.js";
import { addNotification, newEntry } from "../release/delivery.js";

/**
 * The notification's id, sent as the `Idempotency-Key`: the squad (each squad of one alert group
 * gets its own incident, under the same incident id, and several squads may share a receiver),
 * the incident, when it was first received (the same group firing again another day, once its
 * record is gone, is another incident), and the event.
 */
export function incidentNoticeId(
  squad: string,
  record: Pick<IncidentRecord, "id" | "receivedAt">,
  event: IncidentNoticeEvent,
): string {
  const ms = Date.parse(record.receivedAt);
  return `${squad}/${record.id}/${Number.isNaN(ms) ? record.receivedAt : ms}/${event.toLowerCase()}`;
}

/** What a record's change tells on-call: `before` is the same incident as the Squad held it. */
export function noticeEvents(
  before: IncidentRecord | undefined,
  after: IncidentRecord,
): IncidentNoticeEvent[] {
  const known = before !== undefined && before.receivedAt === after.receivedAt ? before : undefined;
  const events: IncidentNoticeEvent[] = [];
  if (!known && after.resolvedAt === undefined) events.push("Opened");
  if (after.resolvedAt !== undefined && known?.resolvedAt === undefined) events.push("Resolved");
  return events;
}

export interface NoticeInput {
  squad: string;
  /** Whether the squad has an on-call webhook (`spec.oncall.webhookSecretRef`): none, no entry. */
  oncall: boolean;
  before: readonly IncidentRecord[];
  after: readonly IncidentRecord[];
  /** The Squad's `status.notifications` as read with `before`. */
  notifications: readonly IncidentNotification[] | undefined;
  /** When the write happens (RFC 3339): the entries' `at`, from which retries are bounded. */
  now: string;
}

/**
 * `status.notifications` with an entry for each event the plan records, newest first, within
 * the bound (finished entries make room first). The list as it was when there is nothing to add.
 */
export function incidentNotices(input: NoticeInput): IncidentNotification[] | undefined {
  let list = input.notifications ? [...input.notifications] : undefined;
  if (!input.oncall) return list;
  // Oldest first, so the newest incident's entries end up first.
  for (const record of [...input.after].reverse()) {
    const before = input.before.find((r) => r.id === record.id);
    for (const event of noticeEvents(before, record)) {
      const entry = newEntry<IncidentNotification>({
        id: incidentNoticeId(input.squad, record, event),
        incident: record.id,
        event,
        ...(record.alertname === undefined ? {} : { alertname: record.alertname }),
        firedAt: record.firedAt,
        at: input.now,
      });
      list = addNotification(list, entry);
    }
  }
  return list;
}
