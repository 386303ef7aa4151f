/**
 * The Alertmanager receiver's metrics, on the operator's shared registry. Few and unlabelled: a
 * failed certificate reload is what an operator must be told about (the receiver keeps serving
 * the last good pair, so nothing else shows it until that pair expires).
 */
import { Counter } from "prom-client";
import { registry } from "../../observability/metrics.js";

export const receiverTlsReloadErrors = new Counter({
  name: "crescendo_incident_receiver_tls_reload_errors_total",
  help: "Changed receiver TLS files (--incident-tls-cert-file, -key-file, --incident-client-ca-file) that could not be loaded; the last good ones are kept.",
  registers: [registry],
});
