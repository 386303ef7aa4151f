/**
 * An alert that fires again after its incident resolved is a new incident, end to end with real
 * parts only: the operator from its entry point serving its Alertmanager receiver, the suite's
 * Prometheus evaluating an alert rule over the metrics simulator, a real Alertmanager POSTing to
 * the operator with the bearer token. Prometheus sends the second firing with a new startsAt,
 * Alertmanager under the same group key: the Squad gets a second record with its own id, and its
 * Teams on-call (a loopback receiver checking every card against the Adaptive Card shape) gets an
 * Opened and a Resolved message for each, once each, while Alertmanager keeps repeating the group.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadAlertRules } from "../hack/alerting.js";
import type { IncidentNotification, IncidentRecord } from "../operator/src/api/incident.js";
import { SquadResource } from "../operator/src/api/kinds.js";
import { incidentNoticeId } from "../operator/src/controllers/incidents/notices.js";
import { teamsProblems } from "../operator/src/controllers/release/chat-formats.test-support.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { applyOncallSquad, startIncidentChain, type IncidentChain } from "./support/incident-chain.js";
import { testClient, waitFor } from "./support/kube.js";
import { setRevisionBehaviour } from "./support/metrics-simulator.js";

const PROMETHEUS = { url: inject("prometheusUrl"), dir: inject("prometheusDir") };
const SIMULATOR = inject("simulatorAddress");
const FIELD_MANAGER = "e2e-incident-refire";
const SQUAD = "refire-pay";
const NS = "refire-shop";
const SERIES = { namespace: NS, release: "web", revision: "r1" };
const ALERT = "RefireCheckoutFailing";

interface Received {
  headers: IncomingHttpHeaders;
  body: unknown;
  problems: string[];
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
  `received: ${JSON.stringify(received.map((r) => [r.headers["idempotency-key"], r.problems]))}\n` +
  ((await chain?.context()) ?? "");

/** A Teams Workflows webhook, as far as its documented shape goes: 400 to a malformed card. */
async function startChat(): Promise<string> {
  chat = createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      const body: unknown = JSON.parse(text);
      const problems = teamsProblems(body);
      received.push({ headers: req.headers, body, problems });
      res.writeHead(problems.length === 0 ? 202 : 400).end();
    });
  });
  await new Promise<void>((r) => chat.listen(0, "127.0.0.1", r));
  const { port } = chat.address() as { port: number };
  return `http://127.0.0.1:${port}/workflows/refire`;
}

const squadStatus = async () => (await client.get<SquadObject>(SquadResource, SQUAD))?.status ?? {};
const delivered = (s: SquadObject["status"] & object, id: string) =>
  s.notifications?.some((n) => n.id === id && n.deliveredAt !== undefined) === true;
const keyed = (key: string) => received.filter((r) => r.headers["idempotency-key"] === key);

beforeAll(async () => {
  client = testClient();
  await setRevisionBehaviour(SIMULATOR, { ...SERIES, rps: 50, errorRate: 0 });
  chain = await startIncidentChain({ name: FIELD_MANAGER, prometheus: PROMETHEUS });
  const webhookUrl = await startChat();
  await applyOncallSquad(client, {
    squad: SQUAD,
    namespace: NS,
    webhookUrl,
    oncall: { format: "teams" },
    spec: { incidentResponse: { actions: [{ match: { labels: { severity: "page" } }, do: "Notify" }] } },
    fieldManager: FIELD_MANAGER,
    context,
  });
  undo.push(
    await loadAlertRules(PROMETHEUS, FIELD_MANAGER, [
      {
        alert: ALERT,
        expr:
          `sum by (namespace, release) (rate(http_requests_total{namespace="${NS}",code="500"}[5s]))` +
          ` / sum by (namespace, release) (rate(http_requests_total{namespace="${NS}"}[5s])) > 0.1`,
        labels: { severity: "page" },
      },
    ]),
  );
}, 180_000);

afterAll(async () => {
  for (const step of undo.reverse()) await step().catch(() => undefined);
  await chain?.stop();
  await client?.delete(SquadResource, SQUAD).catch(() => undefined);
  await new Promise<void>((r) => (chat ? chat.close(() => r()) : r()));
  client?.close();
});

/** The error rate up until the squad has an open incident other than `known`, then down until it resolves. */
async function fireAndResolve(known: readonly string[]): Promise<IncidentRecord> {
  await setRevisionBehaviour(SIMULATOR, { ...SERIES, errorRate: 0.5 });
  const opened = await waitFor(
    `squad ${SQUAD}: a new incident, its Opened message delivered`,
    squadStatus,
    (s) => {
      const r = s.incidents?.find((i) => !known.includes(i.id));
      return r !== undefined && delivered(s, incidentNoticeId(SQUAD, r, "Opened"));
    },
    { timeoutMs: 120_000, context },
  );
  const incident = opened.incidents!.find((i) => !known.includes(i.id))!;
  await setRevisionBehaviour(SIMULATOR, { ...SERIES, errorRate: 0 });
  const resolved = await waitFor(
    `squad ${SQUAD}: incident ${incident.id} resolved, its Resolved message delivered`,
    squadStatus,
    (s) => delivered(s, incidentNoticeId(SQUAD, incident, "Resolved")),
    { timeoutMs: 120_000, context },
  );
  return resolved.incidents!.find((i) => i.id === incident.id)!;
}

describe("an alert that fires again after its incident resolved", () => {
  it("is a second incident: its own id and record, paged Opened and Resolved once each", async () => {
    const first = await fireAndResolve([]);
    expect(first.resolvedAt).toBeDefined();
    const second = await fireAndResolve([first.id]);

    // The same Alertmanager group, a new incident: the group's digest and when it fired again.
    expect(second.groupKey).toBe(first.groupKey);
    expect(second.id).toMatch(new RegExp(`^${first.id}-\\d{8}T\\d{6}(\\.\\d{3})?Z$`));
    expect(Date.parse(second.firedAt)).toBeGreaterThan(Date.parse(first.resolvedAt!));
    expect(second.explanation[0]).toContain(`incident ${first.id} of the same group resolved`);
    expect(second.actions.map((a) => [a.do, a.state])).toEqual([["Notify", "Done"]]);
    expect(second.recoverySeconds).toBeGreaterThanOrEqual(0);
    const status = await squadStatus();
    expect(status.incidents!.map((r) => r.id)).toEqual([second.id, first.id]);
    // The first record is as it was when it resolved.
    expect(status.incidents![1]).toEqual(first);

    // Alertmanager repeats the group meanwhile (group_interval 1 s): each message once, all valid.
    await new Promise((r) => setTimeout(r, 3000));
    for (const record of [first, second])
      for (const event of ["Opened", "Resolved"] as const)
        expect(keyed(incidentNoticeId(SQUAD, record, event)), `${record.id} ${event}`).toHaveLength(1);
    expect(received).toHaveLength(4);
    expect(received.every((r) => r.problems.length === 0)).toBe(true);
    expect(JSON.stringify(keyed(incidentNoticeId(SQUAD, second, "Opened"))[0]!.body)).toContain(second.id);
  });
});
