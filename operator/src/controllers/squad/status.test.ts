import { describe, expect, it } from "vitest";
import type { IncidentRecord } from "../../api/incident.js";
import type { FeatureToggle, Release, Squad } from "../../api/kinds.js";
import type { HistoryEntry } from "../../api/release.js";
import { squadSpec } from "../../api/squad.js";
import { conditionTime, findCondition, readyConditions } from "../../runtime/conditions.js";
import type { KubeObject } from "../../runtime/types.js";
import { planSquad, type Namespace, type PlanResult } from "./plan.js";
import {
  invalidSpecStatus,
  namespaceReadiness,
  percentage,
  releaseCounts,
  squadStatus,
  toggleCounts,
  transitionEvents,
  type SquadObservation,
} from "./status.js";

const NOW = Date.parse("2024-06-30T12:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Parses like the controller, but lets Tribe isolation without a tribe through: objects stored
 * before that rule existed still reach the plan, which must stay safe for them.
 */
function parseLenient(spec: unknown) {
  const raw = spec as { networkIsolation?: string };
  const parsed = squadSpec.parse({
    ...raw,
    networkIsolation: raw.networkIsolation === "Tribe" ? "None" : raw.networkIsolation,
  });
  return raw.networkIsolation === "Tribe" ? { ...parsed, networkIsolation: "Tribe" as const } : parsed;
}

function squad(spec: unknown, status?: Squad["status"]): Squad {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Squad",
    metadata: { name: "payments", uid: "uid-1", generation: 4 },
    spec: parseLenient(spec),
    ...(status ? { status } : {}),
  };
}

function ns(name: string, phase = "Active", labels: Record<string, string> = {}): Namespace {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels }, status: { phase } };
}

const ours = {
  "app.kubernetes.io/managed-by": "crescendo",
  "crescendo.dev/squad": "payments",
  "backstage.io/kubernetes-id": "payments",
};

let releaseCount = 0;
function release(namespace: string, phase?: string, history: HistoryEntry[] = []): Release {
  releaseCount += 1;
  return {
    metadata: { name: `r-${releaseCount}`, namespace },
    spec: {} as Release["spec"],
    status: { ...(phase ? { phase: phase as NonNullable<Release["status"]>["phase"] } : {}), history },
  };
}

function toggle(namespace: string, status: FeatureToggle["status"]): FeatureToggle {
  return {
    metadata: { name: "t", namespace },
    spec: {} as FeatureToggle["spec"],
    ...(status ? { status } : {}),
  };
}

function entry(outcome: HistoryEntry["outcome"], finishedAgoMs: number, durationMs: number): HistoryEntry {
  return {
    revision: "abc",
    version: "1.0.0",
    startedAt: iso(NOW - finishedAgoMs - durationMs),
    finishedAt: iso(NOW - finishedAgoMs),
    outcome,
  };
}

/** Observes exactly what the plan asked for, as if the informers had caught up. */
function caughtUp(plan: PlanResult, extra: Partial<SquadObservation> = {}): SquadObservation {
  const namespaces = new Map<string, Namespace | undefined>();
  for (const obj of plan.objects) {
    if (obj.kind === "Namespace")
      namespaces.set(obj.metadata.name ?? "", { ...obj, status: { phase: "Active" } });
  }
  return {
    namespaces,
    objects: plan.objects.filter((o) => o.kind !== "Namespace"),
    releases: [],
    toggles: [],
    ...extra,
  };
}

const fullSpec = {
  members: [{ kind: "User", name: "ana", role: "lead" }],
  quota: { hard: { pods: 10 } },
  limits: { max: { cpu: "2" } },
  networkIsolation: "Squad",
};

describe("squadStatus: conditions", () => {
  it("is Ready when every planned object is observed as desired", () => {
    const sq = squad(fullSpec);
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const status = squadStatus({ squad: sq, plan, observed: caughtUp(plan), now: NOW });
    expect(status.observedGeneration).toBe(4);
    expect(status.conditions).toEqual([
      {
        type: "Ready",
        status: "True",
        reason: "Succeeded",
        message: "1 namespace ready",
        lastTransitionTime: conditionTime(NOW),
        observedGeneration: 4,
      },
      {
        type: "Reconciling",
        status: "False",
        reason: "Succeeded",
        message: "",
        lastTransitionTime: conditionTime(NOW),
        observedGeneration: 4,
      },
      {
        type: "Stalled",
        status: "False",
        reason: "Succeeded",
        message: "",
        lastTransitionTime: conditionTime(NOW),
        observedGeneration: 4,
      },
    ]);
    expect(status.namespaces).toEqual([{ name: "payments", ready: true }]);
    expect(status.namespaceCount).toBe(1);
  });

  it("is Reconciling while the namespace or objects are not yet observed, naming what it waits for", () => {
    const sq = squad(fullSpec);
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const nothing = squadStatus({
      squad: sq,
      plan,
      observed: { namespaces: new Map(), objects: [], releases: [], toggles: [] },
      now: NOW,
    });
    expect(findCondition(nothing.conditions, "Reconciling")).toMatchObject({
      status: "True",
      reason: "Progressing",
      message: "payments: namespace not created yet",
    });
    expect(findCondition(nothing.conditions, "Ready")?.status).toBe("Unknown");

    const half = caughtUp(plan);
    const partial = squadStatus({
      squad: sq,
      plan,
      observed: { ...half, objects: half.objects.filter((o) => o.kind === "RoleBinding") },
      now: NOW,
    });
    expect(findCondition(partial.conditions, "Reconciling")?.message).toBe(
      "payments: waiting for ResourceQuota/crescendo-quota, LimitRange/crescendo-limits, NetworkPolicy/crescendo-isolation",
    );
  });

  it("is not ready when an observed object differs from the desired one", () => {
    const sq = squad(fullSpec);
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const observed = caughtUp(plan);
    const objects = observed.objects.map((o) =>
      o.kind === "ResourceQuota" ? { ...o, spec: { hard: { pods: 5 } } } : o,
    );
    const status = squadStatus({ squad: sq, plan, observed: { ...observed, objects }, now: NOW });
    expect(status.namespaces).toEqual([
      { name: "payments", ready: false, message: "waiting for ResourceQuota/crescendo-quota" },
    ]);
  });

  it("is not ready while the namespace lacks the squad's labels (e.g. just adopted)", () => {
    const sq = squad({ namespaces: [{ name: "legacy", adopt: true }] });
    const plan = planSquad({ squad: sq, observedNamespaces: new Map([["legacy", ns("legacy")]]) });
    const status = squadStatus({
      squad: sq,
      plan,
      observed: { namespaces: new Map([["legacy", ns("legacy")]]), objects: [], releases: [], toggles: [] },
      now: NOW,
    });
    expect(status.namespaces).toEqual([
      { name: "legacy", ready: false, message: "waiting for Namespace/legacy" },
    ]);
  });

  it.each(["Terminating", undefined])("is not ready while the namespace phase is %s", (phase) => {
    const sq = squad({});
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const observed = caughtUp(plan);
    const namespace: Namespace = { ...ns("payments", "x", ours), status: phase ? { phase } : {} };
    const status = squadStatus({
      squad: sq,
      plan,
      observed: { ...observed, namespaces: new Map([["payments", namespace]]) },
      now: NOW,
    });
    expect(status.namespaces?.[0]).toEqual({
      name: "payments",
      ready: false,
      message: `namespace is ${phase ?? "not Active"}`,
    });
  });

  it("is Reconciling while a namespace of its own is being deleted", () => {
    const sq = squad({});
    const terminating = { ...ns("payments", "Terminating", ours) };
    terminating.metadata.deletionTimestamp = "2024-06-30T11:00:00Z";
    const observedNamespaces = new Map([["payments", terminating]]);
    const plan = planSquad({ squad: sq, observedNamespaces });
    const status = squadStatus({
      squad: sq,
      plan,
      observed: { namespaces: observedNamespaces, objects: [], releases: [], toggles: [] },
      now: NOW,
    });
    expect(status.namespaces).toEqual([
      {
        name: "payments",
        ready: false,
        message: "namespace is being deleted; it is created again once gone",
      },
    ]);
    expect(findCondition(status.conditions, "Reconciling")?.status).toBe("True");
    expect(status.namespaceCount).toBe(1);
  });

  it("is Stalled with NamespaceConflict naming the namespace and its owner; other namespaces still count", () => {
    const sq = squad({ namespaces: [{ name: "shared" }, { name: "pay" }] });
    const observedNamespaces = new Map([
      ["shared", ns("shared", "Active", { "crescendo.dev/squad": "billing" })],
    ]);
    const plan = planSquad({ squad: sq, observedNamespaces });
    const observed = caughtUp(plan);
    const status = squadStatus({
      squad: sq,
      plan,
      observed: { ...observed, namespaces: new Map([...observed.namespaces, ...observedNamespaces]) },
      now: NOW,
    });
    expect(findCondition(status.conditions, "Stalled")).toMatchObject({
      status: "True",
      reason: "NamespaceConflict",
      message: 'namespace "shared" belongs to squad "billing"',
    });
    expect(findCondition(status.conditions, "Ready")).toMatchObject({
      status: "False",
      reason: "NamespaceConflict",
    });
    expect(findCondition(status.conditions, "Reconciling")?.status).toBe("False");
    expect(status.namespaces).toEqual([
      { name: "pay", ready: true },
      { name: "shared", ready: false, message: 'namespace "shared" belongs to squad "billing"' },
    ]);
    expect(status.namespaceCount).toBe(1);
  });

  it("is Stalled with InvalidSpec for a spec it cannot honour, naming every problem", () => {
    const sq = squad({ networkIsolation: "Tribe", namespaces: [{ name: "shared" }] });
    const observedNamespaces = new Map([
      ["shared", ns("shared", "Active", { "crescendo.dev/squad": "billing" })],
    ]);
    const plan = planSquad({ squad: sq, observedNamespaces });
    const status = squadStatus({
      squad: sq,
      plan,
      observed: { namespaces: observedNamespaces, objects: [], releases: [], toggles: [] },
      now: NOW,
    });
    expect(findCondition(status.conditions, "Stalled")).toMatchObject({
      status: "True",
      reason: "InvalidSpec",
      message:
        "networkIsolation Tribe needs spec.tribe; isolating the squad's own namespaces until it is set; " +
        'namespace "shared" belongs to squad "billing"',
    });
  });

  it("keeps transition times when nothing changed, so an unchanged reconcile writes nothing", () => {
    const sq = squad(fullSpec);
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const first = squadStatus({ squad: sq, plan, observed: caughtUp(plan), now: NOW });
    const second = squadStatus({
      squad: { ...sq, status: first },
      plan,
      observed: caughtUp(plan),
      now: NOW + HOUR,
    });
    expect(second).toEqual(first);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
  });

  it("moves the Ready transition time when readiness changes", () => {
    const sq = squad({});
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const empty = { namespaces: new Map(), objects: [], releases: [], toggles: [] };
    const waiting = squadStatus({ squad: sq, plan, observed: empty, now: NOW });
    const ready = squadStatus({
      squad: { ...sq, status: waiting },
      plan,
      observed: caughtUp(plan),
      now: NOW + HOUR,
    });
    expect(findCondition(ready.conditions, "Ready")).toMatchObject({
      status: "True",
      lastTransitionTime: conditionTime(NOW + HOUR),
    });
    expect(findCondition(ready.conditions, "Stalled")?.lastTransitionTime).toBe(conditionTime(NOW));
  });

  it("keeps other condition types", () => {
    const other = {
      type: "Custom",
      status: "True" as const,
      reason: "X",
      message: "",
      lastTransitionTime: "t",
    };
    const sq = squad({}, { conditions: [other] });
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const status = squadStatus({ squad: sq, plan, observed: caughtUp(plan), now: NOW });
    expect(status.conditions?.map((c) => c.type)).toEqual(["Custom", "Ready", "Reconciling", "Stalled"]);
  });
});

describe("invalidSpecStatus", () => {
  it("stalls with the validation message and keeps the rest of the status", () => {
    const previous = {
      namespaceCount: 2,
      releases: { total: 1, progressing: 0, paused: 0, healthy: 1, degraded: 0, rolledBack: 0 },
    };
    const status = invalidSpecStatus({
      squad: { metadata: { name: "payments", generation: 9 }, status: previous },
      message: "spec.members[0].name: Too small",
      now: NOW,
    });
    expect(status).toMatchObject({ ...previous, observedGeneration: 9 });
    expect(findCondition(status.conditions, "Stalled")).toMatchObject({
      status: "True",
      reason: "InvalidSpec",
      message: "spec.members[0].name: Too small",
      observedGeneration: 9,
    });
    expect(findCondition(status.conditions, "Ready")).toMatchObject({
      status: "False",
      reason: "InvalidSpec",
    });
  });
});

describe("releaseCounts and toggleCounts", () => {
  it("counts Releases by phase; one without a phase only in the total", () => {
    const releases = [
      "Progressing",
      "Paused",
      "Healthy",
      "Healthy",
      "Degraded",
      "RolledBack",
      "Reverted",
      undefined,
    ].map((p) => release("pay", p));
    expect(releaseCounts(releases)).toEqual({
      total: 8,
      progressing: 1,
      paused: 1,
      healthy: 2,
      degraded: 1,
      rolledBack: 2, // a revert after promotion counts as rolled back
    });
    expect(releaseCounts([])).toEqual({
      total: 0,
      progressing: 0,
      paused: 0,
      healthy: 0,
      degraded: 0,
      rolledBack: 0,
    });
  });

  it("counts toggles by what apps get", () => {
    const toggles = [
      toggle("pay", { effectiveState: "Enabled" }),
      toggle("pay", { effectiveState: "Enabled", stale: true }),
      toggle("pay", { effectiveState: "Disabled", stale: true }),
      toggle("pay", { effectiveState: "KilledByRollback" }),
      toggle("pay", { stale: false }),
      toggle("pay", undefined),
    ];
    expect(toggleCounts(toggles)).toEqual({ total: 6, active: 2, stale: 2, killed: 1 });
  });

  it("counts only Releases and toggles in namespaces the squad owns", () => {
    const sq = squad({ namespaces: [{ name: "pay" }, { name: "shared" }] });
    const observedNamespaces = new Map([
      ["shared", ns("shared", "Active", { "crescendo.dev/squad": "billing" })],
    ]);
    const plan = planSquad({ squad: sq, observedNamespaces });
    const status = squadStatus({
      squad: sq,
      plan,
      observed: {
        ...caughtUp(plan),
        releases: [release("pay", "Healthy"), release("shared", "Healthy"), release("elsewhere", "Healthy")],
        toggles: [
          toggle("pay", { effectiveState: "Enabled" }),
          toggle("shared", { effectiveState: "Enabled" }),
        ],
      },
      now: NOW,
    });
    expect(status.releases?.total).toBe(1);
    expect(status.toggles?.total).toBe(1);
  });
});

describe("delivery in the squad status", () => {
  const entryOf = (
    revision: string,
    outcome: HistoryEntry["outcome"],
    finishedAgoMs: number,
    durationMs: number,
  ) => ({
    ...entry(outcome, finishedAgoMs, durationMs),
    revision,
  });
  const statusWith = (releases: Release[], previous?: Squad["status"], now = NOW) => {
    const sq = squad({}, previous);
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    return squadStatus({ squad: sq, plan, observed: { ...caughtUp(plan), releases }, now });
  };

  it("reports no change and no duration without history", () => {
    expect(statusWith([release("payments")]).delivery).toMatchObject({
      deploymentsLast7d: 0,
      changeFailureRate: "0%",
      last7d: { deployments: 0, changes: 0, failedChanges: 0, recoveries: 0, openFailures: 0 },
      changes: [],
      totals: { changes: 0, failedChanges: 0, deployments: 0 },
    });
  });

  it("counts one promotion and one rollback of the squad's Releases as two changes, one failed", () => {
    const delivery = statusWith([
      release("payments", "Healthy", [
        entryOf("b", "RolledBack", DAY, HOUR),
        entryOf("a", "Promoted", 2 * DAY, 2 * HOUR),
      ]),
      release("elsewhere", "Healthy", [entryOf("c", "Promoted", DAY, HOUR)]),
    ]).delivery;
    expect(delivery).toMatchObject({
      deploymentsLast7d: 1,
      changeFailureRate: "50%",
      last30d: {
        deployments: 1,
        changes: 2,
        failedChanges: 1,
        changeLeadTimeSeconds: 7200,
        leadTimeFrom: "RolloutStart",
        failedDeploymentRecoveryTimeSeconds: 3600,
      },
      totals: { changes: 2, failedChanges: 1, deployments: 1 },
    });
    expect(delivery?.changes?.map((c) => c.release)).toEqual([
      "payments/r-" + String(releaseCount - 1),
      "payments/r-" + String(releaseCount - 1),
    ]);
  });

  it("counts a return to the previous revision as a revert only within the configured window", () => {
    // b deployed 2 days ago; a, which b replaced, rolled out again 23 h later.
    const releases = [
      release("payments", "Healthy", [
        entryOf("a", "Promoted", DAY, HOUR),
        entryOf("b", "Promoted", 2 * DAY, HOUR),
        entryOf("a", "Promoted", 3 * DAY, HOUR),
      ]),
    ];
    const sq = squad({});
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const statusIn = (revertWindowMs?: number) =>
      squadStatus({
        squad: sq,
        plan,
        observed: { ...caughtUp(plan), releases },
        now: NOW,
        ...(revertWindowMs ? { revertWindowMs } : {}),
      });
    expect(statusIn().delivery?.last30d).toMatchObject({ deployments: 2, changes: 2, failedChanges: 1 });
    expect(statusIn(24 * HOUR).delivery?.changes?.find((c) => c.revision === "b")?.failure).toBe("Reverted");
    expect(statusIn(12 * HOUR).delivery?.last30d).toMatchObject({
      deployments: 2,
      changes: 2,
      failedChanges: 0,
    });
  });

  it("keeps the figures of a Release that is gone, from the previous status, and ages them", () => {
    const first = statusWith([release("payments", "Healthy", [entryOf("a", "Promoted", DAY, HOUR)])]);
    const later = statusWith([], first, NOW + 7 * DAY);
    expect(later.delivery).toMatchObject({
      deploymentsLast7d: 0,
      last30d: { deployments: 1 },
      totals: first.delivery?.totals,
    });
    const gone = statusWith([], later, NOW + 30 * DAY);
    expect(gone.delivery).toMatchObject({
      last30d: { deployments: 0 },
      changes: [],
      totals: first.delivery?.totals,
    });
  });
});

describe("percentage", () => {
  it.each([
    [0, "0%"],
    [0.125, "12.5%"],
    [1 / 3, "33.3%"],
    [0.5, "50%"],
    [1, "100%"],
    [0.0004, "0%"],
    [0.0005, "0.1%"],
  ])("%d → %s", (ratio, text) => {
    expect(percentage(ratio)).toBe(text);
  });
});

describe("namespaceReadiness", () => {
  it("sorts namespaces by name", () => {
    const sq = squad({ namespaces: [{ name: "zeta" }, { name: "alpha" }, { name: "mid" }] });
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    expect(namespaceReadiness(plan, caughtUp(plan)).map((n) => n.name)).toEqual(["alpha", "mid", "zeta"]);
  });

  it("ignores observed objects in other namespaces with the same names", () => {
    const sq = squad({ namespaces: [{ name: "a" }], members: [{ kind: "User", name: "u" }] });
    const plan = planSquad({ squad: sq, observedNamespaces: new Map() });
    const observed = caughtUp(plan);
    const moved: KubeObject[] = observed.objects.map((o) => ({
      ...o,
      metadata: { ...o.metadata, namespace: "b" },
    }));
    expect(namespaceReadiness(plan, { ...observed, objects: moved })).toEqual([
      { name: "a", ready: false, message: "waiting for RoleBinding/crescendo-member" },
    ]);
  });
});

describe("transitionEvents", () => {
  const at = (state: "Ready" | "Reconciling" | "Stalled", reason = "R", message = "m") =>
    readyConditions(undefined, state === "Ready" ? { state } : { state, reason, message }, { now: NOW });

  it.each([
    {
      name: "first Ready",
      before: undefined,
      after: at("Ready"),
      events: [{ type: "Normal", reason: "Ready", note: "Reconciled" }],
    },
    {
      name: "Reconciling → Ready",
      before: at("Reconciling"),
      after: at("Ready"),
      events: [{ type: "Normal", reason: "Ready", note: "Reconciled" }],
    },
    { name: "Ready → Ready", before: at("Ready"), after: at("Ready"), events: [] },
    { name: "first Reconciling", before: undefined, after: at("Reconciling"), events: [] },
    {
      name: "Reconciling → Reconciling",
      before: at("Reconciling", "P", "a"),
      after: at("Reconciling", "P", "b"),
      events: [],
    },
    {
      name: "Ready → Reconciling",
      before: at("Ready"),
      after: at("Reconciling", "Progressing", "waiting"),
      events: [{ type: "Normal", reason: "Progressing", note: "waiting" }],
    },
    {
      name: "Stalled → Reconciling",
      before: at("Stalled"),
      after: at("Reconciling", "Progressing", "w"),
      events: [{ type: "Normal", reason: "Progressing", note: "w" }],
    },
    {
      name: "→ Stalled",
      before: at("Ready"),
      after: at("Stalled", "NamespaceConflict", "x"),
      events: [{ type: "Warning", reason: "NamespaceConflict", note: "x" }],
    },
    {
      name: "first Stalled",
      before: undefined,
      after: at("Stalled", "InvalidSpec", "bad"),
      events: [{ type: "Warning", reason: "InvalidSpec", note: "bad" }],
    },
    {
      name: "Stalled, same",
      before: at("Stalled", "NamespaceConflict", "x"),
      after: at("Stalled", "NamespaceConflict", "x"),
      events: [],
    },
    {
      name: "Stalled, new message",
      before: at("Stalled", "NamespaceConflict", "x"),
      after: at("Stalled", "NamespaceConflict", "y"),
      events: [{ type: "Warning", reason: "NamespaceConflict", note: "y" }],
    },
    {
      name: "Stalled, new reason",
      before: at("Stalled", "NamespaceConflict", "x"),
      after: at("Stalled", "InvalidSpec", "x"),
      events: [{ type: "Warning", reason: "InvalidSpec", note: "x" }],
    },
  ])("$name", ({ before, after, events }) => {
    expect(transitionEvents(before, after)).toEqual(events);
  });
});

describe("squadStatus: incidents", () => {
  const incident = {
    id: "abc",
    groupKey: "g",
    firedAt: iso(NOW - HOUR),
    receivedAt: iso(NOW - HOUR),
    alerts: ["HighErrorRate (f1)"],
    suspects: [],
    actions: [
      {
        do: "Revert" as const,
        target: "payments/r-web",
        actionId: "incident-abc",
        at: iso(NOW - HOUR),
        state: "Requested" as const,
        result: "undo requested",
      },
    ],
    explanation: ["revert"],
  };

  it("keeps the receiver's record, settling a requested action once its Release acted on it", () => {
    const s = squad({}, { incidents: [incident] });
    const plan = planSquad({ squad: s, observedNamespaces: new Map() });
    const web: Release = {
      metadata: { name: "r-web", namespace: "payments" },
      spec: {} as Release["spec"],
      status: {
        lastAction: {
          id: "incident-abc",
          action: "undo",
          acceptedAt: iso(NOW),
          result: "returned to 1.0 (revision r1)",
        },
      },
    };
    const before = squadStatus({ squad: s, plan, observed: caughtUp(plan), now: NOW });
    expect(before.incidents).toEqual([incident]);
    const after = squadStatus({ squad: s, plan, observed: caughtUp(plan, { releases: [web] }), now: NOW });
    expect(after.incidents?.[0]?.actions[0]).toMatchObject({
      state: "Done",
      result: "returned to 1.0 (revision r1)",
    });
  });

  it("restores the change its revert failed when the incident resolves: alert start to resolved", () => {
    const firedAt = NOW - HOUR;
    const revertedAt = firedAt + 30_000;
    const web: Release = {
      metadata: { name: "r-web", namespace: "payments" },
      spec: {} as Release["spec"],
      status: {
        stableRevision: "r1",
        history: [
          {
            ...entry("Promoted", HOUR - 30_000, 0),
            revision: "r1",
            reason: "Undone",
            failureStartedAt: iso(firedAt),
            actionId: "incident-abc",
          },
          { ...entry("Promoted", 2 * HOUR, 10 * 60_000), revision: "r2", reason: "Completed" },
        ],
      },
    };
    const done: IncidentRecord = { ...incident, actions: [{ ...incident.actions[0]!, state: "Done" }] };
    const statusWith = (incidents: IncidentRecord[], previous?: Squad["status"]) => {
      const s = squad({}, { ...previous, incidents });
      const plan = planSquad({ squad: s, observedNamespaces: new Map() });
      return squadStatus({ squad: s, plan, observed: caughtUp(plan, { releases: [web] }), now: NOW });
    };
    const open = statusWith([done]);
    const r2 = (st: Squad["status"]) => st?.delivery?.changes?.find((c) => c.revision === "r2");
    expect(r2(open)).toMatchObject({
      failure: "Reverted",
      failedAt: iso(revertedAt),
      revertActionId: "incident-abc",
    });
    expect(open.delivery?.last7d).toMatchObject({ failedChanges: 1, openFailures: 1, recoveries: 0 });

    const resolvedAt = NOW - 10 * 60_000;
    const resolved = statusWith([{ ...done, resolvedAt: iso(resolvedAt), recoverySeconds: 3000 }], open);
    expect(r2(resolved)).toMatchObject({ restoredAt: iso(resolvedAt), restoredFrom: "IncidentResolved" });
    expect(resolved.delivery?.last7d).toMatchObject({
      openFailures: 0,
      recoveries: 1,
      failedDeploymentRecoveryTimeSeconds: 3000,
    });
    expect(resolved.delivery?.totals?.recovery).toMatchObject({ count: 1, sumSeconds: 3000 });
  });

  it("a squad that never had an incident has no incidents field", () => {
    const s = squad({});
    const plan = planSquad({ squad: s, observedNamespaces: new Map() });
    const status = squadStatus({ squad: s, plan, observed: caughtUp(plan), now: NOW });
    expect(status).not.toHaveProperty("incidents");
    expect(status).not.toHaveProperty("notifications");
  });

  it("keeps the incidents' on-call messages as they are: the status write must not drop one", () => {
    const pending = { id: "payments/abc/1/opened", incident: "abc", event: "Opened" as const };
    const notifications = [{ ...pending, firedAt: iso(NOW - HOUR), at: iso(NOW - HOUR), attempts: 0 }];
    const s = squad({}, { incidents: [incident], notifications });
    const plan = planSquad({ squad: s, observedNamespaces: new Map() });
    expect(squadStatus({ squad: s, plan, observed: caughtUp(plan), now: NOW }).notifications).toEqual(
      notifications,
    );
  });
});
