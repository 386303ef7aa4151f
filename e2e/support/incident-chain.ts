/**
 * The alert chain incident e2e tests stand on, with real parts: the operator from its entry point
 * serving its Alertmanager receiver with a token file, and a real Alertmanager (hack/alertmanager)
 * that the suite's Prometheus sends to and that POSTs to the operator with the bearer token.
 * Alert rules are the test's own (`loadAlertRules`).
 */
import { alertingState, routeAlertsTo, startAlertmanager, type Alertmanager } from "../../hack/alerting.js";
import { SquadResource } from "../../operator/src/api/kinds.js";
import type { KubeClient } from "../../operator/src/runtime/client.js";
import { NamespaceResource, SecretResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import { startReceiverOperator } from "./incident-receiver.js";
import { waitFor } from "./kube.js";
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

/**
 * A Squad owning `namespace` whose on-call webhook is `webhookUrl`, through a Secret `oncall` in
 * that namespace, applied once the operator has labelled the namespace as the squad's (the
 * Secret must be in one of the squad's namespaces). `spec` is the rest of the Squad's spec.
 */
export async function applyOncallSquad(
  client: KubeClient,
  o: {
    squad: string;
    namespace: string;
    webhookUrl: string;
    oncall: Record<string, unknown>;
    spec?: Record<string, unknown>;
    fieldManager: string;
    context: () => Promise<string>;
  },
): Promise<void> {
  const apply = { fieldManager: o.fieldManager, force: true };
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Squad",
      metadata: { name: o.squad },
      spec: {
        ...o.spec,
        namespaces: [{ name: o.namespace }],
        oncall: { webhookSecretRef: { name: "oncall" }, ...o.oncall },
      },
    },
    SquadResource,
    apply,
  );
  await waitFor(
    `namespace ${o.namespace} of squad ${o.squad}`,
    () => client.get<KubeObject>(NamespaceResource, o.namespace),
    (n) => n?.metadata.labels?.["crescendo.dev/squad"] === o.squad,
    { timeoutMs: 60_000, context: o.context },
  );
  await client.apply(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "oncall", namespace: o.namespace },
      stringData: { url: o.webhookUrl },
    },
    SecretResource,
    apply,
  );
}
