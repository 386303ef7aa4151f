import { afterEach, describe, expect, it, vi } from "vitest";
import type { FeatureToggleStatus } from "../../api/featuretoggle.js";
import { FeatureToggleResource, ReleaseResource } from "../../api/kinds.js";
import { createLogger } from "../../observability/logger.js";
import { parseStrict } from "../../flags/validate.js";
import { ApiError, type KubeClient } from "../../runtime/client.js";
import { findCondition } from "../../runtime/conditions.js";
import type { EventInput } from "../../runtime/events.js";
import { Store } from "../../runtime/store.js";
import type { Controller, ControllerHost } from "../../runtime/controller.js";
import { ConfigMapResource, FEATURE_FLAG_CRD, NamespaceResource } from "../../runtime/resources.js";
import { systemClock, type KubeObject, type ReadStore, type Resource } from "../../runtime/types.js";
import {
  compileNamespace,
  featureFlagCrdServed,
  FeatureToggleReconciler,
  FlagDocuments,
  GuardedReleases,
  guardPhaseChanged,
  toggleChanged,
  squadPolicyChanged,
  namespaceOfFlagsObject,
  namespaceOfGuardRelease,
  namespacesOfSquad,
  namespacesOfToggle,
  namespacesOnCrdChange,
  registerFeatureToggleController,
  squadTogglePolicy,
  watchFlagDocuments,
  type RawRelease,
  type RawToggle,
} from "./controller.js";

const logger = createLogger({ level: "silent" });
const CREATED = "2024-01-01T00:00:00Z";
const NOW = Date.parse("2024-01-02T00:00:00Z");

function toggle(
  name: string,
  spec: Record<string, unknown> = {},
  extra: { namespace?: string; status?: FeatureToggleStatus; meta?: Partial<KubeObject["metadata"]> } = {},
): RawToggle {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "FeatureToggle",
    metadata: {
      name,
      namespace: extra.namespace ?? "shop",
      uid: `uid-${name}`,
      generation: 1,
      resourceVersion: "1",
      creationTimestamp: CREATED,
      ...extra.meta,
    },
    spec: { variants: { on: true, off: false }, defaultVariant: "off", ...spec },
    ...(extra.status ? { status: extra.status } : {}),
  };
}

function release(name: string, phase: string, namespace = "shop", rv = "1"): RawRelease {
  return {
    metadata: { name, namespace, resourceVersion: rv },
    status: { phase: phase as NonNullable<RawRelease["status"]>["phase"], canaryRevision: "abc123" },
  };
}

function store<T extends KubeObject>(objects: T[] = []): Store<T> {
  const s = new Store<T>();
  s.replace(objects, "1");
  return s;
}

const namespace = (name: string, labels: Record<string, string> = {}): KubeObject => ({
  metadata: { name, labels, resourceVersion: "1" },
});

const establishedCrd = (served = true): KubeObject => ({
  metadata: { name: FEATURE_FLAG_CRD, uid: "crd-1" },
  spec: { versions: [{ name: "v1beta1", served }] },
  status: { conditions: [{ type: "Established", status: "True" }] },
});

interface Call {
  verb: "apply" | "delete" | "mergePatch";
  kind: string;
  name: string;
  namespace?: string;
  body?: unknown;
  subresource?: string;
}

function fakeClient(
  options: {
    statusConflict?: string;
    statusGone?: string;
    featureFlag404?: boolean;
    /** Answer status patches as the apiserver does: a new resourceVersion and the status. */
    statusVersions?: boolean;
  } = {},
) {
  const calls: Call[] = [];
  let version = 0;
  const client: Pick<KubeClient, "apply" | "delete" | "mergePatch"> = {
    apply: async <T extends KubeObject>(obj: KubeObject, res: Resource) => {
      calls.push({
        verb: "apply",
        kind: res.kind,
        name: obj.metadata.name ?? "",
        namespace: obj.metadata.namespace,
        body: obj,
      });
      if (options.featureFlag404 && res.kind === "FeatureFlag")
        throw new ApiError(404, "NotFound", "no kind", undefined, undefined, "PATCH");
      return obj as T;
    },
    delete: async (res: Resource, name: string, ns?: string) => {
      calls.push({ verb: "delete", kind: res.kind, name, namespace: ns });
      return true;
    },
    mergePatch: async <T extends KubeObject>(
      res: Resource,
      name: string,
      ns: string | undefined,
      patch: unknown,
      opts?: { subresource?: string },
    ) => {
      calls.push({ verb: "mergePatch", kind: res.kind, name, namespace: ns, body: patch, ...opts });
      if (options.statusConflict === name)
        throw new ApiError(409, "Conflict", "conflict", undefined, undefined, "PATCH");
      if (options.statusGone === name)
        throw new ApiError(404, "NotFound", "not found", undefined, undefined, "PATCH");
      if (options.statusVersions && opts?.subresource === "status") {
        const { status } = patch as { status: unknown };
        return { metadata: { name, resourceVersion: `w${++version}` }, status } as unknown as T;
      }
      return { metadata: { name } } as T;
    },
  };
  return { client, calls };
}

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

describe("compileNamespace", () => {
  it("serves valid toggles, leaves invalid ones out with the zod message, and kills on rollback", () => {
    const flags = compileNamespace(
      "shop",
      [
        toggle("a"),
        toggle("bad", { defaultVariant: "nope" }),
        toggle("mixed", { variants: { on: true, off: "x" } }),
        toggle("guarded", { guard: { release: "web" }, rollout: { variant: "on", percentage: 100 } }),
      ],
      (name) => (name === "web" ? release("web", "RolledBack") : undefined),
      NOW,
    );
    expect(Object.keys(flags.compiled.document.flags).sort()).toEqual(["a", "guarded"]);
    expect(flags.invalid.map((i) => [i.toggle.metadata.name, i.message])).toEqual([
      ["bad", 'spec.defaultVariant: variant "nope" is not defined'],
      ["mixed", "spec.variants: all variants must have the same type"],
    ]);
    expect(flags.entries.find((e) => e.toggle.metadata.name === "guarded")?.killed).toBe(true);
    expect(flags.compiled.document.flags["guarded"]?.targeting).toBeUndefined();
    expect(flags.published?.etag).toMatch(/^[0-9a-f]{32}$/);
    // The served document is one flagd accepts strictly.
    expect(() => parseStrict(JSON.stringify(flags.compiled.document))).not.toThrow();
  });

  it("publishes nothing for a namespace without toggles", () => {
    expect(compileNamespace("empty", [], () => undefined, NOW).published).toBeUndefined();
  });
});

describe("FlagDocuments", () => {
  it("compiles once per change, and a guard Release's phase change is seen on the next read", () => {
    const toggles = store([toggle("guarded", { guard: { release: "web" } })]);
    const releases = store([release("web", "Healthy")]);
    let compiles = 0;
    const flags = watchFlagDocuments({
      toggles,
      releases,
      clock: { now: () => NOW },
      onCompile: () => compiles++,
    });
    const served = () => flags.document("shop")?.doc.flags["guarded"]?.metadata;
    expect(served()).toBeUndefined();
    expect(flags.document("shop")).toBe(flags.document("shop"));
    expect(compiles).toBe(1);

    // A status-only change of the Release (same phase) does not recompile.
    releases.upsert({
      ...release("web", "Healthy", "shop", "2"),
      status: { phase: "Healthy", canaryWeight: 5 },
    });
    flags.document("shop");
    expect(compiles).toBe(1);

    releases.upsert(release("web", "RolledBack", "shop", "3"));
    expect(served()).toEqual({ crescendoEffectiveState: "KilledByRollback" });
    expect(compiles).toBe(2);

    toggles.delete(toggle("guarded"));
    expect(flags.document("shop")).toBeUndefined();
  });

  it("parses a toggle's spec once per generation, and forgets it with the toggle", () => {
    const toggles = store([toggle("a", { defaultVariant: "on" })]);
    const flags = watchFlagDocuments({ toggles, releases: store(), clock: { now: () => NOW } });
    const spec = () => flags.flags("shop").valid[0]?.spec;
    const first = spec();
    expect(first?.defaultVariant).toBe("on");

    // A status write (same generation) recompiles the namespace but reuses the parse.
    toggles.upsert(
      toggle("a", { defaultVariant: "on" }, { status: { stale: true }, meta: { resourceVersion: "2" } }),
    );
    expect(spec()).toBe(first);

    // A spec change comes with a new generation and is parsed again.
    toggles.upsert(toggle("a", { defaultVariant: "off" }, { meta: { generation: 2, resourceVersion: "3" } }));
    expect(spec()?.defaultVariant).toBe("off");
    expect(flags.specs.size).toBe(1);

    toggles.delete(toggle("a"));
    expect(flags.specs.size).toBe(0);
    toggles.upsert(toggle("b"));
    flags.flags("shop");
    toggles.replace([], "9");
    expect(flags.specs.size).toBe(0);
  });

  it("reuses the compiled document while no toggle's spec or kill decision changed", () => {
    const toggles = store([toggle("a"), toggle("guarded", { guard: { release: "web" } })]);
    const releases = store([release("web", "Healthy")]);
    const flags = watchFlagDocuments({ toggles, releases, clock: { now: () => NOW } });
    const first = flags.flags("shop");

    // A status write invalidates the namespace; the recompile reuses the document.
    toggles.upsert(toggle("a", {}, { status: { stale: true }, meta: { resourceVersion: "2" } }));
    const second = flags.flags("shop");
    expect(second).not.toBe(first);
    expect(second.compiled).toBe(first.compiled);
    expect(second.published).toBe(first.published);

    // A kill changes the decision: a new document.
    releases.upsert(release("web", "RolledBack", "shop", "2"));
    const killed = flags.flags("shop");
    expect(killed.compiled).not.toBe(first.compiled);
    expect(killed.published?.doc.flags["guarded"]?.metadata).toEqual({
      crescendoEffectiveState: "KilledByRollback",
    });

    // So does a spec change (a new generation).
    toggles.upsert(toggle("a", { defaultVariant: "on" }, { meta: { generation: 2, resourceVersion: "3" } }));
    expect(flags.flags("shop").compiled).not.toBe(killed.compiled);
    expect(flags.flags("shop").published?.doc.flags["a"]?.defaultVariant).toBe("on");
  });

  it("does not keep namespaces without toggles", () => {
    const flags = new FlagDocuments({ toggles: store(), releases: store(), clock: { now: () => NOW } });
    for (let i = 0; i < 5; i++) expect(flags.document(`random-${i}`)).toBeUndefined();
    expect((flags as unknown as { cache: Map<string, unknown> }).cache.size).toBe(0);
  });
});

describe("mapping to namespace keys", () => {
  const namespaces = store([
    namespace("a1", { "crescendo.dev/squad": "alpha" }),
    namespace("a2", { "crescendo.dev/squad": "alpha" }),
    namespace("lone"),
  ]);

  it("a toggle → its namespace and its squad's other namespaces", () => {
    expect(namespacesOfToggle(namespaces)(toggle("t", {}, { namespace: "a1" })).sort()).toEqual(["a1", "a2"]);
    expect(namespacesOfToggle(namespaces)(toggle("t", {}, { namespace: "lone" }))).toEqual(["lone"]);
  });

  it("a Squad → its namespaces; the flags ConfigMap → its namespace", () => {
    expect(namespacesOfSquad(namespaces)({ metadata: { name: "alpha" } }).sort()).toEqual(["a1", "a2"]);
    expect(namespaceOfFlagsObject({ metadata: { name: "crescendo-flags", namespace: "a1" } })).toEqual([
      "a1",
    ]);
    expect(namespaceOfFlagsObject({ metadata: { name: "other", namespace: "a1" } })).toEqual([]);
  });

  it("a Release → its namespace only when a toggle there guards it", () => {
    const guarded = new GuardedReleases();
    guarded.set(toggle("t", { guard: { release: "web" } }));
    expect(namespaceOfGuardRelease(guarded)(release("web", "Healthy"))).toEqual(["shop"]);
    expect(namespaceOfGuardRelease(guarded)(release("api", "Healthy"))).toEqual([]);
    expect(namespaceOfGuardRelease(guarded)(release("web", "Healthy", "elsewhere"))).toEqual([]);
  });

  it("keeps the guard index in step with the toggle store's events", () => {
    const toggles = store([toggle("a", { guard: { release: "web" } })]);
    const guarded = new GuardedReleases();
    for (const t of toggles.list()) guarded.set(t);
    toggles.subscribe((event) => guarded.apply(event));
    expect(guarded.isGuarded("shop/web")).toBe(true);

    // A second guard of the same Release; the first one moving away leaves it guarded.
    toggles.upsert(toggle("b", { guard: { release: "web" } }));
    toggles.upsert({
      ...toggle("a", { guard: { release: "api" } }),
      metadata: { ...toggle("a").metadata, resourceVersion: "2" },
    });
    expect(guarded.isGuarded("shop/web")).toBe(true);
    expect(guarded.isGuarded("shop/api")).toBe(true);
    toggles.delete(toggle("b"));
    expect(guarded.isGuarded("shop/web")).toBe(false);

    // An invalid spec still names its guard; a guard that is not a string names nothing.
    toggles.upsert(toggle("bad", { guard: { release: "db" }, variants: "nope" }));
    toggles.upsert(toggle("odd", { guard: { release: 7 } }));
    expect(guarded.isGuarded("shop/db")).toBe(true);
    expect(guarded.isGuarded("shop/7")).toBe(false);

    // A relist replaces the index wholesale.
    toggles.replace([toggle("c", { guard: { release: "web" } }, { namespace: "b" })], "9");
    expect(guarded.isGuarded("shop/api")).toBe(false);
    expect(guarded.isGuarded("shop/db")).toBe(false);
    expect(guarded.isGuarded("b/web")).toBe(true);
  });

  it("a Squad event matters to its toggles only when its toggle policy changed, or it came or went", () => {
    const squad = (toggles: unknown, status: unknown = {}) => ({
      metadata: { name: "shop" },
      spec: { tribe: "t", toggles },
      status,
    });
    const capped = squad({ maxActive: 3 });
    expect(
      squadPolicyChanged({
        type: "upsert",
        object: squad({ maxActive: 3 }, { releases: 4 }),
        previous: capped,
      }),
    ).toBe(false);
    expect(squadPolicyChanged({ type: "upsert", object: squad({ maxActive: 4 }), previous: capped })).toBe(
      true,
    );
    expect(squadPolicyChanged({ type: "upsert", object: squad(undefined), previous: capped })).toBe(true);
    expect(squadPolicyChanged({ type: "upsert", object: capped })).toBe(true);
    expect(squadPolicyChanged({ type: "delete", object: capped })).toBe(true);
    expect(squadPolicyChanged({ type: "resync", objects: [] })).toBe(true);
  });

  it("a toggle event matters unless it is a status write that leaves the effective state alone", () => {
    const served = toggle("a", {}, { status: { effectiveState: "Enabled" } });
    const upsert = (object: RawToggle) => toggleChanged({ type: "upsert", object, previous: served });
    expect(upsert(toggle("a", {}, { status: { effectiveState: "Enabled", stale: true } }))).toBe(false);
    expect(upsert(toggle("a", {}, { status: { effectiveState: "KilledByRollback" } }))).toBe(true);
    expect(upsert(toggle("a", {}, { status: { effectiveState: "Enabled" }, meta: { generation: 2 } }))).toBe(
      true,
    );
    expect(
      upsert(
        toggle(
          "a",
          {},
          {
            status: { effectiveState: "Enabled" },
            meta: { annotations: { "crescendo.dev/action": "rearm", "crescendo.dev/action-id": "1" } },
          },
        ),
      ),
    ).toBe(true);
    expect(
      upsert(toggle("a", {}, { status: { effectiveState: "Enabled" }, meta: { labels: { team: "x" } } })),
    ).toBe(true);
    expect(toggleChanged({ type: "upsert", object: served })).toBe(true);
    expect(toggleChanged({ type: "delete", object: served })).toBe(true);
    expect(toggleChanged({ type: "resync", objects: [] })).toBe(true);
  });

  it("a Release event matters to its toggles only when the phase moved, or it came or went", () => {
    const healthy = release("web", "Healthy", "shop", "1");
    const weighted: RawRelease = {
      ...release("web", "Healthy", "shop", "2"),
      status: { phase: "Healthy", canaryWeight: 5 },
    };
    expect(guardPhaseChanged({ type: "upsert", object: weighted, previous: healthy })).toBe(false);
    expect(
      guardPhaseChanged({ type: "upsert", object: release("web", "RolledBack"), previous: healthy }),
    ).toBe(true);
    expect(
      guardPhaseChanged({ type: "upsert", object: { metadata: { name: "web", namespace: "shop" } } }),
    ).toBe(true);
    expect(guardPhaseChanged({ type: "delete", object: healthy })).toBe(true);
    expect(guardPhaseChanged({ type: "resync", objects: [] })).toBe(true);
  });

  it("the FeatureFlag CRD → every namespace with toggles; other CRDs → nothing", () => {
    const toggles = store([toggle("x"), toggle("y", {}, { namespace: "b" }), toggle("z")]);
    expect(namespacesOnCrdChange(toggles)(establishedCrd()).sort()).toEqual(["b", "shop"]);
    expect(namespacesOnCrdChange(toggles)({ metadata: { name: "squads.crescendo.dev" } })).toEqual([]);
  });
});

describe("registerFeatureToggleController", () => {
  const running: AbortController[] = [];
  afterEach(() => {
    for (const c of running.splice(0)) c.abort();
  });

  it("reconciles a namespace on a guard Release's phase change only, not on every write of it", async () => {
    const informers = new Map<string, Store<KubeObject>>();
    const added: Controller[] = [];
    const host: ControllerHost = {
      clock: systemClock,
      logger,
      informer: <T extends KubeObject>(res: Resource) => {
        let s = informers.get(res.plural);
        if (!s) informers.set(res.plural, (s = new Store<KubeObject>()));
        return s as unknown as ReadStore<T>;
      },
      add: (c) => added.push(c),
    };
    const { client, calls } = fakeClient();
    const { controller, flags } = registerFeatureToggleController(host, {
      client,
      recorder: { record: async () => {} },
      logger,
      workers: 1,
    });
    expect(added).toEqual([controller]);
    const storeOf = (res: Resource) => informers.get(res.plural) as Store<KubeObject>;
    for (const s of informers.values()) s.replace([], "1");
    storeOf(NamespaceResource).upsert(namespace("shop"));
    storeOf(NamespaceResource).upsert(namespace("other"));
    storeOf(FeatureToggleResource).upsert(toggle("guarded", { guard: { release: "web" } }));
    const releases = storeOf(ReleaseResource);
    releases.upsert(release("web", "Progressing", "shop", "1"));
    releases.upsert(release("api", "Progressing", "other", "1"));

    const stop = new AbortController();
    const cancel = new AbortController();
    running.push(stop, cancel);
    void controller.run({ stop: stop.signal, cancel: cancel.signal });
    // The ConfigMap informer stays empty, so every reconcile of "shop" applies it: count those.
    const reconciles = () =>
      calls.filter((c) => c.verb === "apply" && c.kind === ConfigMapResource.kind && c.namespace === "shop")
        .length;
    await vi.waitFor(() => expect(reconciles()).toBeGreaterThan(0));
    await new Promise((r) => setTimeout(r, 30));
    const before = reconciles();

    // Weight steps and measurements of the guard, and any write of an unguarded Release: nothing.
    for (let rv = 2; rv < 7; rv++) {
      releases.upsert({
        ...release("web", "Progressing", "shop", `${rv}`),
        status: { phase: "Progressing", canaryWeight: rv * 10 },
      });
      releases.upsert(release("api", rv % 2 === 0 ? "Healthy" : "Progressing", "other", `${rv}`));
    }
    await new Promise((r) => setTimeout(r, 30));
    expect(reconciles()).toBe(before);

    // The rollback: one reconcile, and OFREP serves the kill at once.
    releases.upsert(release("web", "RolledBack", "shop", "7"));
    expect(flags.document("shop")?.doc.flags["guarded"]?.metadata).toEqual({
      crescendoEffectiveState: "KilledByRollback",
    });
    await vi.waitFor(() => expect(reconciles()).toBe(before + 1));
  });
});

describe("featureFlagCrdServed and squadTogglePolicy", () => {
  it("needs the CRD Established and serving v1beta1", () => {
    expect(featureFlagCrdServed(undefined)).toBe(false);
    expect(featureFlagCrdServed(establishedCrd())).toBe(true);
    expect(featureFlagCrdServed(establishedCrd(false))).toBe(false);
    expect(featureFlagCrdServed({ ...establishedCrd(), status: {} })).toBe(false);
  });

  it("reads the toggle policy even from an otherwise invalid Squad", () => {
    const squad = { metadata: { name: "s" }, spec: { members: "nonsense", toggles: { maxActive: 2 } } };
    expect(squadTogglePolicy(squad)).toEqual({ maxActive: 2 });
    expect(
      squadTogglePolicy({ metadata: { name: "s" }, spec: { toggles: { maxActive: -1 } } }),
    ).toBeUndefined();
    expect(squadTogglePolicy(undefined)).toBeUndefined();
  });
});

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
    await expect(t.reconciler.reconcile("shop")).resolves.toBeDefined();
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
    const t = setup({ toggles: [toggle("a"), toggle("gone")] }, { statusGone: "gone" });
    await expect(t.reconciler.reconcile("shop")).resolves.toBeDefined();
    expect(t.statusOf("a")).toBeDefined();
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
