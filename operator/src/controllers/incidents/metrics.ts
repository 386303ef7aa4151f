/** The incident receiver's metrics, on the operator's shared registry. */
import { Counter } from "prom-client";
import { registry } from "../../observability/metrics.js";

/** Why a request or connection was refused, as the counter's `reason` label. */
export type RefusalReason = "Unauthenticated" | "TLSHandshake";

/** Every refusal of the receiver, logged or not (refusal-log.ts rate-limits the warnings). */
export const receiverRefusedTotal = new Counter({
  name: "crescendo_incident_receiver_refused_total",
  help: "Requests the incident receiver refused with 401 (reason Unauthenticated) and TLS handshakes it refused (reason TLSHandshake).",
  labelNames: ["reason"] as const,
  registers: [registry],
});
