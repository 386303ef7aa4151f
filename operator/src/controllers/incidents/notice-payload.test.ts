import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import prettier from "prettier";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { IncidentNotification, IncidentRecord } from "../../api/incident.js";
import { slackProblems, teamsProblems } from "../release/chat-formats.test-support.js";
import {
  incidentOncallMessage,
  incidentOncallPayload,
  incidentPayloadOf,
  incidentSummaryOf,
} from "./notice-payload.js";

const RECORD: IncidentRecord = {
  id: "3f2a9c0d1e4b5a67",
  groupKey: '{}:{alertname="CheckoutErrorRateHigh", namespace="shop"}',
  alertname: "CheckoutErrorRateHigh",
  firedAt: "2030-01-01T03:00:00.000Z",
  receivedAt: "2030-01-01T03:00:11.000Z",
  alerts: ["CheckoutErrorRateHigh (c0ffee0123456789)"],
  suspects: [
    { kind: "Release", namespace: "shop", name: "web", revision: "r2", at: "2030-01-01T02:50:00Z" },
    { kind: "FeatureToggle", namespace: "shop", name: "one-click", at: "2030-01-01T02:41:00Z" },
  ],
  actions: [
    {
      do: "Revert",
      target: "shop/web",
      actionId: "incident-3f2a9c0d1e4b5a67",
      at: "2030-01-01T03:00:11.000Z",
      state: "Done",
      result: "returned to 1.4.1 (revision r1)",
    },
    {
      do: "KillToggles",
      target: "shop/one-click",
      actionId: "incident-3f2a9c0d1e4b5a67",
      at: "2030-01-01T03:00:11.000Z",
      state: "Requested",
      result: "kill requested (action incident-3f2a9c0d1e4b5a67)",
    },
    { do: "Notify", at: "2030-01-01T03:00:11.000Z", state: "Done", result: "recorded here" },
  ],
  explanation: [
    "CheckoutErrorRateHigh (c0ffee0123456789): 2 change(s) in the 30m before 2030-01-01T03:00:00.000Z",
    "revert Release shop/web revision r2 at 2030-01-01T02:50:00Z: the most recent Release change in the window",
  ],
};
const OPENED: IncidentNotification = {
  id: "payments/3f2a9c0d1e4b5a67/1893466811000/opened",
  incident: RECORD.id,
  event: "Opened",
  alertname: "CheckoutErrorRateHigh",
  firedAt: RECORD.firedAt,
  at: "2030-01-01T03:00:11.000Z",
  attempts: 0,
};
const SQUAD = { name: "payments", tribe: "money", channel: "#payments-oncall" };

describe("the incident payload", () => {
  const payload = incidentPayloadOf(OPENED, RECORD, SQUAD);

  it("says what fired, the suspects, what was done and why, every field present", () => {
    expect(payload).toMatchObject({
      kind: "Incident",
      event: "Opened",
      squad: "payments",
      tribe: "money",
      channel: "#payments-oncall",
      incident: RECORD.id,
      alertname: "CheckoutErrorRateHigh",
      alerts: RECORD.alerts,
      firedAt: RECORD.firedAt,
      resolvedAt: null,
      recoverySeconds: null,
      command: "kubectl crescendo incidents payments",
      at: OPENED.at,
      notificationId: OPENED.id,
    });
    expect(payload.suspects[1]).toEqual({ ...RECORD.suspects[1], revision: null });
    expect(payload.actions[0]).toEqual({
      do: "Revert",
      target: "shop/web",
      state: "Done",
      result: "returned to 1.4.1 (revision r1)",
      at: "2030-01-01T03:00:11.000Z",
    });
    expect(payload.actions[2]?.target).toBeNull();
    expect(incidentOncallPayload.parse(payload)).toEqual(payload);
    const resolved = incidentPayloadOf(
      { ...OPENED, event: "Resolved", id: OPENED.id.replace("opened", "resolved") },
      { ...RECORD, resolvedAt: "2030-01-01T03:04:30.000Z", recoverySeconds: 270 },
      { name: "payments" },
    );
    expect(resolved).toMatchObject({
      resolvedAt: "2030-01-01T03:04:30.000Z",
      recoverySeconds: 270,
      resolvedFrom: "Alertmanager",
    });
    expect(payload.resolvedFrom).toBeNull();
    expect(resolved).toMatchObject({ tribe: null, channel: null });
    expect(incidentOncallPayload.parse(resolved)).toEqual(resolved);
  });

  it("a resolution inferred from the alert firing again says so, with no recovery time", () => {
    const inferred = incidentPayloadOf(
      { ...OPENED, event: "Resolved", id: OPENED.id.replace("opened", "resolved") },
      { ...RECORD, resolvedAt: "2030-01-01T03:20:00.000Z", resolvedFrom: "FiredAgain" },
      SQUAD,
    );
    expect(inferred).toMatchObject({
      resolvedAt: "2030-01-01T03:20:00.000Z",
      recoverySeconds: null,
      resolvedFrom: "FiredAgain",
    });
    expect(incidentOncallPayload.parse(inferred)).toEqual(inferred);
    const chat = incidentSummaryOf(inferred);
    expect(chat.title).toBe(
      "payments: CheckoutErrorRateHigh ended unseen (fired again; no resolved notification arrived)",
    );
    expect(chat.facts).toContainEqual(["Resolved", "by 2030-01-01T03:20:00.000Z at the latest (inferred)"]);
    expect(chat.facts.map(([k]) => k)).not.toContain("Recovery");
  });

  it("still says what fired when the record is gone", () => {
    const bare = incidentPayloadOf(OPENED, undefined, SQUAD);
    expect(bare).toMatchObject({
      alertname: "CheckoutErrorRateHigh",
      firedAt: RECORD.firedAt,
      groupKey: null,
    });
    expect(bare.explanation[0]).toContain("no longer in the Squad's status");
    expect(Object.keys(bare).sort()).toEqual(Object.keys(payload).sort());
    expect(incidentOncallPayload.parse(bare)).toEqual(bare);
  });

  it("is documented by docs/schemas/oncall-webhook-incident.schema.json, generated from the zod schema", async () => {
    const file = join(import.meta.dirname, "../../../../docs/schemas/oncall-webhook-incident.schema.json");
    const generated = z.toJSONSchema(incidentOncallPayload);
    // UPDATE_SCHEMAS=1 npx vitest run --project unit operator/src/controllers/incidents/notice-payload.test.ts
    if (process.env["UPDATE_SCHEMAS"] === "1") {
      const options = await prettier.resolveConfig(file);
      writeFileSync(file, await prettier.format(JSON.stringify(generated), { ...options, parser: "json" }));
    }
    const committed = JSON.parse(readFileSync(file, "utf8")) as {
      properties: object;
      required: string[];
      examples: unknown[];
    };
    expect(committed, "stale: regenerate it with UPDATE_SCHEMAS=1").toEqual(generated);
    // Every field always present: all are required, absent values are null.
    expect(Object.keys(committed.properties).sort()).toEqual(Object.keys(payload).sort());
    expect([...committed.required].sort()).toEqual(Object.keys(payload).sort());
    for (const example of committed.examples) expect(incidentOncallPayload.parse(example)).toEqual(example);
  });
});

describe("the incident message in each format", () => {
  const payload = incidentPayloadOf(OPENED, RECORD, SQUAD);
  const message = incidentOncallMessage(payload);

  it("is sent with the notification id as its key; json sends the payload itself", () => {
    expect(message.id).toBe(OPENED.id);
    expect(message.body("json")).toBe(payload);
    expect(message.body(undefined)).toBe(payload);
  });

  it("says what fired, why, what was done (target and state) and the command to look closer", () => {
    expect(incidentSummaryOf(payload)).toEqual({
      title: "payments: CheckoutErrorRateHigh firing",
      why: RECORD.explanation.join("\n"),
      done: "Revert shop/web: Done (returned to 1.4.1 (revision r1)); KillToggles shop/one-click: Requested (kill requested (action incident-3f2a9c0d1e4b5a67))",
      command: "kubectl crescendo incidents payments",
      facts: [
        ["Alerts", "CheckoutErrorRateHigh (c0ffee0123456789)"],
        [
          "Suspects",
          "Release shop/web revision r2 at 2030-01-01T02:50:00Z; FeatureToggle shop/one-click at 2030-01-01T02:41:00Z",
        ],
        ["Fired", RECORD.firedAt],
        ["Squad", "payments"],
        ["Incident", RECORD.id],
      ],
    });
    const resolved = incidentSummaryOf({
      ...payload,
      event: "Resolved",
      resolvedAt: "2030-01-01T03:04:30.000Z",
      recoverySeconds: 270,
      actions: [],
      suspects: [],
    });
    expect(resolved.title).toBe("payments: CheckoutErrorRateHigh resolved after 4m30s");
    expect(resolved.done).toContain("Nothing changed");
    expect(resolved.facts).toContainEqual(["Recovery", "4m30s"]);
    expect(resolved.facts).toContainEqual(["Suspects", "none in the correlation window"]);
  });

  it("renders valid Slack and Teams messages, escaped and bounded however long the record", () => {
    for (const format of ["slack", "teams"] as const) {
      const text = JSON.stringify(message.body(format));
      for (const part of [
        "CheckoutErrorRateHigh",
        "shop/web",
        "Done",
        "kubectl crescendo incidents payments",
      ])
        expect(text).toContain(part);
    }
    expect(slackProblems(message.body("slack"))).toEqual([]);
    expect(teamsProblems(message.body("teams"))).toEqual([]);

    const hostile = incidentOncallMessage(
      incidentPayloadOf(
        OPENED,
        {
          ...RECORD,
          // The header is plain_text (never parsed): only its length matters there.
          alertname: "A".repeat(300),
          alerts: Array.from(
            { length: 20 },
            (_, i) => `<https://evil.example|click> ${i} ${"x".repeat(240)}`,
          ),
          explanation: [
            "<!channel> wake up",
            ...Array.from({ length: 39 }, (_, i) => `${i} ${"y".repeat(500)}`),
          ],
        },
        SQUAD,
      ),
    );
    expect(slackProblems(hostile.body("slack"))).toEqual([]);
    expect(teamsProblems(hostile.body("teams"))).toEqual([]);
    const slack = JSON.stringify(hostile.body("slack"));
    expect(slack).not.toContain("<!channel>");
    expect(slack).not.toContain("<https://evil.example");
    expect(slack).toContain("more: see the command below");
  });
});
