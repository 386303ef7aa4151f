import { describe, expect, it } from "vitest";
import type { FeatureToggleStatus } from "../../api/featuretoggle.js";
import { parseStrict } from "../../flags/validate.js";
import { findCondition } from "../../runtime/conditions.js";
import type { EventInput } from "../../runtime/events.js";
import type { KubeObject } from "../../runtime/types.js";
import { watchFlagDocuments } from "./documents.js";
import type { RawRelease, RawToggle } from "./plan.js";
import { FeatureToggleReconciler } from "./reconciler.js";
import {
  establishedCrd,
  fakeClient,
  logger,
  namespace,
  NOW,
  release,
  store,
  toggle,
} from "./test-fixtures.js";

function setup(
  objects: {
    toggles?: RawToggle[];
    releases?: RawRelease[];
    namespaces?: KubeObject[];
    squads?: KubeObject[];
    configMaps?: KubeObject[];
    crds?: KubeObject[];
  } = {},
  clientOptions: Parameters<typeof fakeClient>[0] = {},
) {
  const toggles = store(objects.toggles);
  const releases = store(objects.releases);
  const namespaces = store(objects.namespaces ?? [namespace("shop")]);
  const squads = store(objects.squads);
  const configMaps = store(objects.configMaps);
  const crds = store(objects.crds);
  const clock = { now: () => NOW };
  const flags = watchFlagDocuments({ toggles, releases, clock });
  const { client, calls } = fakeClient(clientOptions);
  const events: { name: string; kind?: string; event: EventInput }[] = [];
  const recorder = {
    record: async (obj: KubeObject, event: EventInput) =>
      void events.push({ name: obj.metadata.name ?? "", kind: obj.kind, event }),
  };
  const reconciler = new FeatureToggleReconciler({
    client,
    recorder,
    logger,
    clock,
    flags,
    toggles,
    releases,
    namespaces,
    squads,
    configMaps,
    crds,
  });
  const statusOf = (name: string) =>
    calls.find((c) => c.verb === "mergePatch" && c.name === name && c.subresource === "status")?.body as
      { status: FeatureToggleStatus } | undefined;
  return { toggles, releases, namespaces, configMaps, crds, flags, reconciler, calls, events, statusOf };
}

describe("FeatureToggleReconciler", () => {
  it("applies the ConfigMap with a strict-valid document and writes each toggle's status", async () => {
    const t = setup({
      toggles: [toggle("banner", { rollout: { variant: "on", percentage: 30 } })],
      namespaces: [namespace("shop", { "crescendo.dev/squad": "web", "crescendo.dev/tribe": "retail" })],
    });
    expect(await t.reconciler.reconcile("shop")).toEqual({ requeueAfterMs: expect.any(Number) });
    const cm = t.calls.find((c) => c.verb === "apply" && c.kind === "ConfigMap")?.body as KubeObject;
    expect(cm.metadata).toMatchObject({
      name: "crescendo-flags",
      namespace: "shop",
      labels: { "crescendo.dev/squad": "web", "crescendo.dev/tribe": "retail" },
      ownerReferences: [{ kind: "FeatureToggle", name: "banner", uid: "uid-banner" }],
    });
    const text = (cm["data"] as Record<string, string>)["flags.flagd.json"] ?? "";
    expect(parseStrict(text).getFlag("banner")).toBeDefined();
    const status = t.statusOf("banner")?.status;
    expect(status).toMatchObject({
      effectiveState: "Enabled",
      servedVariant: "off",
      key: "banner",
      stale: false,
    });
    expect(findCondition(status?.conditions, "Ready")).toMatchObject({ status: "True", reason: "Serving" });
    // No FeatureFlag without its CRD.
    expect(t.calls.some((c) => c.kind === "FeatureFlag")).toBe(false);
  });

  it("skips the ConfigMap when the informer already holds it", async () => {
    const first = setup({ toggles: [toggle("banner")] });
    await first.reconciler.reconcile("shop");
    const cm = first.calls.find((c) => c.kind === "ConfigMap")?.body as KubeObject;
    const second = setup({ toggles: [toggle("banner")], configMaps: [cm] });
    await second.reconciler.reconcile("shop");
    expect(second.calls.some((c) => c.kind === "ConfigMap")).toBe(false);
  });

  it("compares the ConfigMap once per content and resourceVersion, and still restores an edited one", async () => {
    const t = setup({ toggles: [toggle("banner")] });
    await t.reconciler.reconcile("shop");
    const cm = t.calls.find((c) => c.kind === "ConfigMap")?.body as KubeObject;
    t.configMaps.upsert({ ...cm, metadata: { ...cm.metadata, resourceVersion: "5" } });
    const applies = () => t.calls.filter((c) => c.kind === "ConfigMap").length;
    await t.reconciler.reconcile("shop");
    await t.reconciler.reconcile("shop");
    expect(applies()).toBe(1);

    // Someone edits it: a new resourceVersion is compared again, and put back.
    t.configMaps.upsert({
      ...cm,
      metadata: { ...cm.metadata, resourceVersion: "6" },
      data: { "flags.flagd.json": "{}" },
    });
    await t.reconciler.reconcile("shop");
    expect(applies()).toBe(2);

    // A new toggle changes the content: applied although the ConfigMap did not change.
    t.configMaps.upsert({ ...cm, metadata: { ...cm.metadata, resourceVersion: "7" } });
    await t.reconciler.reconcile("shop");
    expect(applies()).toBe(2);
    t.toggles.upsert(toggle("second"));
    await t.reconciler.reconcile("shop");
    expect(applies()).toBe(3);
  });

  it("reports an invalid spec as Stalled/InvalidSpec with the zod message, once, and does not serve it", async () => {
    const t = setup({ toggles: [toggle("bad", { defaultVariant: "nope" })] });
    await t.reconciler.reconcile("shop");
    const status = t.statusOf("bad")?.status;
    expect(findCondition(status?.conditions, "Stalled")).toMatchObject({
      status: "True",
      reason: "InvalidSpec",
      message: expect.stringContaining('spec.defaultVariant: variant "nope" is not defined'),
    });
    expect(status?.effectiveState).toBeUndefined();
    expect(t.events.map((e) => e.event.reason)).toEqual(["InvalidSpec"]);
    expect(t.flags.document("shop")?.doc.flags).toEqual({});
  });

  it("kills a guarded toggle when its Release rolls back, with an Event, and re-arms on request", async () => {
    const t = setup({
      toggles: [
        toggle("guarded", { guard: { release: "web" }, rollout: { variant: "on", percentage: 100 } }),
      ],
      releases: [release("web", "RolledBack")],
    });
    await t.reconciler.reconcile("shop");
    const status = t.statusOf("guarded")?.status;
    expect(status).toMatchObject({ effectiveState: "KilledByRollback", killedBy: "abc123" });
    expect(t.events).toEqual([
      expect.objectContaining({
        name: "guarded",
        kind: "FeatureToggle",
        event: expect.objectContaining({ reason: "ToggleKilled", type: "Warning", action: "Kill" }),
      }),
    ]);
    expect(t.flags.document("shop")?.doc.flags["guarded"]?.targeting).toBeUndefined();

    // The Release is Healthy again and someone asks for a rearm.
    const killed = toggle(
      "guarded",
      { guard: { release: "web" }, rollout: { variant: "on", percentage: 100 } },
      {
        status: status as FeatureToggleStatus,
        meta: {
          resourceVersion: "2",
          annotations: { "crescendo.dev/action": "rearm", "crescendo.dev/action-id": "1" },
        },
      },
    );
    t.toggles.upsert(killed);
    t.releases.upsert(release("web", "Healthy", "shop", "2"));
    t.calls.length = 0;
    await t.reconciler.reconcile("shop");
    expect(t.statusOf("guarded")?.status).toMatchObject({
      effectiveState: "Enabled",
      lastAction: { id: "1", action: "rearm", result: "re-armed" },
    });
    expect(t.events.map((e) => e.event.reason)).toEqual(["ToggleKilled", "ToggleRearmed"]);
    expect(t.flags.document("shop")?.doc.flags["guarded"]?.targeting).toBeDefined();
  });

  it("marks the toggles beyond the squad's maxActive, across the squad's namespaces", async () => {
    const older = toggle("older", {}, { namespace: "a1" });
    const newer = toggle(
      "newer",
      {},
      { namespace: "a2", meta: { creationTimestamp: "2024-01-01T12:00:00Z" } },
    );
    const t = setup({
      toggles: [older, newer],
      namespaces: [
        namespace("a1", { "crescendo.dev/squad": "alpha" }),
        namespace("a2", { "crescendo.dev/squad": "alpha" }),
      ],
      squads: [{ metadata: { name: "alpha" }, spec: { toggles: { maxActive: 1 } } }],
    });
    await t.reconciler.reconcile("a1");
    await t.reconciler.reconcile("a2");
    expect(findCondition(t.statusOf("older")?.status.conditions, "OverActiveLimit")?.status).toBe("False");
    expect(findCondition(t.statusOf("newer")?.status.conditions, "OverActiveLimit")).toMatchObject({
      status: "True",
      reason: "ActiveLimitExceeded",
    });
  });

  it("writes a FeatureFlag when the OpenFeature CRD is served, once per content", async () => {
    const t = setup({ toggles: [toggle("banner")], crds: [establishedCrd()] });
    await t.reconciler.reconcile("shop");
    const ff = t.calls.find((c) => c.kind === "FeatureFlag")?.body as KubeObject;
    expect(ff).toMatchObject({
      apiVersion: "core.openfeature.dev/v1beta1",
      metadata: { name: "crescendo-flags", namespace: "shop" },
      spec: { flagSpec: { flags: { banner: expect.any(Object) } } },
    });
    t.calls.length = 0;
    await t.reconciler.reconcile("shop");
    expect(t.calls.some((c) => c.kind === "FeatureFlag")).toBe(false);
  });

  it("treats a FeatureFlag 404 (CRD just removed) as absent, not an error", async () => {
    const t = setup({ toggles: [toggle("banner")], crds: [establishedCrd()] }, { featureFlag404: true });
    // The reconcile succeeds (no error, so no retry): the ConfigMap and the status are written.
    await expect(t.reconciler.reconcile("shop")).resolves.toEqual({ requeueAfterMs: expect.any(Number) });
    const applied = () => t.calls.filter((c) => c.verb === "apply").map((c) => c.kind);
    expect(applied()).toEqual(["ConfigMap", "FeatureFlag"]);
    expect(findCondition(t.statusOf("banner")?.status.conditions, "Ready")).toMatchObject({ status: "True" });
    // Nothing is remembered as written: while the CRD is still listed, the next reconcile tries
    // the FeatureFlag again (one that was written is not: see "once per content" above).
    t.calls.length = 0;
    await t.reconciler.reconcile("shop");
    expect(applied().filter((kind) => kind === "FeatureFlag")).toHaveLength(1);
  });

  it("deletes its ConfigMap (and FeatureFlag) when the namespace has no toggles left", async () => {
    const t = setup({ toggles: [toggle("banner")], crds: [establishedCrd()] });
    await t.reconciler.reconcile("shop");
    const cm = t.calls.find((c) => c.kind === "ConfigMap")?.body as KubeObject;
    t.toggles.delete(toggle("banner"));
    const withCm = setup({ configMaps: [cm], crds: [establishedCrd()] });
    await withCm.reconciler.reconcile("shop");
    expect(withCm.calls).toEqual([
      { verb: "delete", kind: "ConfigMap", name: "crescendo-flags", namespace: "shop" },
    ]);
    // The first reconciler had applied a FeatureFlag, so it deletes that too.
    t.calls.length = 0;
    await t.reconciler.reconcile("shop");
    expect(t.calls.map((c) => `${c.verb} ${c.kind}`)).toEqual(["delete FeatureFlag"]);
  });

  it("leaves a ConfigMap of that name alone when Crescendo did not create it", async () => {
    const foreign = { metadata: { name: "crescendo-flags", namespace: "shop", labels: {} } };
    const t = setup({ configMaps: [foreign] });
    await t.reconciler.reconcile("shop");
    expect(t.calls).toEqual([]);
  });

  it("ignores a toggle deleted since the snapshot (404 on its status)", async () => {
    const t = setup(
      { toggles: [toggle("a"), toggle("gone", { defaultVariant: "nope" })] },
      { statusGone: "gone" },
    );
    // No error (its deletion brings a reconcile of its own), the other toggle's status is
    // written, and a status that was not written records no Event about it.
    await expect(t.reconciler.reconcile("shop")).resolves.toEqual({ requeueAfterMs: expect.any(Number) });
    expect(t.calls.filter((c) => c.subresource === "status").map((c) => c.name)).toEqual(["a", "gone"]);
    expect(t.statusOf("a")?.status).toMatchObject({ effectiveState: "Enabled" });
    expect(t.events).toEqual([]);
  });

  it("reads its own status writes until the informer shows them: no rewrite, no 409", async () => {
    const t = setup({ toggles: [toggle("a"), toggle("b")] }, { statusVersions: true });
    await t.reconciler.reconcile("shop");
    const statusPatches = () => t.calls.filter((c) => c.subresource === "status");
    expect(statusPatches().map((c) => c.name)).toEqual(["a", "b"]);

    // a's write comes back first and reconciles the namespace while b's is still on its way.
    const a = t.statusOf("a")?.status;
    t.toggles.upsert(toggle("a", {}, { ...(a ? { status: a } : {}), meta: { resourceVersion: "w1" } }));
    t.calls.length = 0;
    await t.reconciler.reconcile("shop");
    expect(statusPatches()).toEqual([]);
  });

  it("writes every toggle's status before retrying a conflict", async () => {
    const t = setup({ toggles: [toggle("a"), toggle("b")] }, { statusConflict: "a" });
    await expect(t.reconciler.reconcile("shop")).rejects.toMatchObject({ status: 409 });
    expect(t.statusOf("b")).toBeDefined();
  });
});
