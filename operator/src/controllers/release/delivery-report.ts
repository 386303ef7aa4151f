/**
 * What a status write that recorded delivery outcomes says about them, the same for every kind
 * of on-call notification (a Release's rollback, a toggle ramp's, an incident): delivered ones
 * logged and counted, given-up ones logged as errors, counted and told in a `NotificationFailed`
 * Event. Called only once the write is done, so an outcome is reported once.
 */
import type { Logger } from "../../observability/logger.js";
import type { EventInput } from "../../runtime/events.js";
import type { DeliveryEntry } from "./delivery.js";
import { releaseMetrics } from "./metrics.js";

/** What an on-call notification is about, in the log messages (`notified on-call of the kill`). */
export type NotifiedKind = "rollback" | "incident" | "kill";

/** What the entries are notifications of, for the log lines and the Event. */
export interface DeliverySubject<N> {
  /**
   * The kind, in the log messages: fixed per kind, so a log filter finds them; which one is in
   * the line's `about`. A function when one list holds several (a toggle's rollbacks and kills).
   */
  kind: NotifiedKind | ((n: N) => NotifiedKind);
  /** Which one an entry is about: `the rollback of 1.5.0`, `incident 3f9c… (opened)`. */
  about: (n: N) => string;
}

/** The log field with the entry's id: a rollback's keeps the name it always had. */
const idField = (kind: NotifiedKind) => (kind === "rollback" ? "rollbackId" : "notificationId");

export function reportDeliveries<N extends DeliveryEntry>(
  outcomes: { delivered: readonly N[]; gaveUp: readonly N[] },
  io: { log: Logger; record: (event: EventInput) => void },
  subject: DeliverySubject<N>,
): void {
  const kindOf = (n: N) => (typeof subject.kind === "function" ? subject.kind(n) : subject.kind);
  for (const n of outcomes.delivered) {
    releaseMetrics.notificationDelivered();
    const kind = kindOf(n);
    io.log.info(
      { [idField(kind)]: n.id, about: subject.about(n), attempts: n.attempts },
      `notified on-call of the ${kind}`,
    );
  }
  for (const n of outcomes.gaveUp) {
    releaseMetrics.notificationAbandoned();
    const kind = kindOf(n);
    io.log.error(
      { [idField(kind)]: n.id, about: subject.about(n), attempts: n.attempts, err: n.lastError },
      `could not notify on-call of the ${kind}`,
    );
    io.record({
      type: "Warning",
      reason: "NotificationFailed",
      note: `gave up notifying on-call of ${subject.about(n)} after ${n.attempts} attempt(s): ${n.lastError ?? "unknown error"}`,
      action: "Notify",
    });
  }
}
