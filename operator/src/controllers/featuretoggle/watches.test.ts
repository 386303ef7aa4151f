import { describe, expect, it } from "vitest";
import type { RawRelease, RawToggle } from "./plan.js";
import { establishedCrd, namespace, release, store, toggle } from "./test-fixtures.js";
import {
  featureFlagCrdServed,
  GuardedReleases,
  guardPhaseChanged,
  namespaceOfFlagsObject,
  namespaceOfGuardRelease,
  namespacesOfSquad,
  namespacesOfToggle,
  namespacesOnCrdChange,
  squadPolicyChanged,
  toggleChanged,
} from "./watches.js";

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

describe("featureFlagCrdServed", () => {
  it("needs the CRD Established and serving v1beta1", () => {
    expect(featureFlagCrdServed(undefined)).toBe(false);
    expect(featureFlagCrdServed(establishedCrd())).toBe(true);
    expect(featureFlagCrdServed(establishedCrd(false))).toBe(false);
    expect(featureFlagCrdServed({ ...establishedCrd(), status: {} })).toBe(false);
  });
});
