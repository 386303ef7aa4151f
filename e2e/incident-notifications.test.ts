/**
 * An incident pages the squad's chat, end to end with real parts only: the operator from its
 * entry point serving its Alertmanager receiver, the suite's Prometheus evaluating an alert rule
 * over the metrics simulator, a real Alertmanager POSTing to the operator with the bearer token.
 * The Squad's on-call webhook is Slack-formatted and points (through its Secret) at a loopback
 * receiver that checks every body against Slack's documented Block Kit shape and answers 400 to
 * a malformed one, as Slack does. The receiver refuses the first message with a 503: it must be
 * retried with the same Idempotency-Key. An Opened message arrives when the alert fires, a
 * Resolved one with the recovery time when it resolves, and the Squad's status records both
 * delivered.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadAlertRules } from "../hack/alerting.js";
import type { IncidentNotification, IncidentRecord } from "../operator/src/api/incident.js";
import { SquadResource } from "../operator/src/api/kinds.js";
import { incidentNoticeId } from "../operator/src/controllers/incidents/notices.js";
import { slackProblems } from "../operator/src/controllers/release/chat-formats.test-support.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { applyOncallSquad, startIncidentChain, type IncidentChain } from "./support/incident-chain.js";
import { testClient, waitFor } from "./support/kube.js";
import { setRevisionBehaviour } from "./support/metrics-simulator.js";

const PROMETHEUS = { url: inject("prometheusUrl"), dir: inject("prometheusDir") };
const SIMULATOR = inject("simulatorAddress");
const FIELD_MANAGER = "e2e-incident-notifications";
const SQUAD = "incn-pay";
const NS = "incn-shop";
const SERIES = { namespace: NS, release: "web", revision: "r1" };
const ALERT = "ShopCheckoutFailing";

interface Received {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  problems: string[];
  status: number;
}
type SquadObject = KubeObject & {
  status?: { incidents?: IncidentRecord[]; notifications?: IncidentNotification[] };
};

let client: KubeClient;
let chain: IncidentChain | undefined;
let chat: Server;
const received: Received[] = [];
const undo: (() => Promise<void>)[] = [];

const context = async () =>
  `received: ${JSON.stringify(received.map((r) => [r.status, r.headers["idempotency-key"], r.problems]))}\n` +
  ((await chain?.context()) ?? "");

/** Slack's incoming webhook, as far as its documented shape goes; the first POST gets a 503. */
async function startChat(): Promise<string> {
  chat = createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      const body = JSON.parse(text) as Record<string, unknown>;
      const problems = slackProblems(body);
      const status = received.length === 0 ? 503 : problems.length > 0 ? 400 : 200;
      received.push({ headers: req.headers, body, problems, status });
      res.writeHead(status).end(status === 200 ? "ok" : "invalid_blocks");
    });
  });
  await new Promise<void>((r) => chat.listen(0, "127.0.0.1", r));
  const { port } = chat.address() as { port: number };
  return `http://127.0.0.1:${port}/services/T000/B000/XXXX`;
}

const squadStatus = async () => (await client.get<SquadObject>(SquadResource, SQUAD))?.status ?? {};
const accepted = (key: string) =>
  received.filter((r) => r.status === 200 && r.headers["idempotency-key"] === key);

beforeAll(async () => {
  client = testClient();
  await setRevisionBehaviour(SIMULATOR, { ...SERIES, rps: 50, errorRate: 0 });
  chain = await startIncidentChain({ name: "e2e-incident-notifications", prometheus: PROMETHEUS });
  const webhookUrl = await startChat();
  await applyOncallSquad(client, {
    squad: SQUAD,
    namespace: NS,
    webhookUrl,
    oncall: { format: "slack", channel: "#incn-oncall" },
    spec: { tribe: "money" },
    fieldManager: FIELD_MANAGER,
    context,
  });
}, 180_000);

afterAll(async () => {
  for (const step of undo.reverse()) await step().catch(() => undefined);
  await chain?.stop();
  await client?.delete(SquadResource, SQUAD).catch(() => undefined);
  await new Promise<void>((r) => (chat ? chat.close(() => r()) : r()));
  client?.close();
});

describe("an incident in the squad's Slack", () => {
  it("posts Opened when the alert fires (retried after a 503, same Idempotency-Key) and Resolved with the recovery time", async () => {
    undo.push(
      await loadAlertRules(PROMETHEUS, "e2e-incident-notifications", [
        {
          alert: ALERT,
          expr:
            `sum by (namespace, release) (rate(http_requests_total{namespace="${NS}",code="500"}[5s]))` +
            ` / sum by (namespace, release) (rate(http_requests_total{namespace="${NS}"}[5s])) > 0.1`,
          labels: { severity: "page" },
        },
      ]),
    );
    await setRevisionBehaviour(SIMULATOR, { ...SERIES, errorRate: 0.5 });

    const opened = await waitFor(
      `squad ${SQUAD}: the Opened message delivered`,
      squadStatus,
      (s) => s.notifications?.some((n) => n.event === "Opened" && n.deliveredAt !== undefined) === true,
      { timeoutMs: 120_000, context },
    );
    const incident = opened.incidents![0]!;
    expect(incident.alertname).toBe(ALERT);
    const openedKey = incidentNoticeId(SQUAD, incident, "Opened");
    const entry = opened.notifications!.find((n) => n.id === openedKey)!;
    // The 503 was retried after the backoff: two attempts, the first with the error it got.
    expect(entry).toMatchObject({ incident: incident.id, event: "Opened", attempts: 2 });
    expect(received[0]).toMatchObject({ status: 503 });
    expect(received[0]!.headers["idempotency-key"]).toBe(openedKey);
    expect(accepted(openedKey)).toHaveLength(1);
    const message = accepted(openedKey)[0]!;
    expect(message.problems).toEqual([]);
    expect(message.headers["content-type"]).toBe("application/json");
    const text = JSON.stringify(message.body);
    for (const part of [
      `${SQUAD}: ${ALERT} firing`,
      `${ALERT} (`,
      "Nothing changed",
      `kubectl crescendo incidents ${SQUAD}`,
    ])
      expect(text).toContain(part);

    // The error rate falls back: Alertmanager reports the group resolved, on-call hears it.
    await setRevisionBehaviour(SIMULATOR, { ...SERIES, errorRate: 0 });
    const resolvedKey = incidentNoticeId(SQUAD, incident, "Resolved");
    const resolved = await waitFor(
      `squad ${SQUAD}: the Resolved message delivered`,
      squadStatus,
      (s) => s.notifications?.some((n) => n.id === resolvedKey && n.deliveredAt !== undefined) === true,
      { timeoutMs: 120_000, context },
    );
    const record = resolved.incidents!.find((r) => r.id === incident.id)!;
    expect(record.recoverySeconds).toBeGreaterThanOrEqual(0);
    expect(accepted(resolvedKey)).toHaveLength(1);
    const done = accepted(resolvedKey)[0]!;
    expect(done.problems).toEqual([]);
    expect(JSON.stringify(done.body)).toContain(`${SQUAD}: ${ALERT} resolved after`);
    expect(JSON.stringify(done.body)).toContain("*Recovery:*");

    // Alertmanager keeps repeating the group (group_interval 1 s): no message is sent twice.
    await new Promise((r) => setTimeout(r, 3000));
    expect(received.filter((r) => r.status === 200)).toHaveLength(2);
    expect(received.every((r) => r.problems.length === 0)).toBe(true);
  });
});
