import { describe, expect, it } from "vitest";
import type { IncidentRecord } from "../../api/incident.js";
import type { Squad } from "../../api/kinds.js";
import { squadSpec, type SquadStatus } from "../../api/squad.js";
import { createLogger } from "../../observability/logger.js";
import type { EventInput } from "../../runtime/events.js";
import type { KubeObject } from "../../runtime/types.js";
import { incidentNotices } from "../incidents/notices.js";
import { slackProblems } from "../release/chat-formats.test-support.js";
import { NotificationRunner } from "../release/notification-runner.js";
import type { AttemptOutcome, OncallMessage } from "../release/notify.js";
import { IncidentNotices } from "./incident-notices.js";

const logger = createLogger({ level: "silent" });
const flush = () => new Promise((r) => setImmediate(r));
const T0 = Date.parse("2030-01-01T03:00:11.000Z");

const RECORD: IncidentRecord = {
  id: "abc",
  groupKey: '{}:{alertname="HighErrorRate"}',
  alertname: "HighErrorRate",
  firedAt: "2030-01-01T03:00:00.000Z",
  receivedAt: new Date(T0).toISOString(),
  alerts: ["HighErrorRate (f1)"],
  suspects: [],
  actions: [],
  explanation: ["no change in the window: nothing done"],
};

type RawSquad = KubeObject & { spec?: unknown; status?: SquadStatus };

function setup(outcome: AttemptOutcome) {
  let now = T0;
  const spec = {
    namespaces: [{ name: "shop" }],
    oncall: { webhookSecretRef: { name: "oncall" }, format: "slack" },
  };
  const status: SquadStatus = {
    incidents: [RECORD],
    notifications: incidentNotices({
      squad: "payments",
      oncall: true,
      before: [],
      after: [RECORD],
      notifications: undefined,
      now: new Date(T0).toISOString(),
    }),
  };
  /** What the apiserver holds. */
  let server: RawSquad = { metadata: { name: "payments", uid: "u1", resourceVersion: "1" }, spec, status };
  const squad: Squad = { ...server, spec: squadSpec.parse(spec) } as Squad;
  const sent: { id: string; body: unknown }[] = [];
  const events: EventInput[] = [];
  const writes: SquadStatus[] = [];
  const runner = new NotificationRunner({ clock: { now: () => now }, logger, onSettled: () => undefined });
  const notices = new IncidentNotices({
    runner,
    webhook: {
      sendMessage: (_squad: Squad | undefined, message: OncallMessage) => {
        sent.push({ id: message.id, body: message.body("slack") });
        return Promise.resolve(outcome);
      },
    },
    client: { get: <T extends KubeObject>() => Promise.resolve(server as unknown as T) },
    recorder: {
      record: (_o: KubeObject, e: EventInput) => {
        events.push(e);
        return Promise.resolve();
      },
    },
    logger,
    clock: { now: () => now },
  });
  const write = (raw: RawSquad, next: SquadStatus) => {
    writes.push(next);
    server = {
      ...raw,
      metadata: { ...raw.metadata, resourceVersion: String(writes.length + 1) },
      status: next,
    };
    return Promise.resolve(server);
  };
  const deliver = (raw: RawSquad = server) => notices.deliver(raw, squad, write);
  return { deliver, sent, events, writes, tick: (ms: number) => (now += ms), server: () => server };
}

describe("IncidentNotices (the Squad controller's notification path)", () => {
  it("sends a due message once, in the squad's format, then records it delivered", async () => {
    const s = setup({ kind: "delivered" });
    const first = await s.deliver();
    await flush();
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]!.id).toBe(`payments/abc/${T0}/opened`);
    expect(slackProblems(s.sent[0]!.body)).toEqual([]);
    expect(JSON.stringify(s.sent[0]!.body)).toContain("kubectl crescendo incidents payments");
    // The attempt in flight brings its own reconcile when it ends: no requeue for it.
    expect(first.nextInMs).toBeUndefined();
    const second = await s.deliver();
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]!.notifications?.[0]?.deliveredAt).toBe(new Date(T0).toISOString());
    expect(second.raw.status?.notifications?.[0]?.attempts).toBe(1);
    expect(second.nextInMs).toBeUndefined();
    await s.deliver();
    await flush();
    expect(s.sent).toHaveLength(1);
    expect(s.events).toEqual([]);
  });

  it("retries with backoff, and a permanent failure is given up with a Warning Event on the Squad", async () => {
    const retry = setup({ kind: "retryable", error: "POST http://hook: HTTP 503" });
    await retry.deliver();
    await flush();
    const after = await retry.deliver();
    expect(after.raw.status?.notifications?.[0]).toMatchObject({
      attempts: 1,
      lastError: "POST http://hook: HTTP 503",
    });
    expect(after.nextInMs).toBe(5_000);

    const s = setup({ kind: "permanent", error: "POST http://hook: HTTP 404" });
    await s.deliver();
    await flush();
    await s.deliver();
    expect(s.writes[0]!.notifications?.[0]?.failedAt).toBeDefined();
    expect(s.events).toEqual([
      expect.objectContaining({
        type: "Warning",
        reason: "NotificationFailed",
        note: expect.stringContaining("incident abc (opened)"),
      }),
    ]);
  });

  it("does not send what the apiserver shows delivered already (a cache that lags)", async () => {
    const s = setup({ kind: "delivered" });
    const stale = s.server();
    await s.deliver();
    await flush();
    await s.deliver();
    expect(s.sent).toHaveLength(1);
    // A reconcile from the old cache: the entry looks due there, the GET says it was delivered.
    expect(stale.status?.notifications?.[0]?.deliveredAt).toBeUndefined();
    await s.deliver(stale);
    await flush();
    expect(s.sent).toHaveLength(1);
  });
});
