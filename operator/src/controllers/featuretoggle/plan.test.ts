import { describe, expect, it } from "vitest";
import { featureToggleSpec, type FeatureToggleStatus } from "../../api/featuretoggle.js";
import type { FeatureToggle } from "../../api/kinds.js";
import { findCondition } from "../../runtime/conditions.js";
import {
  decideKill,
  DEFAULT_LIFETIME_DAYS,
  isActiveToggle,
  KILLED_CONDITION,
  MAX_REQUEUE_MS,
  planFlagConfigMap,
  planToggleStatus,
  rankActiveToggles,
  squadTogglePolicy,
  staleness,
  toggleAction,
  type GuardRelease,
  type ToggleStatusInput,
} from "./plan.js";

const DAY = 86_400_000;
const CREATED = "2024-01-01T00:00:00Z";
const T0 = Date.parse(CREATED) + DAY; // one day after creation

function toggle(
  spec: Record<string, unknown> = {},
  meta: Partial<FeatureToggle["metadata"]> = {},
  status?: FeatureToggleStatus,
): FeatureToggle {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "FeatureToggle",
    metadata: {
      name: "checkout",
      namespace: "team-a",
      uid: "u1",
      generation: 1,
      creationTimestamp: CREATED,
      ...meta,
    },
    spec: featureToggleSpec.parse({ variants: { on: true, off: false }, defaultVariant: "off", ...spec }),
    ...(status ? { status } : {}),
  };
}

const guarded = (status?: FeatureToggleStatus, meta: Partial<FeatureToggle["metadata"]> = {}) =>
  toggle({ guard: { release: "web" } }, meta, status);
const release = (phase: GuardRelease["phase"], extra: Partial<GuardRelease> = {}): GuardRelease => ({
  name: "web",
  phase,
  stableRevision: "rev-1",
  canaryRevision: "rev-2",
  ...extra,
});

/** Runs the plan and writes its status back, as the controller does between reconciles. */
function reconcile(input: ToggleStatusInput) {
  const plan = planToggleStatus(input);
  return { plan, toggle: { ...input.toggle, status: plan.status } };
}

const condition = (status: FeatureToggleStatus, type: string) => findCondition(status.conditions, type);

describe("toggleAction", () => {
  it("needs both the action and its id", () => {
    const annotated = (a: Record<string, string>) => toggle({}, { annotations: a });
    expect(
      toggleAction(annotated({ "crescendo.dev/action": "rearm", "crescendo.dev/action-id": "7" })),
    ).toEqual({
      action: "rearm",
      id: "7",
    });
    expect(
      toggleAction(annotated({ "crescendo.dev/action": " rearm ", "crescendo.dev/action-id": " 7 " })),
    ).toEqual({
      action: "rearm",
      id: "7",
    });
    expect(toggleAction(annotated({ "crescendo.dev/action": "rearm" }))).toBeUndefined();
    expect(toggleAction(annotated({ "crescendo.dev/action-id": "7" }))).toBeUndefined();
    expect(toggleAction(toggle())).toBeUndefined();
  });
});

describe("active toggles", () => {
  it("active = served as the spec says: by status when known, else by spec", () => {
    expect(isActiveToggle(toggle())).toBe(true);
    expect(isActiveToggle(toggle({ state: "Disabled" }))).toBe(false);
    expect(isActiveToggle(toggle({}, {}, { effectiveState: "KilledByRollback" }))).toBe(false);
    expect(isActiveToggle(toggle({}, {}, { effectiveState: "Disabled" }))).toBe(false);
    expect(isActiveToggle(toggle({ state: "Disabled" }, {}, { effectiveState: "Enabled" }))).toBe(true);
  });
  it("ranks active toggles oldest first, then by name and namespace", () => {
    const ranks = rankActiveToggles([
      toggle({}, { name: "new", creationTimestamp: "2024-03-01T00:00:00Z" }),
      toggle({}, { name: "b", namespace: "x", creationTimestamp: "2024-02-01T00:00:00Z" }),
      toggle({}, { name: "b", namespace: "a", creationTimestamp: "2024-02-01T00:00:00Z" }),
      toggle({}, { name: "a", namespace: "z", creationTimestamp: "2024-02-01T00:00:00Z" }),
      toggle({ state: "Disabled" }, { name: "off", creationTimestamp: "2023-01-01T00:00:00Z" }),
    ]);
    expect([...ranks]).toEqual([
      ["z/a", 0],
      ["a/b", 1],
      ["x/b", 2],
      ["team-a/new", 3],
    ]);
  });
});

describe("decideKill", () => {
  const now = T0;

  it("an unguarded toggle is never killed", () => {
    expect(decideKill({ toggle: toggle(), now })).toEqual({ killed: false });
  });
  it("a guarded toggle lives while its Release is not RolledBack, or is missing", () => {
    for (const phase of ["Progressing", "Paused", "Healthy", "Degraded"] as const) {
      expect(decideKill({ toggle: guarded(), guardRelease: release(phase), now }).killed).toBe(false);
    }
    expect(decideKill({ toggle: guarded(), now }).killed).toBe(false);
  });
  it("a RolledBack Release kills it, naming the revision from history", () => {
    const history = [
      { revision: "rev-9", version: "9", startedAt: CREATED, outcome: "RolledBack" as const },
      { revision: "rev-1", version: "1", startedAt: CREATED, outcome: "Promoted" as const },
    ];
    const d = decideKill({ toggle: guarded(), guardRelease: release("RolledBack", { history }), now });
    expect(d).toMatchObject({
      killed: true,
      killedAt: "2024-01-02T00:00:00Z",
      killedBy: "rev-9",
      killGeneration: 1,
    });
    expect(d.event).toMatchObject({ type: "Warning", reason: "ToggleKilled" });
    expect(d.event?.note).toContain("Release web rolled back revision rev-9");
    expect(d.event?.note).toContain("crescendo.dev/action=rearm");
  });
  it("without a RolledBack history entry, the canary revision is the culprit; without either, none is named", () => {
    const history = [{ revision: "rev-1", version: "1", startedAt: CREATED, outcome: "Promoted" as const }];
    expect(
      decideKill({ toggle: guarded(), guardRelease: release("RolledBack", { history }), now }).killedBy,
    ).toBe("rev-2");
    const bare = decideKill({ toggle: guarded(), guardRelease: { name: "web", phase: "RolledBack" }, now });
    expect(bare.killed).toBe(true);
    expect(bare).not.toHaveProperty("killedBy");
  });

  const killedStatus = (extra: Partial<FeatureToggleStatus> = {}): FeatureToggleStatus => ({
    observedGeneration: 1,
    effectiveState: "KilledByRollback",
    killedAt: "2024-01-02T00:00:00Z",
    killedBy: "rev-2",
    conditions: [
      {
        type: KILLED_CONDITION,
        status: "True",
        reason: "GuardRolledBack",
        message: "",
        lastTransitionTime: "2024-01-02T00:00:00Z",
        observedGeneration: 1,
      },
    ],
    ...extra,
  });
  const rearm = (id = "a1") => ({ action: "rearm", id });

  it("stays killed, keeping when and by what, while the Release is not Healthy", () => {
    for (const phase of ["RolledBack", "Progressing", "Paused", "Degraded"] as const) {
      const d = decideKill({ toggle: guarded(killedStatus()), guardRelease: release(phase), now: now + DAY });
      expect(d).toEqual({
        killed: true,
        killedAt: "2024-01-02T00:00:00Z",
        killedBy: "rev-2",
        killGeneration: 1,
      });
    }
  });
  it("stays killed when the Release has gone missing", () => {
    expect(decideKill({ toggle: guarded(killedStatus()), now }).killed).toBe(true);
  });
  it("stays killed when the Release is Healthy but nobody re-armed it", () => {
    const d = decideKill({ toggle: guarded(killedStatus()), guardRelease: release("Healthy"), now });
    expect(d.killed).toBe(true);
    expect(d.event).toBeUndefined();
  });
  it("a rearm while the Release is not Healthy is refused and recorded, not remembered", () => {
    const d = decideKill({
      toggle: guarded(killedStatus()),
      guardRelease: release("Progressing"),
      action: rearm(),
      now,
    });
    expect(d.killed).toBe(true);
    expect(d.lastAction).toEqual({
      id: "a1",
      action: "rearm",
      acceptedAt: "2024-01-02T00:00:00Z",
      result: "refused: Release web is Progressing, not Healthy; send a new rearm once it is",
    });
    // The same id later, once Healthy, does nothing: each id acts once.
    const later = decideKill({
      toggle: guarded(killedStatus({ lastAction: d.lastAction })),
      guardRelease: release("Healthy"),
      action: rearm(),
      now: now + DAY,
    });
    expect(later.killed).toBe(true);
    expect(later.lastAction).toEqual(d.lastAction);
  });
  it("Healthy + a new rearm id: re-armed", () => {
    const d = decideKill({
      toggle: guarded(killedStatus()),
      guardRelease: release("Healthy"),
      action: rearm("a2"),
      now,
    });
    expect(d).toMatchObject({ killed: false, lastAction: { id: "a2", action: "rearm", result: "re-armed" } });
    expect(d.event).toMatchObject({ type: "Normal", reason: "ToggleRearmed" });
    expect(d.event?.note).toContain("rearm action");
  });
  it("Healthy + a spec change since the kill: re-armed, even if the change came while it was RolledBack", () => {
    const edited = guarded(killedStatus({ observedGeneration: 2 }), { generation: 2 });
    expect(decideKill({ toggle: edited, guardRelease: release("RolledBack"), now }).killed).toBe(true);
    const d = decideKill({ toggle: edited, guardRelease: release("Healthy"), now });
    expect(d.killed).toBe(false);
    expect(d.event?.note).toContain("spec change (generation 2)");
  });
  it("reads the kill generation from the condition, falling back to observedGeneration", () => {
    const noCondition = guarded(killedStatus({ conditions: [], observedGeneration: 3 }), { generation: 3 });
    expect(decideKill({ toggle: noCondition, guardRelease: release("Healthy"), now }).killed).toBe(true);
    const bumped = guarded(killedStatus({ conditions: [], observedGeneration: 3 }), { generation: 4 });
    expect(decideKill({ toggle: bumped, guardRelease: release("Healthy"), now }).killed).toBe(false);
  });
  it("removing the guard lifts the kill at once", () => {
    const d = decideKill({
      toggle: toggle({}, {}, killedStatus()),
      guardRelease: release("RolledBack"),
      now,
    });
    expect(d.killed).toBe(false);
    expect(d.event).toMatchObject({
      reason: "ToggleRearmed",
      note: "Guard removed; serving the spec again.",
    });
  });
  it("a rearm on a live toggle is recorded as ignored; other actions as not applicable", () => {
    expect(
      decideKill({ toggle: guarded(), guardRelease: release("Healthy"), action: rearm(), now }).lastAction,
    ).toMatchObject({
      result: "ignored: the toggle is not killed",
    });
    expect(
      decideKill({ toggle: toggle(), action: { action: "promote", id: "p" }, now }).lastAction,
    ).toMatchObject({
      action: "promote",
      result: 'ignored: "promote" does not apply to FeatureToggles (only kill and rearm)',
    });
  });
  it("a rearm arriving in the reconcile that kills is refused", () => {
    const d = decideKill({ toggle: guarded(), guardRelease: release("RolledBack"), action: rearm(), now });
    expect(d.killed).toBe(true);
    expect(d.lastAction?.result).toContain("refused: Release web is RolledBack");
  });
  it("keeps the previous lastAction when there is no new action", () => {
    const lastAction = { id: "x", action: "rearm", acceptedAt: CREATED, result: "re-armed" };
    expect(decideKill({ toggle: toggle({}, {}, { lastAction }), now }).lastAction).toEqual(lastAction);
  });
});

describe("staleness", () => {
  it.each([
    ["release", 40],
    ["experiment", 40],
    ["ops", 7],
  ] as const)("%s toggles are stale after %i days by default", (type, days) => {
    const t = toggle({ type });
    expect(DEFAULT_LIFETIME_DAYS[type]).toBe(days);
    const at = Date.parse(CREATED) + days * DAY;
    expect(staleness(t, undefined, at)).toMatchObject({ stale: false, staleAt: at });
    expect(staleness(t, undefined, at + 1)).toMatchObject({ stale: true, staleAt: at });
  });
  it("permission toggles never go stale by age", () => {
    expect(staleness(toggle({ type: "permission" }), undefined, T0 + 10_000 * DAY)).toEqual({ stale: false });
  });
  it("the squad's lifetimeDays override the defaults, permission included", () => {
    const policy = { lifetimeDays: { release: 3, permission: 365 } };
    expect(staleness(toggle(), policy, Date.parse(CREATED) + 3 * DAY + 1).stale).toBe(true);
    expect(staleness(toggle({ type: "permission" }), policy, Date.parse(CREATED) + 366 * DAY).stale).toBe(
      true,
    );
    expect(staleness(toggle({ type: "ops" }), policy, Date.parse(CREATED) + 8 * DAY).stale).toBe(true);
  });
  it("expiresAt applies when it comes first, for any type", () => {
    const t = toggle({ type: "permission", expiresAt: "2024-01-05T00:00:00Z" });
    expect(staleness(t, undefined, Date.parse("2024-01-05T00:00:01Z"))).toMatchObject({
      stale: true,
      rule: "spec.expiresAt 2024-01-05T00:00:00Z",
    });
    const late = toggle({ expiresAt: "2025-01-01T00:00:00Z" });
    expect(staleness(late, undefined, T0).rule).toBe("the 40-day lifetime of release toggles");
  });
  it("an unreadable expiresAt or creationTimestamp is ignored", () => {
    expect(staleness(toggle({ type: "permission", expiresAt: "soon" }), undefined, T0)).toEqual({
      stale: false,
    });
    expect(staleness(toggle({}, { creationTimestamp: undefined }), undefined, T0)).toEqual({ stale: false });
  });
});

describe("planToggleStatus", () => {
  it("an enabled toggle: served, Ready, every field filled", () => {
    const { status, events, killed, requeueAfterMs } = planToggleStatus({ toggle: toggle(), now: T0 });
    expect(killed).toBe(false);
    expect(events).toEqual([]);
    expect(status).toMatchObject({
      observedGeneration: 1,
      key: "checkout",
      effectiveState: "Enabled",
      servedVariant: "off",
      stale: false,
    });
    expect(status).not.toHaveProperty("killedAt");
    expect(status).not.toHaveProperty("staleSince");
    expect(status).not.toHaveProperty("lastAction");
    expect(condition(status, "Ready")).toMatchObject({
      status: "True",
      reason: "Serving",
      message: 'Serving "checkout".',
    });
    expect(condition(status, "Reconciling")?.status).toBe("False");
    expect(condition(status, "Stalled")?.status).toBe("False");
    expect(condition(status, "Stale")).toMatchObject({
      status: "False",
      reason: "WithinLifetime",
      message: "Becomes stale at 2024-02-10T00:00:00Z (the 40-day lifetime of release toggles).",
    });
    expect(condition(status, "OverActiveLimit")).toBeUndefined();
    expect(condition(status, KILLED_CONDITION)).toBeUndefined();
    expect(requeueAfterMs).toBe(MAX_REQUEUE_MS);
  });
  it("uses spec.key and accepts a Date for now", () => {
    const { status } = planToggleStatus({ toggle: toggle({ key: "checkout.v2" }), now: new Date(T0) });
    expect(status.key).toBe("checkout.v2");
    expect(condition(status, "Ready")?.lastTransitionTime).toBe("2024-01-02T00:00:00Z");
  });
  it("a Disabled toggle: effectiveState Disabled, still Ready", () => {
    const { status, killed } = planToggleStatus({ toggle: toggle({ state: "Disabled" }), now: T0 });
    expect(killed).toBe(false);
    expect(status.effectiveState).toBe("Disabled");
    expect(condition(status, "Ready")).toMatchObject({
      status: "True",
      reason: "Disabled",
      message: 'Serving "checkout": disabled, everyone gets default variant "off".',
    });
  });

  it("kill → stays killed → re-armed, across reconciles", () => {
    // 1. The Release rolls back: killed, once.
    const first = reconcile({ toggle: guarded(), guardRelease: release("RolledBack"), now: T0 });
    expect(first.plan.killed).toBe(true);
    expect(first.plan.events.map((e) => e.reason)).toEqual(["ToggleKilled"]);
    // The re-arm command in the Event works pasted as is, from any current namespace.
    expect(first.plan.events[0]?.note).toContain("kubectl annotate featuretoggle checkout -n team-a ");
    expect(first.plan.status).toMatchObject({
      effectiveState: "KilledByRollback",
      servedVariant: "off",
      killedAt: "2024-01-02T00:00:00Z",
      killedBy: "rev-2",
    });
    expect(condition(first.plan.status, KILLED_CONDITION)).toMatchObject({
      status: "True",
      observedGeneration: 1,
    });
    expect(condition(first.plan.status, "Ready")).toMatchObject({
      status: "True",
      reason: "KilledByRollback",
    });
    expect(condition(first.plan.status, "Ready")?.message).toContain(
      "kubectl annotate featuretoggle checkout -n team-a crescendo.dev/action=rearm",
    );

    // 2. A new rollout becomes Healthy: still killed, nothing new to say, status unchanged.
    const second = reconcile({ toggle: first.toggle, guardRelease: release("Healthy"), now: T0 + 3600_000 });
    expect(second.plan.killed).toBe(true);
    expect(second.plan.events).toEqual([]);
    expect(second.plan.status).toEqual(first.plan.status);

    // 3. Someone re-arms: served again.
    const annotated = {
      ...second.toggle,
      metadata: {
        ...second.toggle.metadata,
        annotations: { "crescendo.dev/action": "rearm", "crescendo.dev/action-id": "r1" },
      },
    };
    const third = reconcile({
      toggle: annotated,
      guardRelease: release("Healthy"),
      action: toggleAction(annotated),
      now: T0 + 7200_000,
    });
    expect(third.plan.killed).toBe(false);
    expect(third.plan.events.map((e) => e.reason)).toEqual(["ToggleRearmed"]);
    expect(third.plan.status).toMatchObject({
      effectiveState: "Enabled",
      lastAction: { id: "r1", result: "re-armed" },
    });
    expect(third.plan.status).not.toHaveProperty("killedAt");
    expect(third.plan.status).not.toHaveProperty("killedBy");
    expect(condition(third.plan.status, KILLED_CONDITION)).toMatchObject({
      status: "False",
      reason: "Armed",
      lastTransitionTime: "2024-01-02T02:00:00Z",
    });

    // 4. The annotation stays; the same id does not act again, even after another rollback.
    const fourth = reconcile({
      toggle: third.toggle,
      guardRelease: release("RolledBack"),
      action: toggleAction(annotated),
      now: T0 + 10_800_000,
    });
    expect(fourth.plan.killed).toBe(true);
    const fifth = planToggleStatus({
      toggle: fourth.toggle,
      guardRelease: release("Healthy"),
      action: toggleAction(annotated),
      now: T0 + 14_400_000,
    });
    expect(fifth.killed).toBe(true);
  });

  it("a spec edit while killed re-arms once the Release is Healthy", () => {
    const killed = reconcile({ toggle: guarded(), guardRelease: release("RolledBack"), now: T0 });
    const edited = { ...killed.toggle, metadata: { ...killed.toggle.metadata, generation: 2 } };
    const stillRolledBack = reconcile({
      toggle: edited,
      guardRelease: release("RolledBack"),
      now: T0 + 1000,
    });
    expect(stillRolledBack.plan.killed).toBe(true);
    expect(stillRolledBack.plan.status.observedGeneration).toBe(2);
    expect(condition(stillRolledBack.plan.status, KILLED_CONDITION)?.observedGeneration).toBe(1);
    const healthy = planToggleStatus({
      toggle: stillRolledBack.toggle,
      guardRelease: release("Healthy"),
      now: T0 + 2000,
    });
    expect(healthy.killed).toBe(false);
  });

  it("a guard whose Release is missing is reported on Ready", () => {
    const { status } = planToggleStatus({ toggle: guarded(), now: T0 });
    expect(condition(status, "Ready")?.message).toBe('Serving "checkout". Guard Release web not found.');
    expect(condition(status, KILLED_CONDITION)).toMatchObject({ status: "False" });
  });

  it("stale: condition, staleSince at the threshold, one Event, and no requeue once stale", () => {
    const now = Date.parse(CREATED) + 41 * DAY;
    const first = reconcile({ toggle: toggle(), now });
    expect(first.plan.status).toMatchObject({ stale: true, staleSince: "2024-02-10T00:00:00Z" });
    expect(condition(first.plan.status, "Stale")).toMatchObject({
      status: "True",
      reason: "LifetimeExceeded",
      message: "Past the 40-day lifetime of release toggles. Remove the toggle from code, then delete it.",
    });
    expect(first.plan.events).toEqual([
      {
        type: "Warning",
        reason: "ToggleStale",
        note: "FeatureToggle checkout is past the 40-day lifetime of release toggles. Remove it from code, then delete it.",
      },
    ]);
    expect(first.plan.requeueAfterMs).toBeUndefined();
    const second = planToggleStatus({ toggle: first.toggle, now: now + DAY });
    expect(second.events).toEqual([]);
    expect(second.status.staleSince).toBe("2024-02-10T00:00:00Z");
    expect(second.status).toEqual(first.plan.status);
  });
  it("expired: reason Expired", () => {
    const { status } = planToggleStatus({ toggle: toggle({ expiresAt: "2024-01-01T12:00:00Z" }), now: T0 });
    expect(condition(status, "Stale")).toMatchObject({ status: "True", reason: "Expired" });
    expect(status.staleSince).toBe("2024-01-01T12:00:00Z");
  });
  it("no longer stale (expiresAt moved): staleSince dropped, condition False", () => {
    const stale = reconcile({ toggle: toggle({ expiresAt: "2024-01-01T12:00:00Z" }), now: T0 });
    const moved = { ...stale.toggle, spec: { ...stale.toggle.spec, expiresAt: "2024-01-03T00:00:00Z" } };
    const { status, requeueAfterMs } = planToggleStatus({ toggle: moved, now: T0 });
    expect(status.stale).toBe(false);
    expect(status).not.toHaveProperty("staleSince");
    expect(condition(status, "Stale")?.status).toBe("False");
    expect(requeueAfterMs).toBe(MAX_REQUEUE_MS); // a day away, capped
  });
  it("requeues just after the toggle turns stale, at least a second away", () => {
    const soon = toggle({ expiresAt: new Date(T0 + 5000).toISOString() });
    expect(planToggleStatus({ toggle: soon, now: T0 }).requeueAfterMs).toBe(6000);
    const now = toggle({ expiresAt: new Date(T0).toISOString() });
    expect(planToggleStatus({ toggle: now, now: T0 }).requeueAfterMs).toBe(1000);
  });
  it("a permission toggle: never stale, no requeue", () => {
    const { status, requeueAfterMs } = planToggleStatus({ toggle: toggle({ type: "permission" }), now: T0 });
    expect(condition(status, "Stale")?.message).toBe(
      "Never stale: permission toggles have no lifetime and spec.expiresAt is not set.",
    );
    expect(requeueAfterMs).toBeUndefined();
  });

  it("OverActiveLimit: True beyond the squad's maxActive, False within, absent without a limit", () => {
    const squadToggles = { maxActive: 2 };
    const over = planToggleStatus({ toggle: toggle(), squadToggles, activeRank: 2, now: T0 }).status;
    expect(condition(over, "OverActiveLimit")).toMatchObject({
      status: "True",
      reason: "ActiveLimitExceeded",
    });
    expect(condition(over, "OverActiveLimit")?.message).toContain(
      "active toggle #3 of the squad, which allows 2",
    );
    expect(condition(over, "OverActiveLimit")?.message).toContain("nothing is deleted");
    expect(condition(over, "Ready")?.status).toBe("True");
    const within = planToggleStatus({ toggle: toggle(), squadToggles, activeRank: 1, now: T0 }).status;
    expect(condition(within, "OverActiveLimit")).toMatchObject({ status: "False", reason: "WithinLimit" });
    const inactive = planToggleStatus({
      toggle: toggle({ state: "Disabled" }),
      squadToggles,
      activeRank: 5,
      now: T0,
    });
    expect(condition(inactive.status, "OverActiveLimit")?.status).toBe("False");
    const zero = planToggleStatus({
      toggle: toggle(),
      squadToggles: { maxActive: 0 },
      activeRank: 0,
      now: T0,
    });
    expect(condition(zero.status, "OverActiveLimit")?.status).toBe("True");
    const lifted = planToggleStatus({ toggle: { ...toggle(), status: over }, activeRank: 2, now: T0 });
    expect(condition(lifted.status, "OverActiveLimit")).toBeUndefined();
  });

  it("a key conflict stalls the toggle with a clear message", () => {
    const { status } = planToggleStatus({
      toggle: toggle({ key: "shared" }, { name: "newer" }),
      conflict: { toggle: "newer", key: "shared", winner: "older" },
      now: T0,
    });
    expect(condition(status, "Stalled")).toMatchObject({ status: "True", reason: "KeyConflict" });
    expect(condition(status, "Stalled")?.message).toBe(
      'Flag key "shared" is already served by the older FeatureToggle older; this toggle is not served. Set a unique spec.key.',
    );
    expect(condition(status, "Ready")?.status).toBe("False");
  });
  it("a flag flagd refuses stalls the toggle and says what is served", () => {
    const invalid = {
      toggle: "checkout",
      key: "checkout",
      reason: "bad semver",
      served: "default-variant" as const,
    };
    const { status } = planToggleStatus({ toggle: toggle(), invalid, now: T0 });
    expect(condition(status, "Stalled")).toMatchObject({
      status: "True",
      reason: "InvalidFlag",
      message: 'flagd refuses this flag (bad semver); everyone gets default variant "off".',
    });
    const omitted = planToggleStatus({
      toggle: toggle(),
      invalid: { ...invalid, served: "omitted" },
      now: T0,
    });
    expect(condition(omitted.status, "Stalled")?.message).toContain("it is not served");
  });

  it("lastTransitionTime moves only when a condition's status does", () => {
    const first = reconcile({ toggle: toggle(), now: T0 });
    const later = planToggleStatus({ toggle: first.toggle, now: T0 + 3600_000 });
    expect(later.status.conditions).toEqual(first.plan.status.conditions);
    const disabled = { ...first.toggle, spec: { ...first.toggle.spec, state: "Disabled" as const } };
    const changed = planToggleStatus({ toggle: disabled, now: T0 + 3600_000 }).status;
    // Ready stays True (only its reason changed), so its time stays too.
    expect(condition(changed, "Ready")).toMatchObject({
      reason: "Disabled",
      lastTransitionTime: "2024-01-02T00:00:00Z",
    });
    const stalled = planToggleStatus({
      toggle: first.toggle,
      conflict: { toggle: "checkout", key: "checkout", winner: "x" },
      now: T0 + 3600_000,
    }).status;
    expect(condition(stalled, "Ready")).toMatchObject({
      status: "False",
      lastTransitionTime: "2024-01-02T01:00:00Z",
    });
  });
  it("is idempotent: planning from its own output changes nothing", () => {
    const inputs: ToggleStatusInput[] = [
      { toggle: toggle(), now: T0 },
      { toggle: guarded(), guardRelease: release("RolledBack"), now: T0 },
      { toggle: toggle({ expiresAt: CREATED }), squadToggles: { maxActive: 0 }, activeRank: 0, now: T0 },
    ];
    for (const input of inputs) {
      const once = reconcile(input);
      const twice = planToggleStatus({ ...input, toggle: once.toggle });
      expect(twice.status).toEqual(once.plan.status);
      expect(twice.events).toEqual([]);
    }
  });
});

describe("re-exports", () => {
  it("offers the flags objects from the plan module too", () => {
    expect(typeof planFlagConfigMap).toBe("function");
  });
});

describe("squadTogglePolicy", () => {
  it("reads the toggle policy even from an otherwise invalid Squad", () => {
    const squad = { metadata: { name: "s" }, spec: { members: "nonsense", toggles: { maxActive: 2 } } };
    expect(squadTogglePolicy(squad)).toEqual({ maxActive: 2 });
    expect(
      squadTogglePolicy({ metadata: { name: "s" }, spec: { toggles: { maxActive: -1 } } }),
    ).toBeUndefined();
    expect(squadTogglePolicy(undefined)).toBeUndefined();
  });
});
