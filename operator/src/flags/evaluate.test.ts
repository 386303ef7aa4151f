import { describe, expect, it } from "vitest";
import { FLAGD_SCHEMA, documentEtag, type FlagdDocument } from "./document.js";
import { createNamespaceEvaluator, EvaluatorCache, isSuccess } from "./evaluate.js";

const doc = (flags: FlagdDocument["flags"], flagSetId = "team-a"): FlagdDocument => ({
  $schema: FLAGD_SCHEMA,
  metadata: { flagSetId },
  flags,
});

const flags: FlagdDocument["flags"] = {
  banner: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off" },
  color: {
    state: "ENABLED",
    variants: { red: "#f00", blue: "#00f" },
    defaultVariant: "red",
    targeting: { if: [{ in: [{ var: "country" }, ["de"]] }, "blue"] },
    metadata: { owner: "web" },
  },
  killed: {
    state: "ENABLED",
    variants: { on: 1, off: 0 },
    defaultVariant: "off",
    metadata: { crescendoEffectiveState: "KilledByRollback" },
  },
  legacy: { state: "DISABLED", variants: { a: "A" }, defaultVariant: "a" },
  broken: {
    state: "ENABLED",
    variants: { a: "A" },
    defaultVariant: "a",
    targeting: { if: [true, "missing"] },
  },
  unparsable: { state: "ENABLED", variants: { a: "A" }, defaultVariant: "a", targeting: { nope: [1] } },
};

describe("createNamespaceEvaluator", () => {
  const evaluator = createNamespaceEvaluator(doc(flags));

  it("static flag: default variant, reason STATIC, flag set metadata merged in", () => {
    expect(evaluator.evaluate("banner", {})).toEqual({
      key: "banner",
      value: false,
      variant: "off",
      reason: "STATIC",
      metadata: { flagSetId: "team-a" },
    });
  });
  it("targeting: TARGETING_MATCH when a rule matches, DEFAULT otherwise; flag metadata wins", () => {
    expect(evaluator.evaluate("color", { country: "de" })).toMatchObject({
      value: "#00f",
      variant: "blue",
      reason: "TARGETING_MATCH",
      metadata: { flagSetId: "team-a", owner: "web" },
    });
    expect(evaluator.evaluate("color", { country: "fr" })).toMatchObject({
      value: "#f00",
      reason: "DEFAULT",
    });
  });
  it("carries Crescendo's effective-state metadata", () => {
    expect(evaluator.evaluate("killed", {}).metadata).toEqual({
      flagSetId: "team-a",
      crescendoEffectiveState: "KilledByRollback",
    });
  });
  it("unknown flag: FLAG_NOT_FOUND with the flag set's metadata", () => {
    expect(evaluator.evaluate("nope", {})).toEqual({
      key: "nope",
      reason: "ERROR",
      errorCode: "FLAG_NOT_FOUND",
      errorMessage: "flag 'nope' not found",
      metadata: { flagSetId: "team-a" },
    });
  });
  it("a DISABLED flag from a foreign document serves its default with reason DISABLED", () => {
    expect(evaluator.evaluate("legacy", {})).toMatchObject({ value: "A", variant: "a", reason: "DISABLED" });
  });
  it("targeting that names a missing variant: GENERAL", () => {
    expect(evaluator.evaluate("broken", {})).toMatchObject({ reason: "ERROR", errorCode: "GENERAL" });
  });
  it("targeting that does not compile: PARSE_ERROR", () => {
    expect(evaluator.evaluate("unparsable", {})).toMatchObject({ reason: "ERROR", errorCode: "PARSE_ERROR" });
  });
  it("evaluateAll lists every flag, sorted, errors included", () => {
    const all = evaluator.evaluateAll({ country: "de" });
    expect(all.map((e) => e.key)).toEqual(["banner", "broken", "color", "killed", "legacy", "unparsable"]);
    expect(all.filter(isSuccess).map((e) => e.key)).toEqual(["banner", "color", "killed", "legacy"]);
    expect(evaluator.keys()).toEqual(all.map((e) => e.key));
  });
  it("exposes the document's content hash unless told otherwise", () => {
    expect(evaluator.etag).toBe(documentEtag(doc(flags)));
    expect(createNamespaceEvaluator(doc({}), { etag: "given" }).etag).toBe("given");
  });
  it("a $flagd property in the context cannot override the flag key used for bucketing", () => {
    const split = createNamespaceEvaluator(
      doc({
        f: {
          state: "ENABLED",
          variants: { a: "A", b: "B" },
          defaultVariant: "a",
          targeting: { if: [{ "==": [{ var: "$flagd.flagKey" }, "f"] }, "b"] },
        },
      }),
    );
    expect(split.evaluate("f", { $flagd: { flagKey: "other" } })).toMatchObject({ variant: "b" });
  });
  it("a semver rule without a version in the context: no match, and Error.stackTraceLimit is restored", () => {
    const versioned = createNamespaceEvaluator(
      doc({
        v: {
          state: "ENABLED",
          variants: { on: true, off: false },
          defaultVariant: "off",
          targeting: { if: [{ sem_ver: [{ var: "appVersion" }, ">=", "2.4.0"] }, "on"] },
        },
      }),
    );
    const before = Error.stackTraceLimit;
    expect(versioned.evaluate("v", {})).toMatchObject({ variant: "off", reason: "DEFAULT" });
    expect(versioned.evaluate("v", { appVersion: "nonsense" })).toMatchObject({ variant: "off" });
    expect(versioned.evaluate("v", { appVersion: "v2.5" })).toMatchObject({ variant: "on" });
    expect(versioned.evaluateAll({ appVersion: "2.3.9" })).toMatchObject([{ key: "v", variant: "off" }]);
    expect(Error.stackTraceLimit).toBe(before);
    // Also when an evaluation fails: the error's message is kept, the limit restored.
    expect(evaluator.evaluate("unparsable", {})).toMatchObject({ reason: "ERROR" });
    expect(evaluator.evaluateAll({}).length).toBe(Object.keys(flags).length);
    expect(Error.stackTraceLimit).toBe(before);
  });
  it("throws on a structurally broken document", () => {
    expect(() =>
      createNamespaceEvaluator(doc({ f: { state: "ENABLED", variants: { a: 1 }, defaultVariant: "zzz" } })),
    ).toThrow();
  });
});

describe("EvaluatorCache", () => {
  it("builds once per ETag and rebuilds when the document changes", () => {
    const cache = new EvaluatorCache();
    const one = doc({ f: { state: "ENABLED", variants: { a: 1 }, defaultVariant: "a" } });
    const two = doc({ f: { state: "ENABLED", variants: { a: 2 }, defaultVariant: "a" } });
    const first = cache.get("ns", { doc: one, etag: documentEtag(one) });
    expect(cache.get("ns", { doc: one, etag: documentEtag(one) })).toBe(first);
    const second = cache.get("ns", { doc: two, etag: documentEtag(two) });
    expect(second).not.toBe(first);
    expect(second.evaluate("f", {})).toMatchObject({ value: 2 });
    expect(cache.size).toBe(1);
  });
  it("keeps namespaces apart and forgets deleted ones", () => {
    const cache = new EvaluatorCache();
    const a = doc({ f: { state: "ENABLED", variants: { a: "A" }, defaultVariant: "a" } }, "a");
    const b = doc({ f: { state: "ENABLED", variants: { b: "B" }, defaultVariant: "b" } }, "b");
    expect(cache.get("a", { doc: a, etag: "1" }).evaluate("f", {})).toMatchObject({ value: "A" });
    expect(cache.get("b", { doc: b, etag: "1" }).evaluate("f", {})).toMatchObject({ value: "B" });
    expect(cache.size).toBe(2);
    cache.delete("a");
    expect(cache.size).toBe(1);
  });
});
