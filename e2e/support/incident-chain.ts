/**
 * The alert chain incident e2e tests stand on, with real parts: the operator from its entry point
 * serving its Alertmanager receiver with a token file, and a real Alertmanager (hack/alertmanager)
 * that the suite's Prometheus sends to and that POSTs to the operator with the bearer token.
 * Alert rules are the test's own (`loadAlertRules`).
 */
import { alertingState, routeAlertsTo, startAlertmanager, type Alertmanager } from "../../hack/alerting.js";
import { startReceiverOperator } from "./incident-receiver.js";
import type { OperatorProcess } from "./operator.js";

export interface IncidentChain {
  operator: OperatorProcess;
  alertmanager: Alertmanager;
  /** The operator's receiver, `http://127.0.0.1:<port>/alertmanager`. */
  receiverUrl: string;
  /** The operator's log tail and Prometheus' and Alertmanager's alerting state, for failures. */
  context(): Promise<string>;
  /** Alertmanager unrouted and stopped, the operator stopped, the token removed. */
  stop(): Promise<void>;
}

export async function startIncidentChain(o: {
  /** The operator's log name and the Alertmanager route's. */
  name: string;
  prometheus: { url: string; dir: string };
}): Promise<IncidentChain> {
  const receiver = await startReceiverOperator(o.name);
  const { operator, token, url: receiverUrl } = receiver;
  const alertmanager = await startAlertmanager({
    webhookUrl: receiverUrl,
    token,
    groupBy: ["alertname", "namespace"],
  });
  const unroute = await routeAlertsTo(o.prometheus, alertmanager, o.name);
  return {
    operator,
    alertmanager,
    receiverUrl,
    context: async () =>
      `${operator.tail(60)}\n${await alertingState(o.prometheus.url, alertmanager).catch(() => "")}`,
    stop: async () => {
      await unroute().catch(() => undefined);
      await alertmanager.stop().catch(() => undefined);
      await receiver.stop();
    },
  };
}
