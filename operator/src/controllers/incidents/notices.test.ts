import { describe, expect, it } from "vitest";
import {
  incidentNotifications,
  MAX_SQUAD_NOTIFICATIONS,
  type IncidentNotification,
  type IncidentRecord,
} from "../../api/incident.js";
import type { WebhookMessage } from "../../incidents/alertmanager.js";
import { planIncident, type IncidentInput } from "../../incidents/plan.js";
import { afterAttempt, due, NOTIFICATIONS_LIMIT } from "../release/delivery.js";
import { incidentNoticeId, incidentNotices, noticeEvents, type NoticeInput } from "./notices.js";

const T0 = Date.parse("2030-01-01T03:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();
const NOW = iso(T0 + 11_000);

const record = (id: string, over: Partial<IncidentRecord> = {}): IncidentRecord => ({
  id,
  groupKey: `{}:{alertname="${id}"}`,
  alertname: "HighErrorRate",
  firedAt: iso(T0),
  receivedAt: iso(T0 + 10_000),
  alerts: ["HighErrorRate (f1)"],
  suspects: [],
  actions: [],
  explanation: [],
  ...over,
});
const resolved = (r: IncidentRecord, at = T0 + 300_000): IncidentRecord => ({
  ...r,
  resolvedAt: iso(at),
  recoverySeconds: Math.round((at - Date.parse(r.firedAt)) / 1000),
});

const notices = (over: Partial<NoticeInput>) =>
  incidentNotices({
    squad: "payments",
    oncall: true,
    before: [],
    after: [],
    notifications: undefined,
    now: NOW,
    ...over,
  });
const events = (list: IncidentNotification[] | undefined) =>
  (list ?? []).map((n) => `${n.incident} ${n.event}`);

describe("incidentNotices", () => {
  it("the group firing again after its incident resolved pages on-call anew, under the new incident's key", () => {
    const first = resolved(record("a"));
    const again = record("a-20300101T032000Z", {
      firedAt: iso(T0 + 1_200_000),
      receivedAt: iso(T0 + 1_210_000),
    });
    const list = notices({ before: [first], after: [again, first], notifications: [] });
    expect(events(list)).toEqual(["a-20300101T032000Z Opened"]);
    expect(list![0]!.id).toBe(`payments/a-20300101T032000Z/${T0 + 1_210_000}/opened`);
    // Its repeats add nothing; its resolution is told once.
    expect(events(notices({ before: [again, first], after: [again, first], notifications: list }))).toEqual(
      events(list),
    );
    const done = notices({
      before: [again, first],
      after: [resolved(again, T0 + 1_500_000), first],
      notifications: list,
    });
    expect(events(done)).toEqual(["a-20300101T032000Z Resolved", "a-20300101T032000Z Opened"]);
  });

  it("the group firing again with its resolution lost: the first told Resolved (inferred), the new one Opened, once", () => {
    const first = record("a");
    const closed: IncidentRecord = { ...first, resolvedAt: iso(T0 + 1_200_000), resolvedFrom: "FiredAgain" };
    const again = record("a-20300101T032000Z", {
      firedAt: iso(T0 + 1_200_000),
      receivedAt: iso(T0 + 1_210_000),
    });
    const list = notices({ before: [first], after: [again, closed], notifications: [] });
    expect(events(list)).toEqual(["a-20300101T032000Z Opened", "a Resolved"]);
    expect(events(notices({ before: [again, closed], after: [again, closed], notifications: list }))).toEqual(
      events(list),
    );
  });

  it("records one Opened message, pending and due at once, when an incident is first received", () => {
    const a = record("a");
    const list = notices({ after: [a] });
    expect(list).toEqual([
      {
        id: `payments/a/${T0 + 10_000}/opened`,
        incident: "a",
        event: "Opened",
        alertname: "HighErrorRate",
        firedAt: iso(T0),
        at: NOW,
        attempts: 0,
        nextAttemptAt: NOW,
      },
    ]);
    expect(due({ notifications: list }, Date.parse(NOW))).toHaveLength(1);
    // The Squad's schema takes it as it is.
    expect(incidentNotifications.parse(list)).toEqual(list);
  });

  it("then one Resolved message when its resolution is recorded, and nothing for an unchanged record", () => {
    const a = record("a");
    const opened = notices({ after: [a] });
    expect(notices({ before: [a], after: [a], notifications: opened })).toEqual(opened);
    const done = notices({ before: [a], after: [resolved(a)], notifications: opened });
    expect(events(done)).toEqual(["a Resolved", "a Opened"]);
    expect(done?.[0]?.id).toBe(`payments/a/${T0 + 10_000}/resolved`);
    // Resolved again (Alertmanager repeats the resolved group): nothing more.
    expect(notices({ before: [resolved(a)], after: [resolved(a)], notifications: done })).toEqual(done);
  });

  it("an incident resolved before it was acted on (first received resolved) gets the Resolved message only", () => {
    expect(events(notices({ after: [resolved(record("a"))] }))).toEqual(["a Resolved"]);
    expect(noticeEvents(undefined, resolved(record("a")))).toEqual(["Resolved"]);
  });

  it("records nothing for a squad without an on-call webhook, and keeps what is there", () => {
    expect(notices({ oncall: false, after: [record("a")] })).toBeUndefined();
    const kept = notices({ after: [record("b")] });
    expect(notices({ oncall: false, after: [record("a")], notifications: kept })).toEqual(kept);
  });

  it("never adds an id twice, even from a record it does not find in before", () => {
    const a = record("a");
    const opened = notices({ after: [a] });
    expect(notices({ before: [], after: [a], notifications: opened })).toEqual(opened);
  });

  it("the same group received again another day (its record gone) is a new incident with new ids", () => {
    const first = record("a");
    const later = record("a", { receivedAt: iso(T0 + 86_400_000) });
    expect(noticeEvents(first, later)).toEqual(["Opened"]);
    expect(incidentNoticeId("payments", first, "Opened")).not.toBe(
      incidentNoticeId("payments", later, "Opened"),
    );
    // Each squad of one alert group has its own incident under the same id: its own key.
    expect(incidentNoticeId("payments", first, "Opened")).not.toBe(
      incidentNoticeId("search", first, "Opened"),
    );
  });

  it("is bounded: finished messages make room first, the newest incident's first in the list", () => {
    expect(MAX_SQUAD_NOTIFICATIONS).toBe(NOTIFICATIONS_LIMIT);
    let list: IncidentNotification[] | undefined;
    let before: IncidentRecord[] = [];
    for (let i = 0; i < 12; i++) {
      const after = [record(`i${i}`, { receivedAt: iso(T0 + i * 1000) }), ...before];
      list = notices({ before, after, notifications: list });
      // The first two are delivered before the list fills up.
      if (i === 1) {
        list = list?.map((n) => afterAttempt(n, { kind: "delivered" }, T0 + 5_000).entry);
      }
      before = after;
    }
    expect(list).toHaveLength(MAX_SQUAD_NOTIFICATIONS);
    expect(list?.[0]?.incident).toBe("i11");
    // The delivered ones went; every pending one is kept.
    expect(list?.map((n) => n.incident)).not.toContain("i0");
    expect(list?.map((n) => n.incident)).not.toContain("i1");
    expect(list?.every((n) => n.deliveredAt === undefined)).toBe(true);
  });
});

describe("incidentNotices with the incident planner", () => {
  const GROUP = '{}:{alertname="HighErrorRate"}';
  const firing = {
    status: "firing" as const,
    labels: { alertname: "HighErrorRate", namespace: "shop" },
    startsAt: iso(T0),
    endsAt: "0001-01-01T00:00:00Z",
    fingerprint: "f1",
  };
  const msg = (alerts: WebhookMessage["alerts"]): WebhookMessage => ({
    version: "4",
    groupKey: GROUP,
    status: alerts.every((a) => a.status === "resolved") ? "resolved" : "firing",
    alerts,
  });
  const plan = (message: WebhookMessage, records: IncidentRecord[], now: number) => {
    const input: IncidentInput = {
      message,
      now,
      squadOf: (ns) => (ns === "shop" ? "payments" : undefined),
      squad: (name) => (name === "payments" ? { incidents: records } : undefined),
      changes: [],
      release: () => undefined,
      toggle: () => undefined,
    };
    return planIncident(input).squads[0]!.incidents;
  };
  /** One notification from Alertmanager as the receiver handles it: the records and the messages. */
  const receive = (
    message: WebhookMessage,
    state: { records: IncidentRecord[]; list: IncidentNotification[] | undefined },
    now: number,
  ) => {
    const after = plan(message, state.records, now);
    return {
      records: after,
      list: notices({ before: state.records, after, notifications: state.list, now: iso(now) }),
    };
  };

  it("opened, repeated (group_interval, a retry, a new leader), resolved, resolved again: two messages", () => {
    let state = { records: [] as IncidentRecord[], list: undefined as IncidentNotification[] | undefined };
    state = receive(msg([firing]), state, T0 + 10_000);
    expect(events(state.list)).toEqual([`${state.records[0]!.id} Opened`]);
    const opened = state.list;
    state = receive(msg([firing]), state, T0 + 70_000);
    expect(state.list).toEqual(opened);
    const resolvedAlert = { ...firing, status: "resolved" as const, endsAt: iso(T0 + 200_000) };
    state = receive(msg([resolvedAlert]), state, T0 + 210_000);
    expect(state.list?.map((n) => n.event)).toEqual(["Resolved", "Opened"]);
    const after = state.list;
    state = receive(msg([resolvedAlert]), state, T0 + 270_000);
    expect(state.list).toEqual(after);
  });
});
