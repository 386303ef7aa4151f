/**
 * The receiver's record of what it refused: unauthenticated requests and failed TLS handshakes.
 * A warning for each would let anyone who reaches the port fill the operator's logs, so the
 * warning is rate-limited: the first refusal is logged at once, then at most one line per
 * `intervalMs`, carrying how many were refused without a line since the last one (`suppressed`).
 * Every refusal is counted in `crescendo_incident_receiver_refused_total{reason}`, whatever was
 * logged: the counter is what to alert on, the log line says from where.
 */
import type { Logger } from "pino";
import { receiverRefusedTotal, type RefusalReason } from "./metrics.js";

export const REFUSAL_MESSAGES: Record<RefusalReason, string> = {
  Unauthenticated: "incident receiver: unauthenticated request refused",
  TLSHandshake: "incident receiver: TLS handshake refused",
};
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface RefusalLogOptions {
  logger: Pick<Logger, "warn">;
  reason: RefusalReason;
  /** Milliseconds since the epoch; a fake clock in tests. */
  now?: () => number;
  intervalMs?: number;
  count?: () => void;
}

/** Returns what to call for each refusal, with what to log about it (the caller's address, why). */
export function createRefusalLog(options: RefusalLogOptions): (fields: Record<string, unknown>) => void {
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? REFUSAL_LOG_INTERVAL_MS;
  const count = options.count ?? (() => receiverRefusedTotal.inc({ reason: options.reason }));
  const message = REFUSAL_MESSAGES[options.reason];
  let lastLogged: number | undefined;
  let suppressed = 0;
  return (fields) => {
    count();
    const t = now();
    if (lastLogged !== undefined && t - lastLogged < interval) {
      suppressed++;
      return;
    }
    options.logger.warn({ ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, message);
    lastLogged = t;
    suppressed = 0;
  };
}
