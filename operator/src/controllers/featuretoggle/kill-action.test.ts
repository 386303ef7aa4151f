import { describe, expect, it } from "vitest";
import { featureToggleSpec, type FeatureToggleStatus } from "../../api/featuretoggle.js";
import type { FeatureToggle } from "../../api/kinds.js";
import { findCondition } from "../../runtime/conditions.js";
import {
  decideKill,
  KILLED_CONDITION,
  planToggleStatus,
  specChangeTime,
  type ToggleStatusInput,
} from "./plan.js";

const CREATED = "2030-01-01T00:00:00.000Z";
const T0 = Date.parse(CREATED) + 3_600_000;

function toggle(
  spec: Record<string, unknown> = {},
  generation = 1,
  status?: FeatureToggleStatus,
): FeatureToggle {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "FeatureToggle",
    metadata: { name: "new-checkout", namespace: "shop", uid: "u1", generation, creationTimestamp: CREATED },
    spec: featureToggleSpec.parse({ variants: { on: true, off: false }, defaultVariant: "off", ...spec }),
    ...(status ? { status } : {}),
  };
}

function reconcile(input: ToggleStatusInput) {
  const plan = planToggleStatus(input);
  return { plan, toggle: { ...input.toggle, status: plan.status } };
}

const kill = { action: "kill", id: "incident-abc" };

describe("the kill action (an incident's KillToggles)", () => {
  it("kills an unguarded toggle at once, says by which action, and keeps it killed", () => {
    const first = reconcile({ toggle: toggle(), now: T0, action: kill });
    expect(first.plan.killed).toBe(true);
    expect(first.plan.status.effectiveState).toBe("KilledByRollback");
    expect(first.plan.status.killedBy).toBe("action incident-abc");
    expect(first.plan.status.lastAction).toMatchObject({
      id: "incident-abc",
      action: "kill",
      result: "killed",
    });
    expect(first.plan.events.map((e) => e.reason)).toEqual(["ToggleKilled"]);
    expect(findCondition(first.plan.status.conditions, KILLED_CONDITION)).toMatchObject({
      status: "True",
      reason: "KilledByAction",
    });
    expect(findCondition(first.plan.status.conditions, "Ready")?.message).toContain("action=rearm");
    // The annotation stays: the next reconcile keeps the kill, and sends no second Event.
    const again = reconcile({ toggle: first.toggle, now: T0 + 60_000, action: kill });
    expect(again.plan.killed).toBe(true);
    expect(again.plan.events).toEqual([]);
    expect(again.plan.status.killedAt).toBe(first.plan.status.killedAt);
    // And without the annotation (it was replaced by an unrelated one), still killed.
    expect(reconcile({ toggle: first.toggle, now: T0 + 120_000 }).plan.killed).toBe(true);
  });

  it("is lifted by a rearm action or a spec change, not by time", () => {
    const killed = reconcile({ toggle: toggle(), now: T0, action: kill }).toggle;
    const rearmed = reconcile({ toggle: killed, now: T0 + 1000, action: { action: "rearm", id: "r1" } });
    expect(rearmed.plan.killed).toBe(false);
    expect(rearmed.plan.status.killedAt).toBeUndefined();
    expect(rearmed.plan.status.lastAction).toMatchObject({ action: "rearm", result: "re-armed" });
    const edited = reconcile({
      toggle: { ...killed, metadata: { ...killed.metadata, generation: 2 } },
      now: T0 + 1000,
    });
    expect(edited.plan.killed).toBe(false);
    expect(edited.plan.events.map((e) => e.reason)).toEqual(["ToggleRearmed"]);
  });

  it("on a guarded toggle, a rearm waits for the guard Release to be Healthy, as after a rollback", () => {
    const guarded = toggle({ guard: { release: "web" } });
    const killed = reconcile({
      toggle: guarded,
      now: T0,
      action: kill,
      guardRelease: { name: "web", phase: "Healthy" },
    });
    expect(killed.plan.killed).toBe(true);
    const refused = reconcile({
      toggle: killed.toggle,
      now: T0 + 1000,
      action: { action: "rearm", id: "r1" },
      guardRelease: { name: "web", phase: "Progressing" },
    });
    expect(refused.plan.killed).toBe(true);
    expect(refused.plan.status.lastAction?.result).toMatch(/^refused/);
  });

  it("a second kill of a killed toggle is ignored, and recorded so", () => {
    const killed = reconcile({ toggle: toggle(), now: T0, action: kill }).toggle;
    const d = decideKill({ toggle: killed, now: T0 + 5000, action: { action: "kill", id: "incident-def" } });
    expect(d.killed).toBe(true);
    expect(d.killedAt).toBe(killed.status?.killedAt);
    expect(d.lastAction).toMatchObject({
      id: "incident-def",
      result: "ignored: the toggle is already killed",
    });
    expect(d.event).toBeUndefined();
  });

  it("other actions are still ignored with the list of those that apply", () => {
    const d = decideKill({ toggle: toggle(), now: T0, action: { action: "promote", id: "p1" } });
    expect(d.lastAction?.result).toBe(
      'ignored: "promote" does not apply to FeatureToggles (only kill and rearm)',
    );
  });
});

describe("specChangedAt (the toggle's last change, for incident correlation)", () => {
  it("is the creation time for a toggle never reconciled, and kept while the generation is the same", () => {
    expect(specChangeTime(toggle(), {}, T0)).toBe(CREATED);
    const first = reconcile({ toggle: toggle(), now: T0 });
    expect(first.plan.status.specChangedAt).toBe(CREATED);
    expect(reconcile({ toggle: first.toggle, now: T0 + 60_000 }).plan.status.specChangedAt).toBe(CREATED);
  });

  it("moves to now when a new generation is first seen", () => {
    const first = reconcile({ toggle: toggle(), now: T0 }).toggle;
    const edited = { ...first, metadata: { ...first.metadata, generation: 2 } };
    expect(reconcile({ toggle: edited, now: T0 + 60_000 }).plan.status.specChangedAt).toBe(
      new Date(T0 + 60_000).toISOString().replace(".000Z", "Z"),
    );
  });

  it("is left unknown for a toggle reconciled before the field existed", () => {
    expect(specChangeTime(toggle(), { observedGeneration: 1 }, T0)).toBeUndefined();
  });
});
