/**
 * What a status write that recorded delivery outcomes says about them, the same for every kind
 * of on-call notification (a Release's rollback, a toggle ramp's): delivered ones logged and
 * counted, given-up ones logged as errors, counted and told in a `NotificationFailed` Event.
 * Called only once the write is done, so an outcome is reported once.
 */
import type { Logger } from "../../observability/logger.js";
import type { EventInput } from "../../runtime/events.js";
import type { DeliveryEntry } from "./delivery.js";
import { releaseMetrics } from "./metrics.js";

export function reportDeliveries<N extends DeliveryEntry>(
  outcomes: { delivered: readonly N[]; gaveUp: readonly N[] },
  io: { log: Logger; record: (event: EventInput) => void },
  /** The rollback an entry is about, for the Event: `the rollback of 1.5.0`. */
  rollbackOf: (n: N) => string,
): void {
  for (const n of outcomes.delivered) {
    releaseMetrics.notificationDelivered();
    io.log.info({ rollbackId: n.id, attempts: n.attempts }, "notified on-call of the rollback");
  }
  for (const n of outcomes.gaveUp) {
    releaseMetrics.notificationAbandoned();
    io.log.error(
      { rollbackId: n.id, attempts: n.attempts, err: n.lastError },
      "could not notify on-call of the rollback",
    );
    io.record({
      type: "Warning",
      reason: "NotificationFailed",
      note: `gave up notifying on-call of ${rollbackOf(n)} after ${n.attempts} attempt(s): ${n.lastError ?? "unknown error"}`,
      action: "Notify",
    });
  }
}
