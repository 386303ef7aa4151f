/**
 * The alert chain incident e2e tests stand on, with real parts: the operator from its entry point
 * serving its Alertmanager receiver with a token file, and a real Alertmanager (hack/alertmanager)
 * that the suite's Prometheus sends to and that POSTs to the operator with the bearer token.
 * Alert rules are the test's own (`loadAlertRules`).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alertingState, routeAlertsTo, startAlertmanager, type Alertmanager } from "../../hack/alerting.js";
import { kubeconfigPath } from "./kube.js";
import { freePort, OperatorProcess } from "./operator.js";

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
  const token = randomBytes(24).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), "crescendo-incident-token-"));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const port = await freePort();
  const receiverUrl = `http://127.0.0.1:${port}/alertmanager`;
  const operator = await OperatorProcess.start({
    kubeconfig: kubeconfigPath(),
    name: o.name,
    args: ["--incident-port", String(port), "--incident-token-file", tokenFile],
  });
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
      await operator.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
