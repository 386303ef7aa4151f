import { describe, expect, it } from "vitest";
import type { IncidentRecord } from "../../api/incident.js";
import { incidentsOf, renderIncidents, timeline } from "./incidents.js";

const T0 = Date.parse("2030-01-01T03:00:00.000Z");
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

const reverted: IncidentRecord = {
  id: "a1b2c3d4e5f60718",
  groupKey: '{}:{alertname="HighErrorRate"}',
  alertname: "HighErrorRate",
  firedAt: iso(T0),
  receivedAt: iso(T0 + 2000),
  alerts: ["HighErrorRate (f1)"],
  suspects: [
    { kind: "Release", namespace: "shop", name: "web", revision: "r2", at: iso(T0 - 10 * MIN) },
    { kind: "FeatureToggle", namespace: "shop", name: "new-checkout", at: iso(T0 - 20 * MIN) },
  ],
  actions: [
    {
      do: "Revert",
      target: "shop/web",
      actionId: "incident-a1",
      at: iso(T0 + 2000),
      state: "Done",
      result: "returned to 1.0 (revision r1)",
    },
    {
      do: "KillToggles",
      target: "shop/new-checkout",
      actionId: "incident-a1",
      at: iso(T0 + 2000),
      state: "Done",
      result: "killed",
    },
    { do: "Notify", at: iso(T0 + 2000), state: "Done", result: "recorded" },
  ],
  explanation: ["revert Release shop/web revision r2: the most recent Release change in the window"],
  resolvedAt: iso(T0 + 4 * MIN),
  recoverySeconds: 240,
};

const quiet: IncidentRecord = {
  id: "ffff000011112222",
  groupKey: "g2",
  alertname: "LatencyHigh",
  firedAt: iso(T0 + 30 * MIN),
  receivedAt: iso(T0 + 30 * MIN),
  alerts: ["LatencyHigh (f2)"],
  suspects: [],
  actions: [{ do: "Notify", at: iso(T0 + 30 * MIN), state: "Done", result: "recorded" }],
  explanation: ["LatencyHigh (f2): no change of squad search in scope in the 30m before …"],
};

describe("renderIncidents", () => {
  it("lists every squad's incidents newest first, with what was done and the recovery time", () => {
    const list = incidentsOf([
      { name: "payments", incidents: [reverted] },
      { name: "search", incidents: [quiet] },
      { name: "empty" },
    ]);
    expect(list.map((l) => l.squad)).toEqual(["search", "payments"]);
    expect(renderIncidents(list, { now: T0 + 60 * MIN })).toBe(
      [
        "SQUAD     INCIDENT          ALERT          FIRED    SUSPECTS  ACTIONS                                                RESOLVED",
        "search    ffff000011112222  LatencyHigh    30m ago  0         notified only                                          open",
        "payments  a1b2c3d4e5f60718  HighErrorRate  1h ago   2         revert shop/web (Done), kill shop/new-checkout (Done)  after 4m",
        "",
        "Name a squad for each incident's timeline: kubectl crescendo incidents <squad>",
        "",
      ].join("\n"),
    );
  });

  it("keeps the table narrow for a long alertname, which the timeline prints whole", () => {
    const long = { ...quiet, alertname: `Latency${"x".repeat(200)}` };
    const text = renderIncidents(incidentsOf([{ name: "search", incidents: [long] }]), {
      now: T0 + 31 * MIN,
    });
    const row = text.split("\n")[1]!;
    expect(row).toContain(`Latency${"x".repeat(32)}…`);
    expect(row.length).toBeLessThan(140);
    const full = renderIncidents(incidentsOf([{ name: "search", incidents: [long] }]), {
      now: T0 + 31 * MIN,
      timelines: true,
    });
    expect(full).toContain(`Incident ${long.id} (${long.alertname})`);
  });

  it("says so when there is none", () => {
    expect(renderIncidents([])).toBe("No incidents recorded.\n");
  });

  it("shows one squad's incidents with their timeline, in time order, and why", () => {
    const text = renderIncidents(incidentsOf([{ name: "payments", incidents: [reverted] }]), {
      now: T0 + 60 * MIN,
      timelines: true,
    });
    const lines = text.split("\n");
    const at = (what: string) => lines.findIndex((l) => l.includes(what));
    expect(at("Incident a1b2c3d4e5f60718 (HighErrorRate)")).toBeGreaterThan(0);
    const order = [
      "FeatureToggle shop/new-checkout changed (suspect)",
      "Release shop/web revision r2 promoted (suspect)",
      "alert fired: HighErrorRate (f1)",
      "received from Alertmanager",
      "Revert shop/web: Done (returned to 1.0 (revision r1))",
      "KillToggles shop/new-checkout: Done (killed)",
      "resolved, 4m after it fired",
      "Why:",
      "- revert Release shop/web revision r2: the most recent Release change in the window",
    ].map(at);
    expect(order.every((n) => n > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it("a resolution inferred from the alert firing again shows no recovery time, in the table and the timeline", () => {
    const inferred: IncidentRecord = {
      ...reverted,
      resolvedAt: iso(T0 + 20 * MIN),
      resolvedFrom: "FiredAgain",
      recoverySeconds: undefined,
    };
    const text = renderIncidents([{ squad: "payments", incident: inferred }], { now: T0 + 60 * MIN });
    expect(text.split("\n")[1]).toMatch(/by next firing$/);
    expect(text).not.toContain("after 0s");
    const lines = timeline(inferred, T0 + 60 * MIN);
    expect(lines.join("\n")).toContain(
      "resolved by then at the latest: no resolved notification arrived, and the alert fired again (recovery time unknown)",
    );
    expect(lines.join("\n")).not.toContain("0s after it fired");
  });

  it("marks a refused action and an open incident", () => {
    const refused: IncidentRecord = {
      ...reverted,
      resolvedAt: undefined,
      recoverySeconds: undefined,
      actions: [{ ...reverted.actions[0]!, state: "NotDone", result: "ignored: a rollout is in progress" }],
    };
    const text = renderIncidents([{ squad: "payments", incident: refused }], { now: T0, timelines: true });
    expect(text).toContain("revert shop/web (NotDone)");
    expect(text).toContain("open");
    expect(timeline(refused, T0).join("\n")).toContain(
      "Revert shop/web: NotDone (ignored: a rollout is in progress)",
    );
  });

  it("tells whether on-call was told: delivered, given up, pending; an older occurrence's messages are not this one's", () => {
    const notice = (event: "Opened" | "Resolved", at: number) => ({
      id: `payments/${reverted.id}/${at}/${event.toLowerCase()}`,
      incident: reverted.id,
      event,
      firedAt: reverted.firedAt,
      at: iso(at),
    });
    const list = incidentsOf([
      {
        name: "payments",
        incidents: [reverted],
        notifications: [
          {
            ...notice("Resolved", T0 + 4 * MIN),
            attempts: 3,
            nextAttemptAt: iso(T0 + 5 * MIN),
            lastError: "HTTP 503",
          },
          { ...notice("Opened", T0 + 2000), attempts: 2, deliveredAt: iso(T0 + 7000) },
          // Another occurrence of the same group, before this one was received.
          {
            ...notice("Opened", T0 - 60 * MIN),
            attempts: 1,
            failedAt: iso(T0 - 59 * MIN),
            lastError: "HTTP 404",
          },
        ],
      },
    ]);
    expect(list[0]?.notices).toHaveLength(2);
    const text = renderIncidents(list, { now: T0 + 60 * MIN, timelines: true });
    expect(text).toContain("on-call told: Opened (2 attempts)");
    expect(text).toContain("on-call message Resolved pending (3 attempts, last error: HTTP 503)");
    expect(text).not.toContain("HTTP 404");
    expect(text.indexOf("received from Alertmanager")).toBeLessThan(text.indexOf("on-call told: Opened"));
    const failed = timeline(reverted, T0, undefined, [
      { ...notice("Opened", T0 + 2000), attempts: 1, failedAt: iso(T0 + 3000), lastError: "HTTP 404" },
    ]);
    expect(failed.join("\n")).toContain("on-call not told: Opened, gave up after 1 attempt: HTTP 404");
  });
});
