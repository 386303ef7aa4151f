import { describe, expect, it } from "vitest";
import type { RawRelease, RawToggle } from "./plan.js";
import { establishedCrd, namespace, release, store, toggle } from "./test-fixtures.js";
import {
  featureFlagCrdServed,
  GUARD_RELEASE_INDEX,
  guardPhaseChanged,
  guardReleaseIndex,
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

  it("a toggle is indexed under its guard Release's key, read leniently from the raw spec", () => {
    expect(guardReleaseIndex(toggle("t", { guard: { release: "web" } }))).toEqual(["shop/web"]);
    expect(guardReleaseIndex(toggle("t", { guard: { release: "web" } }, { namespace: "b" }))).toEqual([
      "b/web",
    ]);
    // An invalid spec still names its guard; a guard that is not a string names nothing.
    expect(guardReleaseIndex(toggle("bad", { guard: { release: "db" }, variants: "nope" }))).toEqual([
      "shop/db",
    ]);
    expect(guardReleaseIndex(toggle("odd", { guard: { release: 7 } }))).toEqual([]);
    expect(guardReleaseIndex(toggle("t"))).toEqual([]);
    expect(guardReleaseIndex({ metadata: { name: "t", namespace: "shop" }, spec: "nonsense" })).toEqual([]);
  });

  it("a Release → its namespace only when a toggle there guards it", () => {
    const toggles = store([toggle("t", { guard: { release: "web" } })]);
    toggles.addIndex(GUARD_RELEASE_INDEX, guardReleaseIndex);
    const map = namespaceOfGuardRelease(toggles);
    expect(map(release("web", "Healthy"))).toEqual(["shop"]);
    expect(map(release("api", "Healthy"))).toEqual([]);
    expect(map(release("web", "Healthy", "elsewhere"))).toEqual([]);
  });

  it("keeps the guard index in step with the toggle store's writes", () => {
    const toggles = store([toggle("a", { guard: { release: "web" } })]);
    toggles.addIndex(GUARD_RELEASE_INDEX, guardReleaseIndex);
    const isGuarded = (key: string) => toggles.byIndex(GUARD_RELEASE_INDEX, key).length > 0;
    expect(isGuarded("shop/web")).toBe(true);

    // A second guard of the same Release; the first one moving away leaves it guarded.
    toggles.upsert(toggle("b", { guard: { release: "web" } }));
    toggles.upsert({
      ...toggle("a", { guard: { release: "api" } }),
      metadata: { ...toggle("a").metadata, resourceVersion: "2" },
    });
    expect(isGuarded("shop/web")).toBe(true);
    expect(isGuarded("shop/api")).toBe(true);
    toggles.delete(toggle("b"));
    expect(isGuarded("shop/web")).toBe(false);

    // An invalid spec still names its guard; a guard that is not a string names nothing.
    toggles.upsert(toggle("bad", { guard: { release: "db" }, variants: "nope" }));
    toggles.upsert(toggle("odd", { guard: { release: 7 } }));
    expect(isGuarded("shop/db")).toBe(true);
    expect(isGuarded("shop/7")).toBe(false);

    // A relist replaces the index wholesale.
    toggles.replace([toggle("c", { guard: { release: "web" } }, { namespace: "b" })], "9");
    expect(isGuarded("shop/api")).toBe(false);
    expect(isGuarded("shop/db")).toBe(false);
    expect(isGuarded("b/web")).toBe(true);
  });

  it("the index is current when a subscriber hears of the toggle's write", () => {
    const toggles = store<RawToggle>([]);
    toggles.addIndex(GUARD_RELEASE_INDEX, guardReleaseIndex);
    const map = namespaceOfGuardRelease(toggles);
    const seen: string[][] = [];
    toggles.subscribe(() => seen.push(map(release("web", "Healthy"))));
    toggles.upsert(toggle("t", { guard: { release: "web" } }));
    toggles.delete(toggle("t", { guard: { release: "web" } }));
    expect(seen).toEqual([["shop"], []]);
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
