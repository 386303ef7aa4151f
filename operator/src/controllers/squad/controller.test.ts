import { afterEach, describe, expect, it, vi } from "vitest";
import type { FeatureToggle, Release } from "../../api/kinds.js";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../../api/kinds.js";
import { createLogger } from "../../observability/logger.js";
import { registry } from "../../observability/metrics.js";
import { ApiError, type KubeClient } from "../../runtime/client.js";
import { inMemoryHost } from "../in-memory-host.test-support.js";
import type { EventInput } from "../../runtime/events.js";
import { NamespaceResource, RoleBindingResource } from "../../runtime/resources.js";
import { Store } from "../../runtime/store.js";
import type { KubeObject, ReadStore, Resource } from "../../runtime/types.js";
import {
  DECLARED_NAMESPACE_INDEX,
  declaredNames,
  registerSquadController,
  releaseSummaryChanged,
  SQUAD_FINALIZER,
  SquadReconciler,
  squadOfNamespacedObject,
  squadDeleted,
  squadsOfNamespace,
  squadsWaitingOn,
  SUMMARY_BATCH_MS,
  toggleSummaryChanged,
} from "./controller.js";
import { OWNED_RESOURCES, type Namespace } from "./plan.js";

const logger = createLogger({ level: "silent" });
const NOW = Date.parse("2024-06-30T12:00:00Z");

interface Call {
  verb: "apply" | "create" | "delete" | "mergePatch";
  kind: string;
  name: string;
  namespace?: string;
  body?: unknown;
  subresource?: string;
}

function fakeClient(
  options: { createFails?: boolean; statusResourceVersions?: boolean; refuseKind?: string } = {},
) {
  const calls: Call[] = [];
  let resourceVersion = 100;
  const client: Pick<KubeClient, "apply" | "create" | "delete" | "mergePatch"> = {
    apply: async <T extends KubeObject>(obj: KubeObject, res: Resource) => {
      calls.push({
        verb: "apply",
        kind: res.kind,
        name: obj.metadata.name ?? "",
        namespace: obj.metadata.namespace,
        body: obj,
      });
      if (res.kind === options.refuseKind)
        throw new ApiError(
          422,
          "Invalid",
          `${res.kind} "${obj.metadata.name ?? ""}" is invalid: spec.hard[pods]: Invalid value: "-5"`,
          { kind: res.kind },
          undefined,
          "PATCH",
        );
      return obj as T;
    },
    create: async <T extends KubeObject>(obj: KubeObject, res: Resource) => {
      calls.push({ verb: "create", kind: res.kind, name: obj.metadata.name ?? "", body: obj });
      if (options.createFails)
        throw new ApiError(409, "AlreadyExists", "exists", undefined, undefined, "POST");
      return obj as T;
    },
    delete: async (res: Resource, name: string, namespace?: string) => {
      calls.push({ verb: "delete", kind: res.kind, name, namespace });
      return true;
    },
    mergePatch: async <T extends KubeObject>(
      res: Resource,
      name: string,
      namespace: string | undefined,
      patch: unknown,
      opts?: { subresource?: string },
    ) => {
      calls.push({
        verb: "mergePatch",
        kind: res.kind,
        name,
        namespace,
        body: patch,
        subresource: opts?.subresource,
      });
      if (options.statusResourceVersions && opts?.subresource === "status")
        return { metadata: { name, resourceVersion: `${resourceVersion++}` } } as T;
      return { metadata: { name } } as T;
    },
  };
  return { client, calls };
}

function fakeRecorder() {
  const events: EventInput[] = [];
  return {
    events,
    recorder: { record: async (_obj: KubeObject, input: EventInput) => void events.push(input) },
  };
}

function stores() {
  const make = <T extends KubeObject>(objects: T[] = [], keepLastApplied = false) => {
    const store = new Store<T>({ keepLastApplied });
    store.replace(objects, "1");
    return store;
  };
  return {
    // As the manager's Squad informer does (SquadResource.keepLastApplied).
    squads: make<KubeObject>([], true),
    namespaces: make<Namespace>(),
    releases: make<Release>(),
    toggles: make<FeatureToggle>(),
    owned: OWNED_RESOURCES.map((res) => ({ res, store: make<KubeObject>() })),
  };
}

function squad(
  spec: Record<string, unknown>,
  meta: Partial<KubeObject["metadata"]> = {},
  status?: unknown,
): KubeObject {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Squad",
    metadata: {
      name: "payments",
      uid: "uid-1",
      generation: 2,
      resourceVersion: "10",
      finalizers: [SQUAD_FINALIZER],
      ...meta,
    },
    spec,
    ...(status ? { status } : {}),
  };
}

function ns(
  name: string,
  labels: Record<string, string> = {},
  meta: Partial<KubeObject["metadata"]> = {},
): Namespace {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels, resourceVersion: "3", ...meta },
    status: { phase: "Active" },
  };
}

function setup(
  options: Parameters<typeof fakeClient>[0] = {},
  notices?: ConstructorParameters<typeof SquadReconciler>[0]["notices"],
) {
  const s = stores();
  const { client, calls } = fakeClient(options);
  const { recorder, events } = fakeRecorder();
  const reconciler = new SquadReconciler({
    client,
    recorder,
    logger,
    clock: { now: () => NOW },
    squads: s.squads as unknown as ReadStore<KubeObject & { spec?: unknown }>,
    namespaces: s.namespaces,
    releases: s.releases,
    toggles: s.toggles,
    owned: s.owned,
    ...(notices ? { notices } : {}),
  });
  return { s, calls, events, reconciler };
}

/** The spec of the stored Squad, to upsert it again with a change. */
const squadSpecOf = (s: ReturnType<typeof stores>) =>
  (s.squads.get("payments")?.["spec"] ?? {}) as Record<string, unknown>;
const statusPatches = (calls: Call[]) =>
  calls.filter((c) => c.verb === "mergePatch" && c.subresource === "status");
const statusOf = (call: Call | undefined) => (call?.body as { status: Record<string, unknown> }).status;
const conditionOf = (call: Call | undefined, type: string) =>
  (statusOf(call)["conditions"] as { type: string; status: string; reason: string; message: string }[]).find(
    (c) => c.type === type,
  );

describe("SquadReconciler", () => {
  it("does nothing for a Squad that is gone", async () => {
    const { calls, reconciler } = setup();
    expect(await reconciler.reconcile("payments")).toEqual({});
    expect(calls).toEqual([]);
  });

  it("creates a new namespace bare first, then applies everything, then writes status", async () => {
    const { s, calls, events, reconciler } = setup();
    s.squads.upsert(
      squad({ members: [{ kind: "User", name: "ana", role: "lead" }], networkIsolation: "Squad" }),
    );
    expect(await reconciler.reconcile("payments")).toEqual({});
    expect(calls.map((c) => `${c.verb} ${c.kind} ${c.namespace ?? ""}/${c.name}`)).toEqual([
      "create Namespace /payments",
      "apply Namespace /payments",
      "apply RoleBinding payments/crescendo-lead",
      "apply NetworkPolicy payments/crescendo-isolation",
      "mergePatch Squad /payments",
    ]);
    expect(calls[0]?.body).toEqual({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "payments", labels: { "crescendo.dev/squad": "payments" } },
    });
    // The status was computed before the informers saw the writes: still reconciling.
    expect(conditionOf(calls[4], "Reconciling")?.status).toBe("True");
    expect(statusOf(calls[4])["observedGeneration"]).toBe(2);
    expect(events.map((e) => e.reason)).toEqual(["NamespaceCreated"]);
  });

  it("writes everything else when the apiserver refuses one object, then fails with that refusal", async () => {
    const { s, calls, reconciler } = setup({ refuseKind: "ResourceQuota" });
    s.squads.upsert(
      squad({
        members: [{ kind: "User", name: "ana", role: "lead" }],
        quota: { hard: { pods: "-5" } },
        limits: { default: { cpu: "500m" } },
        networkIsolation: "Squad",
      }),
    );
    await expect(reconciler.reconcile("payments")).rejects.toMatchObject({ status: 422, reason: "Invalid" });
    const applied = calls.filter((c) => c.verb === "apply").map((c) => `${c.kind} ${c.name}`);
    expect(applied).toEqual(
      expect.arrayContaining([
        "ResourceQuota crescendo-quota",
        "LimitRange crescendo-limits",
        "NetworkPolicy crescendo-isolation",
      ]),
    );
    // The runtime reports the refusal on the status; the reconciler wrote no status of its own.
    expect(statusPatches(calls)).toEqual([]);
  });

  it("stops at a refused namespace: nothing can go into it", async () => {
    const { s, calls, reconciler } = setup({ refuseKind: "Namespace" });
    s.squads.upsert(squad({ members: [{ kind: "User", name: "ana", role: "lead" }] }));
    await expect(reconciler.reconcile("payments")).rejects.toMatchObject({ status: 422 });
    expect(calls.filter((c) => c.verb === "apply").map((c) => c.kind)).toEqual(["Namespace"]);
  });

  it("fails the reconcile (for an immediate requeue) when the namespace was claimed meanwhile", async () => {
    const { s, calls, reconciler } = setup({ createFails: true });
    s.squads.upsert(squad({}));
    await expect(reconciler.reconcile("payments")).rejects.toMatchObject({ status: 409 });
    expect(calls.map((c) => c.verb)).toEqual(["create"]);
  });

  it("adds the finalizer before anything else", async () => {
    const { s, calls, reconciler } = setup();
    s.squads.upsert(squad({}, { finalizers: [] }));
    await reconciler.reconcile("payments");
    expect(calls[0]).toMatchObject({
      verb: "mergePatch",
      kind: "Squad",
      body: { metadata: { finalizers: [SQUAD_FINALIZER], resourceVersion: "10" } },
    });
  });

  it("writes nothing once the cluster matches and the status is current", async () => {
    const { s, calls, events, reconciler } = setup();
    s.squads.upsert(squad({ quota: { hard: { pods: 10 } } }));
    await reconciler.reconcile("payments");
    // Feed what was applied back through the informers, as the watch would.
    for (const call of calls.filter((c) => c.verb === "apply")) {
      const obj = call.body as KubeObject;
      if (obj.kind === "Namespace") s.namespaces.upsert({ ...obj, status: { phase: "Active" } });
      else s.owned.find((o) => o.res.kind === obj.kind)?.store.upsert(obj);
    }
    calls.length = 0;
    await reconciler.reconcile("payments");
    const ready = statusPatches(calls)[0];
    expect(calls.map((c) => c.verb)).toEqual(["mergePatch"]);
    expect(conditionOf(ready, "Ready")).toMatchObject({ status: "True", message: "1 namespace ready" });
    expect(events.map((e) => e.reason)).toEqual(["NamespaceCreated", "Ready"]);

    s.squads.upsert(squad({ quota: { hard: { pods: 10 } } }, { resourceVersion: "11" }, statusOf(ready)));
    calls.length = 0;
    await reconciler.reconcile("payments");
    expect(calls).toEqual([]);
    expect(events).toHaveLength(2);
  });

  it("reads its own status write until the informer shows it, so it patches with the newest resourceVersion", async () => {
    const { s, calls, reconciler } = setup({ statusResourceVersions: true });
    s.namespaces.upsert(ns("payments", { "crescendo.dev/squad": "payments" }));
    s.squads.upsert(squad({}));
    const release = (name: string) =>
      ({ metadata: { name, namespace: "payments" }, spec: {}, status: { phase: "Healthy" } }) as Release;
    const patchRv = (call: Call | undefined) =>
      (call?.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;

    await reconciler.reconcile("payments");
    const first = statusPatches(calls);
    expect(first.map(patchRv)).toEqual(["10"]); // answered with resourceVersion 100

    // The watch has not delivered that write: the status is compared with it, not the cache.
    calls.length = 0;
    await reconciler.reconcile("payments");
    expect(statusPatches(calls)).toEqual([]);

    // A change before the write comes back is patched on top of it, not on the cached version.
    s.releases.upsert(release("web"));
    await reconciler.reconcile("payments");
    expect(statusPatches(calls).map(patchRv)).toEqual(["100"]); // answered with 101

    // The first write arrives, the second has not: the second is still what is current.
    s.squads.upsert(squad({}, { resourceVersion: "100" }, statusOf(first[0])));
    calls.length = 0;
    s.releases.upsert(release("api"));
    await reconciler.reconcile("payments");
    expect(statusPatches(calls).map(patchRv)).toEqual(["101"]);
    expect(statusOf(statusPatches(calls)[0])).toMatchObject({ releases: { total: 2 } });

    // Once the informer has moved past every write, the cache is read again.
    s.squads.upsert(squad({}, { resourceVersion: "150" }, statusOf(first[0])));
    calls.length = 0;
    await reconciler.reconcile("payments");
    expect(statusPatches(calls).map(patchRv)).toEqual(["150"]);
    expect(statusOf(statusPatches(calls)[0])).toMatchObject({ releases: { total: 2 } });
  });

  it("forgets its status write when the Squad is gone", async () => {
    const { s, calls, reconciler } = setup({ statusResourceVersions: true });
    s.squads.upsert(squad({}));
    await reconciler.reconcile("payments");
    s.squads.delete(squad({}));
    await reconciler.reconcile("payments");
    // Recreated under the same name, from resourceVersion 10 again: nothing of the old one is read.
    s.squads.upsert(squad({}));
    calls.length = 0;
    await reconciler.reconcile("payments");
    expect(
      statusPatches(calls).map(
        (c) => (c.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion,
      ),
    ).toEqual(["10"]);
  });

  it("stalls on a namespace owned by another squad without touching it", async () => {
    const { s, calls, events, reconciler } = setup();
    s.namespaces.upsert(ns("payments", { "crescendo.dev/squad": "billing" }));
    s.squads.upsert(squad({ members: [{ kind: "User", name: "ana" }] }));
    s.squads.upsert({ ...squad({}), metadata: { name: "billing", uid: "uid-2" } });
    await reconciler.reconcile("payments");
    expect(calls.map((c) => c.verb)).toEqual(["mergePatch"]);
    expect(conditionOf(calls[0], "Stalled")).toMatchObject({
      status: "True",
      reason: "NamespaceConflict",
      message: 'namespace "payments" belongs to squad "billing"',
    });
    expect(events).toEqual([
      {
        type: "Warning",
        reason: "NamespaceConflict",
        note: 'namespace "payments" belongs to squad "billing"',
        action: "Reconcile",
      },
    ]);
  });

  it("says when the owning squad no longer exists", async () => {
    const { s, calls, reconciler } = setup();
    s.namespaces.upsert(ns("payments", { "crescendo.dev/squad": "gone" }));
    s.squads.upsert(squad({}));
    await reconciler.reconcile("payments");
    expect(conditionOf(calls[0], "Stalled")?.message).toMatch(/which no longer exists/);
  });

  it("deletes owned objects no longer desired and releases undeclared namespaces", async () => {
    const { s, calls, events, reconciler } = setup();
    const labels = { "crescendo.dev/squad": "payments", "app.kubernetes.io/managed-by": "crescendo" };
    s.namespaces.upsert(ns("pay", labels));
    s.namespaces.upsert(ns("old", labels));
    const ownerReferences = [
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        name: "payments",
        uid: "uid-1",
        controller: true,
      },
    ];
    s.owned
      .find((o) => o.res === RoleBindingResource)
      ?.store.upsert({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "crescendo-viewer", namespace: "pay", ownerReferences },
      });
    s.squads.upsert(squad({ namespaces: [{ name: "pay" }] }));
    await reconciler.reconcile("payments");
    expect(
      calls
        .filter((c) => c.verb !== "apply")
        .map((c) => `${c.verb} ${c.kind} ${c.namespace ?? ""}/${c.name}`),
    ).toEqual([
      "delete RoleBinding pay/crescendo-viewer",
      "mergePatch Namespace /old",
      "mergePatch Squad /payments",
    ]);
    expect(calls.find((c) => c.verb === "mergePatch" && c.kind === "Namespace")?.body).toEqual({
      metadata: {
        resourceVersion: "3",
        labels: { "crescendo.dev/squad": null, "app.kubernetes.io/managed-by": null },
      },
    });
    expect(events.map((e) => e.reason)).toContain("NamespaceReleased");
  });

  it("looks again when a change leaves the 7-day window, and exports the delivery totals by squad and tribe", async () => {
    const { s, calls, reconciler } = setup();
    s.namespaces.upsert(ns("payments", { "crescendo.dev/squad": "payments" }));
    const at = (ms: number) => new Date(ms).toISOString();
    const deployed = NOW - 7 * 86_400_000 + 3_600_000;
    s.releases.upsert({
      metadata: { name: "web", namespace: "payments" },
      spec: {},
      status: {
        phase: "Healthy",
        history: [
          {
            revision: "b",
            version: "2",
            startedAt: at(deployed - 600_000),
            finishedAt: at(deployed),
            outcome: "Promoted",
          },
        ],
      },
    } as Release);
    s.squads.upsert(squad({ tribe: "money" }));
    expect(await reconciler.reconcile("payments")).toEqual({ requeueAfterMs: 3_600_001 });
    expect(statusOf(statusPatches(calls)[0])).toMatchObject({
      delivery: { deploymentsLast7d: 1, totals: { changes: 1, deployments: 1 } },
    });
    const text = await registry.getSingleMetricAsString("crescendo_delivery_deployments_total");
    expect(text).toContain('crescendo_delivery_deployments_total{squad="payments",tribe="money"} 1');
  });

  it("counts Releases and toggles of its namespaces and exports metrics", async () => {
    const { s, calls, reconciler } = setup();
    s.namespaces.upsert(ns("payments", { "crescendo.dev/squad": "payments" }));
    s.releases.upsert({
      metadata: { name: "web", namespace: "payments" },
      spec: {},
      status: { phase: "Healthy" },
    } as Release);
    s.releases.upsert({
      metadata: { name: "x", namespace: "elsewhere" },
      spec: {},
      status: { phase: "Healthy" },
    } as Release);
    s.toggles.upsert({
      metadata: { name: "t", namespace: "payments" },
      spec: {},
      status: { effectiveState: "Enabled" },
    } as FeatureToggle);
    s.squads.upsert(squad({}));
    await reconciler.reconcile("payments");
    expect(statusOf(statusPatches(calls)[0])).toMatchObject({
      releases: { total: 1, healthy: 1 },
      toggles: { total: 1, active: 1, stale: 0, killed: 0 },
      delivery: { deploymentsLast7d: 0, changeFailureRate: "0%" },
    });
    const text = await registry.getSingleMetricAsString("crescendo_squad_releases");
    expect(text).toContain('crescendo_squad_releases{squad="payments",phase="healthy"} 1');
    const toggles = await registry.getSingleMetricAsString("crescendo_squad_feature_toggles");
    expect(toggles).toContain('crescendo_squad_feature_toggles{squad="payments",state="active"} 1');

    s.squads.delete(squad({}));
    await reconciler.reconcile("payments");
    expect(await registry.getSingleMetricAsString("crescendo_squad_releases")).not.toContain(
      'squad="payments"',
    );
  });

  describe("invalid spec", () => {
    it("stalls with InvalidSpec and the zod message, once", async () => {
      const { s, calls, events, reconciler } = setup();
      s.squads.upsert(squad({ networkIsolation: "Everything" }));
      expect(await reconciler.reconcile("payments")).toEqual({});
      expect(calls.map((c) => c.verb)).toEqual(["mergePatch"]);
      const stalled = conditionOf(calls[0], "Stalled");
      expect(stalled).toMatchObject({ status: "True", reason: "InvalidSpec" });
      expect(stalled?.message).toMatch(/^spec\.networkIsolation: /);
      expect(events.map((e) => e.reason)).toEqual(["InvalidSpec"]);

      s.squads.upsert(
        squad({ networkIsolation: "Everything" }, { resourceVersion: "11" }, statusOf(calls[0])),
      );
      calls.length = 0;
      expect(await reconciler.reconcile("payments")).toEqual({});
      expect(calls).toEqual([]);
      expect(events).toHaveLength(1);
    });

    it("still pages on-call for its incidents, which are recorded Notify-only until the spec is fixed", async () => {
      const delivered: { squad: string; oncall: unknown; namespaces: unknown }[] = [];
      const { s, calls, reconciler } = setup(
        {},
        {
          deliver: (raw, view) => {
            delivered.push({
              squad: raw.metadata.name ?? "",
              oncall: view.spec.oncall,
              namespaces: view.spec.namespaces,
            });
            return Promise.resolve({ raw, nextInMs: 5000 });
          },
          cancel: () => undefined,
        },
      );
      const oncall = { webhookSecretRef: { name: "oncall", key: "url" }, format: "slack" };
      s.squads.upsert(
        squad({
          namespaces: [{ name: "shop" }],
          oncall,
          // Stalled by the rest of the spec; its incident policy is refused as well.
          networkIsolation: "Everything",
          incidentResponse: { correlationWindow: "5s", actions: [{ do: "Revert" }] },
        }),
      );
      // The next attempt is due in 5 s: the Squad is looked at again then, invalid or not.
      expect(await reconciler.reconcile("payments")).toEqual({ requeueAfterMs: 5000 });
      expect(delivered).toMatchObject([
        { squad: "payments", oncall: { ...oncall }, namespaces: [{ name: "shop" }] },
      ]);
      const patch = statusPatches(calls)[0];
      expect(conditionOf(patch, "Stalled")).toMatchObject({ reason: "InvalidSpec" });
      // Each part names its own problem: the rest in Stalled, the policy in its own condition.
      expect(conditionOf(patch, "Stalled")?.message).not.toContain("incidentResponse");
      expect(conditionOf(patch, "IncidentResponseValid")).toMatchObject({
        status: "False",
        reason: "InvalidSpec",
      });
    });

    it("reconciles everything else when only its incidentResponse is refused, and says so apart, once", async () => {
      const { s, calls, events, reconciler } = setup();
      const policy = { correlationWindow: "5s", actions: [{ do: "Revert" }] };
      s.squads.upsert(
        squad({
          members: [{ kind: "User", name: "ana", role: "lead" }],
          networkIsolation: "Squad",
          incidentResponse: policy,
        }),
      );
      expect(await reconciler.reconcile("payments")).toEqual({});
      // What a valid Squad gets: its namespace, RBAC and isolation.
      expect(calls.map((c) => `${c.verb} ${c.kind} ${c.namespace ?? ""}/${c.name}`)).toEqual([
        "create Namespace /payments",
        "apply Namespace /payments",
        "apply RoleBinding payments/crescendo-lead",
        "apply NetworkPolicy payments/crescendo-isolation",
        "mergePatch Squad /payments",
      ]);
      const patch = statusPatches(calls)[0];
      expect(conditionOf(patch, "Stalled")?.status).toBe("False");
      expect(conditionOf(patch, "Reconciling")?.status).toBe("True");
      const refused = conditionOf(patch, "IncidentResponseValid");
      expect(refused).toMatchObject({ status: "False", reason: "InvalidSpec" });
      expect(refused?.message).toMatch(
        /^spec\.incidentResponse\.correlationWindow: correlationWindow must be between 1m and 24h; alerts of this squad are only notified/,
      );
      expect(events).toEqual([
        expect.objectContaining({ reason: "NamespaceCreated" }),
        expect.objectContaining({
          type: "Warning",
          reason: "IncidentResponseInvalid",
          note: refused?.message,
        }),
      ]);

      // Reconciled again with the same problem: no second Warning.
      s.squads.upsert(
        squad({ ...squadSpecOf(s), incidentResponse: policy }, { resourceVersion: "11" }, statusOf(patch)),
      );
      events.length = 0;
      await reconciler.reconcile("payments");
      expect(events.filter((e) => e.reason === "IncidentResponseInvalid")).toEqual([]);

      // Fixed: True, and a Normal Event says the rules are read again.
      const fixed = { correlationWindow: "5m", actions: [{ do: "Revert" }] };
      const last = statusPatches(calls).at(-1) ?? patch;
      s.squads.upsert(
        squad(
          { ...squadSpecOf(s), incidentResponse: fixed },
          { resourceVersion: "12", generation: 3 },
          statusOf(last),
        ),
      );
      calls.length = 0;
      await reconciler.reconcile("payments");
      expect(conditionOf(statusPatches(calls)[0], "IncidentResponseValid")).toMatchObject({
        status: "True",
        reason: "Valid",
        message: "1 rule, correlationWindow 5m",
      });
      expect(events.filter((e) => e.reason.startsWith("IncidentResponse"))).toEqual([
        expect.objectContaining({ type: "Normal", reason: "IncidentResponseValid" }),
      ]);
    });

    it("refuses a rule a client-side kubectl apply emptied by dropping a null label, and stalls nothing", async () => {
      const { s, calls, reconciler } = setup();
      s.squads.upsert(
        squad(
          { incidentResponse: { actions: [{ match: { labels: {} }, do: "Revert" }] } },
          {
            annotations: {
              "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({
                spec: {
                  incidentResponse: { actions: [{ match: { labels: { severity: null } }, do: "Revert" }] },
                },
              }),
            },
          },
        ),
      );
      await reconciler.reconcile("payments");
      expect(calls.map((c) => c.verb)).toContain("apply");
      const patch = statusPatches(calls)[0];
      expect(conditionOf(patch, "Stalled")?.status).toBe("False");
      expect(conditionOf(patch, "IncidentResponseValid")?.message).toMatch(
        /^spec\.incidentResponse\.actions\[0\]\.match\.labels\.severity: a label value is needed.*kubectl apply dropped it/,
      );
    });

    it("gives a Squad without incidentResponse no IncidentResponseValid condition", async () => {
      const { s, calls, reconciler } = setup();
      s.squads.upsert(squad({}));
      await reconciler.reconcile("payments");
      expect(conditionOf(statusPatches(calls)[0], "IncidentResponseValid")).toBeUndefined();
    });

    it("has nothing to page with when its oncall itself is invalid", async () => {
      let asked = 0;
      const { s, reconciler } = setup(
        {},
        {
          deliver: (raw) => {
            asked++;
            return Promise.resolve({ raw, nextInMs: undefined });
          },
          cancel: () => undefined,
        },
      );
      s.squads.upsert(squad({ oncall: { format: "slack" } }));
      expect(await reconciler.reconcile("payments")).toEqual({});
      expect(asked).toBe(0);
    });

    it("still runs cleanup for an invalid Squad being deleted", async () => {
      const { s, calls, reconciler } = setup();
      s.namespaces.upsert(ns("payments", { "crescendo.dev/squad": "payments" }));
      s.squads.upsert(
        squad(
          { networkIsolation: "Everything", namespaceDeletionPolicy: "Delete" },
          { deletionTimestamp: "2024-06-30T11:00:00Z" },
        ),
      );
      expect(await reconciler.reconcile("payments")).toEqual({ requeueAfterMs: 5000 });
      expect(calls.map((c) => `${c.verb} ${c.kind} ${c.name}`)).toEqual(["delete Namespace payments"]);
    });
  });

  describe("deletion", () => {
    const deleting = { deletionTimestamp: "2024-06-30T11:00:00Z" };

    it("Retain: leaves namespaces alone and lets the finalizer go", async () => {
      const { s, calls, reconciler } = setup();
      s.namespaces.upsert(ns("payments", { "crescendo.dev/squad": "payments" }));
      s.squads.upsert(squad({}, deleting));
      expect(await reconciler.reconcile("payments")).toEqual({});
      expect(calls).toEqual([
        {
          verb: "mergePatch",
          kind: "Squad",
          name: "payments",
          namespace: undefined,
          body: { metadata: { finalizers: [], resourceVersion: "10" } },
          subresource: undefined,
        },
      ]);
    });

    it("Delete: deletes only its own namespaces and waits until they are gone", async () => {
      const { s, calls, events, reconciler } = setup();
      s.namespaces.upsert(ns("payments", { "crescendo.dev/squad": "payments" }));
      s.namespaces.upsert(ns("going", { "crescendo.dev/squad": "payments" }, deleting));
      s.namespaces.upsert(ns("theirs", { "crescendo.dev/squad": "billing" }));
      s.namespaces.upsert(ns("nobody"));
      s.squads.upsert(squad({ namespaceDeletionPolicy: "Delete" }, deleting));
      expect(await reconciler.reconcile("payments")).toEqual({ requeueAfterMs: 5000 });
      expect(calls.map((c) => `${c.verb} ${c.kind} ${c.name}`)).toEqual(["delete Namespace payments"]);
      expect(events.map((e) => e.reason)).toEqual(["NamespaceDeleted"]);

      s.namespaces.delete(ns("payments"));
      s.namespaces.delete(ns("going"));
      calls.length = 0;
      expect(await reconciler.reconcile("payments")).toEqual({});
      expect(calls.map((c) => `${c.verb} ${c.kind} ${c.name}`)).toEqual(["mergePatch Squad payments"]);
    });
  });
});

describe("watch mappings", () => {
  it("indexes declared namespaces from raw specs, valid or not", () => {
    const squads = new Store<KubeObject>();
    squads.addIndex(DECLARED_NAMESPACE_INDEX, declaredNames);
    const declaring = (namespace: string) =>
      squads
        .byIndex(DECLARED_NAMESPACE_INDEX, namespace)
        .map((s) => s.metadata.name)
        .sort();
    squads.replace(
      [
        squad({ namespaces: [{ name: "shared" }, { name: "a" }] }, { name: "sq-a" }),
        squad({ namespaces: [{ name: "shared" }, { bad: 1 }] }, { name: "sq-b" }),
        squad({}, { name: "sq-c" }),
      ],
      "1",
    );
    expect(declaring("shared")).toEqual(["sq-a", "sq-b"]);
    expect(declaring("sq-c")).toEqual(["sq-c"]);
    squads.upsert(squad({ namespaces: [{ name: "b" }] }, { name: "sq-a", resourceVersion: "11" }));
    expect(declaring("shared")).toEqual(["sq-b"]);
    expect(declaring("b")).toEqual(["sq-a"]);
    squads.delete(squad({}, { name: "sq-b" }));
    expect(declaring("shared")).toEqual([]);
    squads.replace([squad({}, { name: "sq-c" })], "2");
    expect(declaring("b")).toEqual([]);
    expect(declaring("sq-c")).toEqual(["sq-c"]);
  });

  it("reads declared names leniently", () => {
    expect(declaredNames(squad({ namespaces: "nope" }))).toEqual(["payments"]);
    expect(declaredNames({ metadata: { name: "x" } })).toEqual(["x"]);
    expect(declaredNames(squad({ namespaces: [null, { name: "" }, { name: "ok" }] }))).toEqual(["ok"]);
  });

  it("maps a Namespace to its owner and to every squad declaring it", () => {
    const squads = new Store<KubeObject>();
    squads.replace(
      [
        squad({ namespaces: [{ name: "shared" }] }, { name: "wants-it" }),
        squad({ namespaces: [{ name: "shared" }] }, { name: "billing" }),
      ],
      "1",
    );
    squads.addIndex(DECLARED_NAMESPACE_INDEX, declaredNames);
    const map = squadsOfNamespace(squads);
    expect(map(ns("shared", { "crescendo.dev/squad": "billing" }))).toEqual(["billing", "wants-it"]);
    expect(map(ns("shared", { "crescendo.dev/squad": "wants-it" }))).toEqual(["wants-it", "billing"]);
    expect(map(ns("other"))).toEqual([]);
  });

  it("maps a deleted Squad to the squads waiting on its namespaces, and only its deletion counts", () => {
    const squads = new Store<KubeObject>();
    squads.addIndex(DECLARED_NAMESPACE_INDEX, declaredNames);
    squads.replace(
      [
        squad({ namespaces: [{ name: "shared" }, { name: "mine" }] }, { name: "wants-it" }),
        squad({ namespaces: [{ name: "shared" }] }, { name: "also-wants-it" }),
        squad({ namespaces: [{ name: "elsewhere" }] }, { name: "unrelated" }),
      ],
      "1",
    );
    const namespaces = new Store<Namespace>();
    namespaces.replace(
      [
        ns("shared", { "crescendo.dev/squad": "billing" }),
        ns("elsewhere", { "crescendo.dev/squad": "unrelated" }),
      ],
      "1",
    );
    const gone = squad({ namespaces: [{ name: "shared" }] }, { name: "billing" });
    expect(squadsWaitingOn(squads, namespaces)(gone)).toEqual(["also-wants-it", "wants-it"]);
    expect(squadsWaitingOn(squads, namespaces)(squad({}, { name: "nobody" }))).toEqual([]);
    expect(squadDeleted({ type: "delete", object: gone })).toBe(true);
    expect(squadDeleted({ type: "upsert", object: gone })).toBe(false);
  });

  it("maps Releases and toggles to the squad owning their namespace", () => {
    const namespaces = new Store<Namespace>();
    namespaces.replace([ns("pay", { "crescendo.dev/squad": "payments" }), ns("free")], "1");
    const map = squadOfNamespacedObject(namespaces);
    expect(map({ metadata: { name: "r", namespace: "pay" } })).toEqual(["payments"]);
    expect(map({ metadata: { name: "r", namespace: "free" } })).toEqual([]);
    expect(map({ metadata: { name: "r", namespace: "unknown" } })).toEqual([]);
  });
});

describe("which events reach the Squad", () => {
  const rel = (status: Record<string, unknown>): Release =>
    ({ metadata: { name: "web", namespace: "pay" }, spec: {}, status }) as Release;
  const entry = (revision: string, outcome: string, finishedAt?: string) => ({
    revision,
    outcome,
    startedAt: "2024-06-30T10:00:00Z",
    ...(finishedAt ? { finishedAt } : {}),
  });
  const tog = (status: Record<string, unknown>): FeatureToggle =>
    ({ metadata: { name: "t", namespace: "pay" }, spec: {}, status }) as FeatureToggle;

  it("a Release: its phase or its history, or it came or went; not weights or measurements", () => {
    const changed = (previous: Release, object: Release) =>
      releaseSummaryChanged({ type: "upsert", object, previous });
    const history = [entry("a", "Promoted", "2024-06-30T11:00:00Z")];
    expect(
      changed(
        rel({ phase: "Progressing", canaryWeight: 10 }),
        rel({ phase: "Progressing", canaryWeight: 20 }),
      ),
    ).toBe(false);
    expect(
      changed(rel({ phase: "Progressing", history }), rel({ phase: "Progressing", history: [...history] })),
    ).toBe(false);
    expect(changed(rel({ phase: "Progressing" }), rel({ phase: "Healthy" }))).toBe(true);
    expect(
      changed(
        rel({ phase: "Healthy", history }),
        rel({ phase: "Healthy", history: [entry("b", "Superseded"), ...history] }),
      ),
    ).toBe(true);
    // At the history's cap the length stays; the newest entry still tells.
    expect(
      changed(
        rel({ phase: "Progressing", history }),
        rel({ phase: "Progressing", history: [entry("b", "Superseded")] }),
      ),
    ).toBe(true);
    expect(releaseSummaryChanged({ type: "upsert", object: rel({}) })).toBe(true);
    expect(releaseSummaryChanged({ type: "delete", object: rel({}) })).toBe(true);
    expect(releaseSummaryChanged({ type: "resync", objects: [] })).toBe(true);
  });

  it("a FeatureToggle: its effective state or staleness, or it came or went", () => {
    const changed = (previous: FeatureToggle, object: FeatureToggle) =>
      toggleSummaryChanged({ type: "upsert", object, previous });
    const enabled = { effectiveState: "Enabled", stale: false };
    expect(changed(tog({ ...enabled, servedVariant: "on" }), tog({ ...enabled, servedVariant: "off" }))).toBe(
      false,
    );
    expect(changed(tog(enabled), tog({ ...enabled, effectiveState: "KilledByRollback" }))).toBe(true);
    expect(changed(tog(enabled), tog({ ...enabled, stale: true }))).toBe(true);
    expect(toggleSummaryChanged({ type: "upsert", object: tog({}) })).toBe(true);
    expect(toggleSummaryChanged({ type: "delete", object: tog({}) })).toBe(true);
  });
});

describe("registerSquadController", () => {
  const running: AbortController[] = [];
  afterEach(() => {
    for (const c of running.splice(0)) c.abort();
  });

  it("watches what it needs and reconciles a Squad when a Release in its namespace changes", async () => {
    const { host, informers, added } = inMemoryHost(logger);
    const { client, calls } = fakeClient();
    const controller = registerSquadController(host, {
      client,
      recorder: fakeRecorder().recorder,
      logger,
      workers: 1,
    });
    expect(added).toEqual([controller]);
    expect([...informers.keys()].sort()).toEqual(
      [SquadResource, NamespaceResource, ReleaseResource, FeatureToggleResource, ...OWNED_RESOURCES]
        .map((r) => r.plural)
        .sort(),
    );

    const store = (res: Resource) => informers.get(res.plural) as Store<KubeObject>;
    for (const s of informers.values()) s.replace([], "1");
    store(NamespaceResource).upsert(ns("payments", { "crescendo.dev/squad": "payments" }));
    const stop = new AbortController();
    const cancel = new AbortController();
    running.push(stop, cancel);
    void controller.run({ stop: stop.signal, cancel: cancel.signal });

    store(SquadResource).upsert(squad({}));
    // The fake client does not feed status back, so each reconcile writes it: count them.
    await vi.waitFor(() => expect(statusPatches(calls).length).toBeGreaterThan(0));
    await new Promise((r) => setTimeout(r, 20));
    const before = statusPatches(calls).length;
    expect(statusOf(statusPatches(calls)[before - 1])["releases"]).toMatchObject({ total: 0 });
    store(ReleaseResource).upsert({
      metadata: { name: "web", namespace: "payments", resourceVersion: "1" },
      status: { phase: "Healthy" },
    });
    // Release changes reach the summary after SUMMARY_BATCH_MS, batched.
    await vi.waitFor(
      () => expect(statusOf(statusPatches(calls).at(-1))["releases"]).toMatchObject({ total: 1, healthy: 1 }),
      { timeout: SUMMARY_BATCH_MS + 2000 },
    );
    expect(statusPatches(calls).length).toBeGreaterThan(before);

    // A weight step or a measurement changes nothing the squad summarises: no reconcile.
    await new Promise((r) => setTimeout(r, 20));
    const settled = statusPatches(calls).length;
    store(ReleaseResource).upsert({
      metadata: { name: "web", namespace: "payments", resourceVersion: "2" },
      status: { phase: "Healthy", canaryWeight: 0 },
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(statusPatches(calls).length).toBe(settled);
    store(ReleaseResource).upsert({
      metadata: { name: "web", namespace: "payments", resourceVersion: "3" },
      status: { phase: "Degraded" },
    });
    await vi.waitFor(
      () =>
        expect(statusOf(statusPatches(calls).at(-1))["releases"]).toMatchObject({ total: 1, degraded: 1 }),
      { timeout: SUMMARY_BATCH_MS + 2000 },
    );
  });
});
