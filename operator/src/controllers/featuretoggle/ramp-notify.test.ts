import { expectSchemaFile } from "../release/schema-file.test-support.js";
import { describe, expect, it, vi } from "vitest";
import { ANNOTATIONS } from "../../api/common.js";
import type { FeatureToggleStatus } from "../../api/featuretoggle.js";
import type { Squad } from "../../api/kinds.js";
import type { ToggleNotification, ToggleRolloutStatus } from "../../api/toggle-rollout.js";
import { PrometheusAllowlist } from "../../analysis/allowlist.js";
import type { EventInput } from "../../runtime/events.js";
import { applyMergePatch } from "../../runtime/test-fixtures.js";
import type { KubeObject } from "../../runtime/types.js";
import { MeasurementRunner } from "../release/measurements.js";
import { NotificationRunner } from "../release/notification-runner.js";
import type { AttemptOutcome, OncallMessage } from "../release/notify.js";
import { watchFlagDocuments } from "./documents.js";
import { FeatureToggleReconciler } from "./reconciler.js";
import {
  rampRollbackEntry,
  toggleOncallMessage,
  toggleRollbackNotification,
  toggleRollbackNotificationOf,
  toggleSummaryOf,
} from "./ramp-notify.js";
import { fakeClient, logger, namespace, NOW, store, toggle } from "./test-fixtures.js";

const ROLLED_BACK: ToggleRolloutStatus = {
  id: "ramp1",
  variant: "on",
  phase: "RolledBack",
  percentage: 0,
  currentStepIndex: 1,
  startedAt: "2030-01-01T00:00:00.000Z",
  rolledBackAt: "2030-01-01T00:10:00.000Z",
  failedMetric: "error-rate",
  message: 'Everyone is served default variant "off": analysis failed at step 2: error-rate 0.5 > max 0.05',
};
const FACTS = {
  toggle: { name: "checkout", namespace: "shop", flag: "new-checkout", defaultVariant: "off" },
  squad: { name: "payments", tribe: "money", channel: "#payments-oncall" },
};

describe("rampRollbackEntry", () => {
  it("records a rolled-back ramp as pending, due at once, with an id of the toggle, the ramp and the time", () => {
    expect(rampRollbackEntry("uid-1", ROLLED_BACK, "AnalysisFailed")).toEqual({
      id: `uid-1/ramp1/${Date.parse("2030-01-01T00:10:00.000Z")}`,
      event: "RampRolledBack",
      variant: "on",
      reason: "AnalysisFailed",
      message: ROLLED_BACK.message,
      metric: "error-rate",
      at: "2030-01-01T00:10:00.000Z",
      attempts: 0,
      nextAttemptAt: "2030-01-01T00:10:00.000Z",
    });
  });

  it("records nothing for a ramp that did not roll back, and no metric for an abort", () => {
    expect(rampRollbackEntry("uid-1", { ...ROLLED_BACK, phase: "Paused" }, "Aborted")).toBeUndefined();
    expect(rampRollbackEntry("uid-1", undefined, "Aborted")).toBeUndefined();
    const { failedMetric: _m, ...aborted } = ROLLED_BACK;
    expect(rampRollbackEntry("uid-1", aborted, "Aborted")).not.toHaveProperty("metric");
  });
});

describe("the ramp's on-call payload", () => {
  const entry = rampRollbackEntry("uid-1", ROLLED_BACK, "AnalysisFailed") as ToggleNotification;
  const payload = toggleRollbackNotificationOf(entry, FACTS);

  it("names the toggle, flag, variant, failing metric and the command, every field present", () => {
    expect(payload).toEqual({
      kind: "FeatureToggle",
      event: "RampRolledBack",
      toggle: "checkout",
      namespace: "shop",
      squad: "payments",
      tribe: "money",
      flag: "new-checkout",
      variant: "on",
      defaultVariant: "off",
      reason: "AnalysisFailed",
      message: ROLLED_BACK.message,
      metric: "error-rate",
      channel: "#payments-oncall",
      command: "kubectl crescendo status featuretoggle/checkout -n shop",
      at: "2030-01-01T00:10:00.000Z",
      rollbackId: entry.id,
    });
    expect(toggleRollbackNotification.parse(payload)).toEqual(payload);
    const bare = toggleRollbackNotificationOf({ ...entry, metric: undefined }, { toggle: FACTS.toggle });
    expect(bare).toMatchObject({ squad: null, tribe: null, metric: null, channel: null });
    expect(Object.keys(bare).sort()).toEqual(Object.keys(payload).sort());
  });

  it("is documented by docs/schemas/oncall-webhook-featuretoggle.schema.json, generated from the zod schema", async () => {
    // UPDATE_SCHEMAS=1 npx vitest run --project unit operator/src/controllers/featuretoggle/ramp-notify.test.ts
    await expectSchemaFile("oncall-webhook-featuretoggle.schema.json", toggleRollbackNotification, payload);
  });

  it("is sent with the rollback id as its key, as JSON or rendered for Slack and Teams", () => {
    const message = toggleOncallMessage(payload);
    expect(message.id).toBe(entry.id);
    expect(message.body("json")).toBe(payload);
    expect(message.body(undefined)).toBe(payload);
    expect(toggleSummaryOf(payload)).toEqual({
      title: 'shop/checkout: ramp of "on" rolled back',
      why: ROLLED_BACK.message,
      done: 'Everyone is served the default variant "off" of flag new-checkout; the ramp stays rolled back until retried (kubectl crescendo retry featuretoggle/checkout -n shop).',
      command: "kubectl crescendo status featuretoggle/checkout -n shop",
      facts: [
        ["Reason", "AnalysisFailed"],
        ["Metric", "error-rate"],
        ["Flag", "new-checkout"],
        ["Variant", "on"],
        ["Squad", "payments"],
        ["At", "2030-01-01T00:10:00.000Z"],
      ],
    });
    const slack = JSON.stringify(message.body("slack"));
    const teams = JSON.stringify(message.body("teams"));
    for (const text of [slack, teams]) {
      for (const part of [
        "new-checkout",
        "error-rate",
        "kubectl crescendo status featuretoggle/checkout -n shop",
      ])
        expect(text).toContain(part);
    }
    // Slack's mrkdwn is escaped: the message quotes "off" and a threshold with ">".
    expect(slack).toContain("0.5 &gt; max 0.05");
    expect(teams).toContain("AdaptiveCard");
  });
});

/** A toggle ramping "on" in two steps, the second a pause until promoted. */
const RAMP = { rollout: { variant: "on", steps: [{ setWeight: 5 }, { pause: {} }] } };

/** `recordAtOnce`: as the controller wires it, a settled attempt is recorded by `recordAttempts`. */
function harness(outcomes: AttemptOutcome[], options: { recordAtOnce?: boolean } = {}) {
  const oncall: Squad = {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Squad",
    metadata: { name: "payments" },
    spec: { namespaces: [{ name: "shop" }], oncall: { webhookSecretRef: { name: "hook", key: "url" } } },
  } as unknown as Squad;
  const toggles = store([toggle("checkout", RAMP)]);
  const releases = store([]);
  const namespaces = store([namespace("shop", { "crescendo.dev/squad": "payments" })]);
  const squads = store([oncall as unknown as KubeObject]);
  let now = NOW;
  const clock = { now: () => now };
  const flags = watchFlagDocuments({ toggles, releases, clock });
  const { client, calls } = fakeClient({ statusVersions: true });
  const events: EventInput[] = [];
  const sent: { squad: string | undefined; message: OncallMessage }[] = [];
  const settled = vi.fn((key: string) => {
    if (options.recordAtOnce) recorded.push(reconciler.recordAttempts(key));
  });
  const recorded: Promise<void>[] = [];
  const runner = new NotificationRunner({ clock, logger, onSettled: settled });
  const reconciler = new FeatureToggleReconciler({
    client,
    recorder: { record: async (_o: KubeObject, e: EventInput) => void events.push(e) },
    logger,
    clock,
    flags,
    toggles,
    releases,
    namespaces,
    squads,
    configMaps: store(),
    crds: store(),
    ramps: {
      runner: new MeasurementRunner({ clock, logger, onSettled: () => undefined }),
      providerFor: () => ({ query: () => Promise.reject(new Error("no analysis in this ramp")) }),
      allowlist: PrometheusAllowlist.of([]),
    },
    oncall: {
      runner,
      webhook: {
        sendMessage: (squad, message) => {
          sent.push({ squad: squad?.metadata.name, message });
          return Promise.resolve(outcomes.shift() ?? { kind: "delivered" });
        },
      },
    },
  });
  /** The status as the apiserver holds it: every write is a JSON merge patch of the last. */
  const lastStatus = () =>
    calls
      .filter((c) => c.subresource === "status")
      .reduce<unknown>((s, c) => applyMergePatch(s, (c.body as { status: unknown }).status), undefined) as
      FeatureToggleStatus | undefined;
  /** The informer catches up with the last status write, and the namespace is reconciled. */
  let version = 0;
  /** A cache behind the apiserver: the toggle as it was after its first `writes` status writes. */
  const statusAfter = (writes: number) =>
    calls
      .filter((c) => c.subresource === "status")
      .slice(0, writes)
      .reduce<unknown>((s, c) => applyMergePatch(s, (c.body as { status: unknown }).status), undefined) as
      FeatureToggleStatus | undefined;
  const reconcile = async (annotations: Record<string, string> = {}, behind?: { writes: number }) => {
    const status = behind ? statusAfter(behind.writes) : lastStatus();
    version = calls.filter((c) => c.subresource === "status").length;
    toggles.upsert(
      toggle("checkout", RAMP, {
        ...(status ? { status } : {}),
        // A version none of our writes produced: the cache is read as it is.
        meta: { resourceVersion: behind ? "elsewhere" : version ? `w${version}` : "1", annotations },
      }),
    );
    await reconciler.reconcile("shop");
    // The attempts started by this reconcile settle (the fake webhook answers at once).
    await vi.waitFor(() => expect(runner.inFlight()).toBe(0));
  };
  const abort = { [ANNOTATIONS.action]: "abort", [ANNOTATIONS.actionId]: "a1" };
  return {
    reconcile,
    abort,
    lastStatus,
    sent,
    events,
    settled,
    later: (ms: number) => (now += ms),
    recorded: () => Promise.all(recorded),
    statusWrites: () => calls.filter((c) => c.subresource === "status").length,
  };
}

describe("FeatureToggleReconciler: a ramp's rollback tells the squad's on-call", () => {
  it("records the notification in the rollback's write, sends it once, then records the delivery", async () => {
    const h = harness([]);
    await h.reconcile();
    expect(h.lastStatus()?.rollout).toMatchObject({ phase: "Paused", percentage: 5 });
    expect(h.sent).toEqual([]);

    await h.reconcile(h.abort);
    const [pending] = h.lastStatus()?.notifications ?? [];
    expect(h.lastStatus()?.rollout).toMatchObject({ phase: "RolledBack" });
    expect(pending).toMatchObject({ variant: "on", reason: "Aborted", attempts: 0 });
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]?.squad).toBe("payments");
    expect(h.sent[0]?.message.id).toBe(pending?.id);
    expect(h.sent[0]?.message.body("json")).toMatchObject({
      toggle: "checkout",
      flag: "checkout",
      variant: "on",
      reason: "Aborted",
      rollbackId: pending?.id,
      command: "kubectl crescendo status featuretoggle/checkout -n shop",
    });
    expect(h.settled).toHaveBeenCalledWith("shop/checkout");

    // The reconcile the settled attempt brings records it; later ones send nothing more.
    await h.reconcile(h.abort);
    expect(h.lastStatus()?.notifications).toEqual([
      expect.objectContaining({ id: pending?.id, attempts: 1, deliveredAt: expect.any(String) }),
    ]);
    await h.reconcile(h.abort);
    h.later(60 * 60_000);
    await h.reconcile(h.abort);
    expect(h.sent).toHaveLength(1);
    expect(h.lastStatus()?.rollout).toMatchObject({ phase: "RolledBack" });
  });

  it("retries after a failure with backoff, and gives up on a permanent error with a NotificationFailed Event", async () => {
    const h = harness([
      { kind: "retryable", error: "POST http://hooks: HTTP 503" },
      { kind: "permanent", error: "POST http://hooks: HTTP 404" },
    ]);
    await h.reconcile();
    await h.reconcile(h.abort);
    await h.reconcile(h.abort);
    expect(h.lastStatus()?.notifications?.[0]).toMatchObject({
      attempts: 1,
      lastError: "POST http://hooks: HTTP 503",
      nextAttemptAt: new Date(NOW + 5_000).toISOString(),
    });
    expect(h.sent).toHaveLength(1);
    h.later(5_000);
    await h.reconcile(h.abort);
    expect(h.sent).toHaveLength(2);
    expect(new Set(h.sent.map((s) => s.message.id)).size).toBe(1);
    await h.reconcile(h.abort);
    expect(h.lastStatus()?.notifications?.[0]).toMatchObject({ attempts: 2, failedAt: expect.any(String) });
    expect(h.events.filter((e) => e.reason === "NotificationFailed")).toEqual([
      expect.objectContaining({
        type: "Warning",
        note: expect.stringContaining(
          'rollback of variant "on" after 2 attempt(s): POST http://hooks: HTTP 404',
        ),
      }),
    ]);
  });
});

describe("FeatureToggleReconciler: a kill action tells the squad's on-call", () => {
  it("records the kill's notification in the kill's write, sends it once with its reason, then records the delivery", async () => {
    const h = harness([]);
    const kill = {
      [ANNOTATIONS.action]: "kill",
      [ANNOTATIONS.actionId]: "incident-abc",
      [ANNOTATIONS.actionReason]: "incident abc (CheckoutErrors)",
    };
    await h.reconcile();
    await h.reconcile(kill);
    const [pending] = h.lastStatus()?.notifications ?? [];
    expect(h.lastStatus()?.effectiveState).toBe("KilledByRollback");
    expect(pending).toMatchObject({ event: "Killed", incident: "abc", attempts: 0 });
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]?.message.id).toBe(pending?.id);
    expect(h.sent[0]?.message.body("json")).toMatchObject({
      event: "Killed",
      toggle: "checkout",
      killedBy: "Incident",
      incident: "abc",
      reason: "incident abc (CheckoutErrors)",
      defaultVariant: "off",
      notificationId: pending?.id,
    });
    await h.reconcile(kill);
    await h.reconcile(kill);
    expect(h.lastStatus()?.notifications).toEqual([
      expect.objectContaining({ id: pending?.id, attempts: 1, deliveredAt: expect.any(String) }),
    ]);
    expect(h.sent).toHaveLength(1);
  });
});

describe("FeatureToggleReconciler.recordAttempts: an attempt's outcome is recorded as soon as it ends", () => {
  it("writes the delivery without waiting for the namespace's next reconcile, and reports it once", async () => {
    const h = harness([], { recordAtOnce: true });
    await h.reconcile();
    await h.reconcile(h.abort);
    await h.recorded();
    // Recorded by its own write, before any reconcile ran again.
    expect(h.lastStatus()?.notifications).toEqual([
      expect.objectContaining({ attempts: 1, deliveredAt: expect.any(String) }),
    ]);
    const writes = h.statusWrites();
    // The reconcile the runner brings has nothing left to record.
    await h.reconcile(h.abort);
    expect(h.statusWrites()).toBe(writes);
    expect(h.sent).toHaveLength(1);
  });

  it("sends nothing again from a reconcile that still sees the entry pending after its delivery was recorded", async () => {
    // The race CI caught: a reconcile reads the toggle before the attempt's outcome is written,
    // the outcome is written and forgotten by the runner, and that reconcile then finds the
    // entry pending and not in flight. Each attempt reads the toggle from the API first.
    const h = harness([], { recordAtOnce: true });
    await h.reconcile();
    await h.reconcile(h.abort);
    await h.recorded();
    const rollbackWrite = h.statusWrites() - 1;
    expect(h.lastStatus()?.notifications?.[0]).toMatchObject({ deliveredAt: expect.any(String) });
    await h.reconcile(h.abort, { writes: rollbackWrite });
    await h.recorded();
    expect(h.sent).toHaveLength(1);
    expect(h.lastStatus()?.notifications).toEqual([
      expect.objectContaining({ attempts: 1, deliveredAt: expect.any(String) }),
    ]);
  });

  it("a give-up is recorded at once too, with one NotificationFailed Event", async () => {
    const h = harness([{ kind: "permanent", error: "POST http://hooks: HTTP 404" }], { recordAtOnce: true });
    await h.reconcile();
    await h.reconcile(h.abort);
    await h.recorded();
    expect(h.lastStatus()?.notifications?.[0]).toMatchObject({ attempts: 1, failedAt: expect.any(String) });
    await h.reconcile(h.abort);
    expect(h.events.filter((e) => e.reason === "NotificationFailed")).toHaveLength(1);
  });
});
