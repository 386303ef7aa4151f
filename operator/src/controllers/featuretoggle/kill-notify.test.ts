import { expectSchemaFile } from "../release/schema-file.test-support.js";
import { describe, expect, it } from "vitest";
import { featureToggleSpec, type FeatureToggleStatus } from "../../api/featuretoggle.js";
import type { FeatureToggle } from "../../api/kinds.js";
import type { ToggleNotification } from "../../api/toggle-rollout.js";
import { slackProblems, teamsProblems } from "../release/chat-formats.test-support.js";
import {
  incidentOfAction,
  killEntry,
  killOncallMessage,
  killSummaryOf,
  toggleKillNotification,
  toggleKillNotificationOf,
} from "./kill-notify.js";
import { planToggleStatus, type ToggleAction, type ToggleStatusInput } from "./plan.js";
import { toggleMessageOf } from "./toggle-oncall.js";

const CREATED = "2030-01-01T00:00:00.000Z";
const T0 = Date.parse(CREATED) + 3_600_000;
const FACTS = {
  toggle: { name: "checkout", namespace: "shop", flag: "new-checkout", defaultVariant: "off" },
  squad: { name: "payments", tribe: "money", channel: "#payments-oncall" },
};

function toggle(
  spec: Record<string, unknown> = {},
  status?: FeatureToggleStatus,
  generation = 1,
): FeatureToggle {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "FeatureToggle",
    metadata: { name: "checkout", namespace: "shop", uid: "u1", generation, creationTimestamp: CREATED },
    spec: featureToggleSpec.parse({ variants: { on: true, off: false }, defaultVariant: "off", ...spec }),
    ...(status ? { status } : {}),
  };
}

/** One reconcile: the plan, and the toggle as the informer shows it after the write. */
function reconcile(input: ToggleStatusInput) {
  const plan = planToggleStatus(input);
  return { plan, toggle: { ...input.toggle, status: plan.status } };
}

const incidentKill: ToggleAction = {
  action: "kill",
  id: "incident-3f9c0a7d1e2b4c56",
  reason:
    "incident 3f9c0a7d1e2b4c56 (CheckoutErrorRate): changed at 2030-01-01T00:50:00Z, in the window before the alert",
};
const personKill: ToggleAction = { action: "kill", id: "20300101T010000Z-ab12cd34", reason: "checkout 500s" };

describe("killEntry", () => {
  it("records a kill by an action as pending, due at once, with an id of the toggle and the kill's time", () => {
    const entry = killEntry(
      "u1",
      {},
      { killedAt: "2030-01-01T01:00:00Z", killedBy: "action incident-abc", servedVariant: "off" },
      "  incident abc (HighErrors)  ",
    );
    expect(entry).toEqual({
      id: `u1/killed/${Date.parse("2030-01-01T01:00:00Z")}`,
      event: "Killed",
      message: 'Killed by incident abc: incident abc (HighErrors). Everyone is served default variant "off".',
      actionId: "incident-abc",
      incident: "abc",
      note: "incident abc (HighErrors)",
      at: "2030-01-01T01:00:00Z",
      attempts: 0,
      nextAttemptAt: "2030-01-01T01:00:00Z",
    });
  });

  it("records nothing for a kill already recorded, a kill by the guard's rollback, or no kill", () => {
    const after = { killedAt: "2030-01-01T01:00:00Z", killedBy: "action a1" };
    expect(killEntry("u1", { killedAt: after.killedAt }, after)).toBeUndefined();
    expect(killEntry("u1", {}, { killedAt: after.killedAt, killedBy: "abc123" })).toBeUndefined();
    expect(killEntry("u1", {}, {})).toBeUndefined();
  });

  it("says who killed it when no reason was given", () => {
    const entry = killEntry("u1", undefined, { killedAt: "2030-01-01T01:00:00Z", killedBy: "action a1" });
    expect(entry).toMatchObject({ message: "Killed by action a1.", actionId: "a1" });
    expect(entry).not.toHaveProperty("incident");
    expect(entry).not.toHaveProperty("note");
  });

  it("tells the incident receiver's action ids from others", () => {
    expect(incidentOfAction("incident-3f9c")).toBe("3f9c");
    expect(incidentOfAction("20300101T010000Z-ab12cd34")).toBeUndefined();
  });
});

describe("planToggleStatus: the kill's own status write records its notification", () => {
  it("records one entry for a kill by the incident receiver, and none again on later reconciles", () => {
    const first = reconcile({ toggle: toggle(), now: T0, action: incidentKill });
    expect(first.plan.status.notifications).toEqual([
      expect.objectContaining({
        event: "Killed",
        actionId: incidentKill.id,
        incident: "3f9c0a7d1e2b4c56",
        note: incidentKill.reason,
        at: first.plan.status.killedAt,
        attempts: 0,
      }),
    ]);
    // The annotation stays, and so does the kill: nothing more is recorded.
    const again = reconcile({ toggle: first.toggle, now: T0 + 60_000, action: incidentKill });
    expect(again.plan.status.notifications).toEqual(first.plan.status.notifications);
    // A second kill action on a killed toggle is ignored: no second message either.
    const twice = reconcile({ toggle: again.toggle, now: T0 + 120_000, action: personKill });
    expect(twice.plan.status.lastAction?.result).toBe("ignored: the toggle is already killed");
    expect(twice.plan.status.notifications).toEqual(first.plan.status.notifications);
  });

  it("records a person's kill with its reason and no incident", () => {
    const { plan } = reconcile({ toggle: toggle(), now: T0, action: personKill });
    expect(plan.status.notifications?.[0]).toMatchObject({ event: "Killed", note: "checkout 500s" });
    expect(plan.status.notifications?.[0]).not.toHaveProperty("incident");
  });

  it("keeps the entry through the delivery outcome written in between", () => {
    const first = reconcile({ toggle: toggle(), now: T0, action: personKill });
    const [entry] = first.plan.status.notifications ?? [];
    const delivered = { ...(entry as ToggleNotification), attempts: 1, deliveredAt: "2030-01-01T01:00:01Z" };
    const status = { ...first.toggle.status, notifications: [delivered] };
    const next = reconcile({ toggle: toggle({}, status), now: T0 + 5_000, action: personKill });
    expect(next.plan.status.notifications).toEqual([delivered]);
  });

  it("a kill after a rearm is a new kill, with a new notification", () => {
    const killed = reconcile({ toggle: toggle(), now: T0, action: personKill });
    const rearmed = reconcile({
      toggle: killed.toggle,
      now: T0 + 60_000,
      action: { action: "rearm", id: "r1" },
    });
    expect(rearmed.plan.killed).toBe(false);
    expect(rearmed.plan.status.notifications).toHaveLength(1);
    const again = reconcile({
      toggle: rearmed.toggle,
      now: T0 + 120_000,
      action: { ...personKill, id: "k2" },
    });
    const ids = (again.plan.status.notifications ?? []).map((n) => n.id);
    expect(ids).toEqual([`u1/killed/${T0 + 120_000}`, `u1/killed/${T0}`]);
    expect(again.plan.status.notifications?.[0]).toMatchObject({ actionId: "k2", attempts: 0 });
  });

  it("records nothing for a kill by the guard Release's rollback: the Release's message names the toggle", () => {
    const guarded = toggle({ guard: { release: "web" } });
    const { plan } = reconcile({
      toggle: guarded,
      now: T0,
      guardRelease: { name: "web", phase: "RolledBack", canaryRevision: "r2" },
    });
    expect(plan.killed).toBe(true);
    expect(plan.status.killedBy).toBe("r2");
    expect(plan.status).not.toHaveProperty("notifications");
  });

  it("a reason on another action does not become the kill's", () => {
    const { plan } = reconcile({ toggle: toggle(), now: T0, action: { action: "kill", id: "k1" } });
    expect(plan.status.notifications?.[0]).not.toHaveProperty("note");
  });
});

describe("the kill's on-call payload", () => {
  const { plan } = reconcile({ toggle: toggle(), now: T0, action: incidentKill });
  const entry = plan.status.notifications?.[0] as ToggleNotification;
  const payload = toggleKillNotificationOf(entry, FACTS);

  it("names the toggle, what is served, who killed it and why, and the commands, every field present", () => {
    expect(payload).toEqual({
      kind: "FeatureToggle",
      event: "Killed",
      toggle: "checkout",
      namespace: "shop",
      squad: "payments",
      tribe: "money",
      flag: "new-checkout",
      defaultVariant: "off",
      killedBy: "Incident",
      actionId: incidentKill.id,
      incident: "3f9c0a7d1e2b4c56",
      reason: incidentKill.reason,
      message: `Killed by incident 3f9c0a7d1e2b4c56: ${incidentKill.reason ?? ""}. Everyone is served default variant "off".`,
      channel: "#payments-oncall",
      command: "kubectl crescendo status featuretoggle/checkout -n shop",
      rearmCommand: "kubectl crescendo rearm checkout -n shop",
      at: plan.status.killedAt,
      notificationId: entry.id,
    });
    expect(toggleKillNotification.parse(payload)).toEqual(payload);
    const bare = toggleKillNotificationOf(
      { ...entry, incident: undefined, note: undefined, actionId: "a1" },
      { toggle: FACTS.toggle },
    );
    expect(bare).toMatchObject({
      killedBy: "Action",
      incident: null,
      reason: null,
      squad: null,
      channel: null,
    });
    expect(Object.keys(bare).sort()).toEqual(Object.keys(payload).sort());
  });

  it("is documented by docs/schemas/oncall-webhook-featuretoggle-killed.schema.json, generated from the zod schema", async () => {
    // UPDATE_SCHEMAS=1 npx vitest run --project unit operator/src/controllers/featuretoggle/kill-notify.test.ts
    await expectSchemaFile(
      "oncall-webhook-featuretoggle-killed.schema.json",
      toggleKillNotification,
      payload,
    );
  });

  it("is sent with the kill's id as its key, as JSON or rendered for Slack and Teams as they document", () => {
    const message = killOncallMessage(payload);
    expect(toggleMessageOf(entry, FACTS).body("json")).toEqual(payload);
    expect(message.id).toBe(entry.id);
    expect(message.body("json")).toBe(payload);
    expect(message.body(undefined)).toBe(payload);
    expect(killSummaryOf(payload)).toEqual({
      title: "shop/checkout: killed",
      why: payload.message,
      done: 'Everyone is served the default variant "off" of flag new-checkout until a person re-arms it: kubectl crescendo rearm checkout -n shop; the incident: kubectl crescendo incidents payments.',
      command: "kubectl crescendo status featuretoggle/checkout -n shop",
      facts: [
        ["Incident", "3f9c0a7d1e2b4c56"],
        ["Flag", "new-checkout"],
        ["Served", "off"],
        ["Squad", "payments"],
        ["At", payload.at],
      ],
    });
    const slack = message.body("slack");
    const teams = message.body("teams");
    expect(slackProblems(slack)).toEqual([]);
    expect(teamsProblems(teams)).toEqual([]);
    for (const text of [JSON.stringify(slack), JSON.stringify(teams)]) {
      for (const part of [
        "shop/checkout: killed",
        "CheckoutErrorRate",
        "kubectl crescendo status featuretoggle/checkout -n shop",
        "kubectl crescendo rearm checkout -n shop",
      ])
        expect(text).toContain(part);
    }
  });

  it("a person's kill says which action, and its text cannot become a Slack link or mention", () => {
    const person = toggleKillNotificationOf(
      {
        ...entry,
        incident: undefined,
        actionId: "a1",
        note: "<!channel> see <http://x|here>",
        message: "Killed by action a1: <!channel>.",
      },
      FACTS,
    );
    const summary = killSummaryOf(person);
    expect(summary.facts[0]).toEqual(["Killed by", "action a1"]);
    expect(summary.done).not.toContain("incidents");
    const slack = JSON.stringify(killOncallMessage(person).body("slack"));
    expect(slack).not.toContain("<!channel>");
    expect(slack).toContain("&lt;!channel&gt;");
    expect(slackProblems(JSON.parse(slack))).toEqual([]);
  });
});
