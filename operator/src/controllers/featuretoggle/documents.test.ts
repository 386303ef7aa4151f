import { describe, expect, it } from "vitest";
import { parseStrict } from "../../flags/validate.js";
import { featureToggleSpec } from "../../api/featuretoggle.js";
import { compileNamespace, FlagDocuments, watchFlagDocuments } from "./documents.js";
import { rampId } from "./ramp-share.js";
import { NOW, release, store, toggle } from "./test-fixtures.js";

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

  it("serves a guarded ramp's share from its status, and recompiles when the share moves", () => {
    const spec = { rollout: { variant: "on", steps: [{ setWeight: 5 }, { pause: {} }, { setWeight: 50 }] } };
    const notStarted = compileNamespace("shop", [toggle("ramp", spec)], () => undefined, NOW);
    expect(notStarted.compiled.document.flags["ramp"]?.targeting).toEqual({
      fractional: [
        ["on", 0],
        ["off", 100],
      ],
    });
    const id = rampId(featureToggleSpec.parse(toggle("ramp", spec).spec));
    const rollout = {
      id: id ?? "",
      variant: "on",
      phase: "Paused" as const,
      percentage: 5,
      currentStepIndex: 1,
      startedAt: "2024-01-01T00:00:00Z",
    };
    const atFive = compileNamespace(
      "shop",
      [toggle("ramp", spec, { status: { rollout } })],
      () => undefined,
      NOW,
      undefined,
      notStarted,
    );
    expect(atFive.compiled.document.flags["ramp"]?.targeting).toEqual({
      fractional: [
        ["on", 5],
        ["off", 95],
      ],
    });
    expect(atFive.fingerprint).not.toBe(notStarted.fingerprint);
    const rolledBack = { ...rollout, phase: "RolledBack" as const, percentage: 0 };
    const back = compileNamespace(
      "shop",
      [toggle("ramp", spec, { status: { rollout: rolledBack } })],
      () => undefined,
      NOW,
    );
    expect(back.entries[0]?.share).toBe(0);
    expect(() => parseStrict(JSON.stringify(atFive.compiled.document))).not.toThrow();
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
