/**
 * Properties of the compiler over random valid FeatureToggles: every document passes flagd-core's
 * strict parse, and flagd-core's answers agree with a small reference model of the rule sugar.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  featureToggleSpec,
  RULE_OPERATORS,
  type FeatureToggleSpec,
  type ToggleRule,
} from "../api/featuretoggle.js";
import type { FeatureToggle } from "../api/kinds.js";
import { compileDocument, toggleKey } from "./compile.js";
import { serializeDocument } from "./document.js";
import { createNamespaceEvaluator, isSuccess, type Evaluation } from "./evaluate.js";
import { normalizeSemver } from "./targeting.js";
import { parseStrict } from "./validate.js";

/** Variant names and keys. "__proto__" is excluded only because zod's record parsing drops it. */
const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/).filter((n) => n !== "__proto__");
const objectName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const ATTRIBUTES = ["email", "country", "user.tier", "appVersion", "targetingKey"] as const;
const WORDS = ["", "a", "b", "ab", "ba", "abc", "x@acme.com", "de", "ünï", '"q"', "$ref"];
const word = fc.oneof(fc.constantFrom(...WORDS), fc.string({ maxLength: 6 }));
const version = fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)).map(([a, b, c]) => `${a}.${b}.${c}`);
/** Versions as people write them in a rule: strict, `v`-prefixed or partial. */
const ruleVersion = fc.oneof(
  version,
  version.map((v) => `v${v}`),
  fc.tuple(fc.nat(3), fc.nat(3)).map(([a, b]) => `${a}.${b}`),
);

const scalar = (kind: "boolean" | "string" | "number" | "object"): fc.Arbitrary<unknown> => {
  switch (kind) {
    case "boolean":
      return fc.boolean();
    case "string":
      return fc.string({ maxLength: 8 });
    case "number":
      return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    case "object":
      return fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.boolean(), fc.integer(), fc.string()), {
        maxKeys: 3,
      });
  }
};

const RAW_TARGETING = [
  { if: [{ "==": [{ var: "tier" }, "gold"] }, "$0", null] },
  { fractional: [{ cat: [{ var: "$flagd.flagKey" }, { var: "email" }] }, ["$0", 50], ["$0", 50]] },
  { if: [{ sem_ver: [{ var: "appVersion" }, "^", "1.0.0"] }, "$0"] },
];

const ruleFor = (variants: string[]): fc.Arbitrary<ToggleRule> =>
  fc.constantFrom(...RULE_OPERATORS).chain((operator) =>
    fc.record({
      attribute: fc.constantFrom(...ATTRIBUTES),
      operator: fc.constant(operator),
      values: operator.startsWith("semver")
        ? fc.array(ruleVersion, { minLength: 1, maxLength: 2 })
        : fc.array(word, { minLength: 1, maxLength: 4 }),
      variant: fc.constantFrom(...variants),
    }),
  );

const spec: fc.Arbitrary<FeatureToggleSpec> = fc
  .record({
    kind: fc.constantFrom("boolean", "string", "number", "object" as const),
    names: fc.uniqueArray(name, { minLength: 1, maxLength: 4 }),
  })
  .chain(({ kind, names }) =>
    fc
      .record({
        values: fc.array(scalar(kind), { minLength: names.length, maxLength: names.length }),
        defaultVariant: fc.constantFrom(...names),
        state: fc.constantFrom("Enabled", "Disabled"),
        key: fc.option(name, { nil: undefined }),
        shape: fc.constantFrom("none", "rules", "rollout", "both", "raw"),
        rules: fc.array(ruleFor(names), { minLength: 1, maxLength: 5 }),
        rollout: fc.record({
          variant: fc.constantFrom(...names),
          percentage: fc.integer({ min: 0, max: 100 }),
        }),
        raw: fc.constantFrom(...RAW_TARGETING),
      })
      .map(({ values, defaultVariant, state, key, shape, rules, rollout, raw }) =>
        featureToggleSpec.parse({
          variants: Object.fromEntries(names.map((n, i) => [n, values[i]])),
          defaultVariant,
          state,
          ...(key === undefined ? {} : { key }),
          ...(shape === "rules" || shape === "both" ? { rules } : {}),
          ...(shape === "rollout" || shape === "both" ? { rollout } : {}),
          ...(shape === "raw"
            ? { targeting: JSON.parse(JSON.stringify(raw).replaceAll("$0", defaultVariant)) }
            : {}),
        }),
      ),
  );

const toggles = fc
  .uniqueArray(
    fc.record({
      name: objectName,
      spec,
      killed: fc.boolean(),
      day: fc.integer({ min: 1, max: 28 }),
    }),
    { selector: (t) => t.name, maxLength: 6 },
  )
  .map((list) =>
    list.map(({ name: n, spec: s, killed, day }) => ({
      killed,
      toggle: {
        metadata: {
          name: n,
          namespace: "ns",
          creationTimestamp: `2024-01-${String(day).padStart(2, "0")}T00:00:00Z`,
        },
        spec: s,
      } as FeatureToggle,
    })),
  );

const context = fc.record(
  {
    targetingKey: fc.oneof(fc.constantFrom(...WORDS), fc.uuid()),
    email: word,
    country: word,
    user: fc.record({ tier: word }, { requiredKeys: [] }),
    appVersion: fc.oneof(version, fc.constant("not-a-version")),
  },
  { requiredKeys: [] },
);

/** Reference semantics of the rule sugar, written independently of the compiler. */
function lookup(ctx: Record<string, unknown>, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>(
      (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
      ctx,
    );
}
function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) < (pb[i] ?? 0) ? -1 : 1;
  return 0;
}
/**
 * A context version as flagd-core reads it (its `normalizeVersion`): a leading "v" dropped, then
 * a strict x.y.z (node-semver trims blanks around it and takes a further "v"), or a bare "1" or
 * "1.2" (not trimmed: " 1" is no version). Not the compiler's `normalizeSemver`, which reads rule
 * values and trims them all.
 */
function contextVersion(text: string): string | undefined {
  const str = text.replace(/^[vV]/, "");
  const strict = /^v?((?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*))$/.exec(str.trim());
  if (strict) return strict[1];
  const partial = /^(\d+)(?:\.(\d+))?$/.exec(str);
  return partial ? `${Number(partial[1])}.${Number(partial[2] ?? 0)}.0` : undefined;
}
function ruleMatches(rule: ToggleRule, ctx: Record<string, unknown>): boolean {
  const v = lookup(ctx, rule.attribute);
  switch (rule.operator) {
    case "in":
      return rule.values.includes(v as string);
    case "notIn":
      return !rule.values.includes(v as string);
    case "startsWith":
      return typeof v === "string" && rule.values.some((x) => v.startsWith(x));
    case "endsWith":
      return typeof v === "string" && rule.values.some((x) => v.endsWith(x));
    default: {
      const version = typeof v === "string" ? contextVersion(v) : undefined;
      if (version === undefined) return false;
      const ok = {
        semverGte: (c: number) => c >= 0,
        semverGt: (c: number) => c > 0,
        semverLt: (c: number) => c < 0,
        semverLte: (c: number) => c <= 0,
        semverEq: (c: number) => c === 0,
      }[rule.operator];
      return rule.values.some((x) => ok(compareVersions(version, normalizeSemver(x) as string)));
    }
  }
}

describe("compileDocument over random valid toggles", () => {
  it("always produces a document flagd-core parses strictly, with every toggle accounted for", () => {
    fc.assert(
      fc.property(toggles, (entries) => {
        const { document, conflicts, invalid } = compileDocument("ns", entries);
        expect(() => parseStrict(serializeDocument(document))).not.toThrow();
        expect(invalid).toEqual([]);
        expect(Object.keys(document.flags).length + conflicts.length).toBe(entries.length);
        for (const c of conflicts) expect(document.flags[c.key]).toBeDefined();
      }),
      { numRuns: 150 },
    );
  });

  it("serves what the reference model of the sugar says", () => {
    fc.assert(
      fc.property(toggles, fc.array(context, { minLength: 1, maxLength: 5 }), (entries, contexts) => {
        const { document, conflicts } = compileDocument("ns", entries);
        const evaluator = createNamespaceEvaluator(document);
        const losers = new Set(conflicts.map((c) => c.toggle));
        for (const { toggle, killed } of entries) {
          if (losers.has(toggle.metadata.name ?? "")) continue;
          const s = toggle.spec;
          for (const ctx of contexts) {
            const got = evaluator.evaluate(toggleKey(toggle), ctx as never);
            if (!isSuccess(got)) throw new Error(`unexpected error ${JSON.stringify(got)}`);
            expect(got.metadata["flagSetId"]).toBe("ns");
            if (killed || s.state === "Disabled") {
              expect(got).toMatchObject({ variant: s.defaultVariant, reason: "STATIC" });
              continue;
            }
            if (s.targeting) continue; // raw JsonLogic has no reference model here
            const matched = (s.rules ?? []).find((r) => ruleMatches(r, ctx));
            if (matched) {
              expect(got).toMatchObject({ variant: matched.variant, reason: "TARGETING_MATCH" });
            } else if (!s.rollout) {
              expect(got).toMatchObject({
                variant: s.defaultVariant,
                reason: (s.rules ?? []).length ? "DEFAULT" : "STATIC",
              });
            } else if (!ctx.targetingKey) {
              expect(got).toMatchObject({ variant: s.defaultVariant, reason: "DEFAULT" });
            } else {
              const { variant, percentage } = s.rollout;
              const expected =
                percentage === 100
                  ? [variant]
                  : percentage === 0
                    ? [s.defaultVariant]
                    : [variant, s.defaultVariant];
              expect(expected).toContain(got.variant);
              expect(got.reason).toBe("TARGETING_MATCH");
            }
            // Variants reach flagd as JSON (the toggle's spec, the flags ConfigMap), where -0 is 0.
            const served = s.variants[got.variant ?? ""];
            expect(got.value).toEqual(served === undefined ? undefined : JSON.parse(JSON.stringify(served)));
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("rollout bucketing", () => {
  const rolloutToggle = (key: string, percentage: number): FeatureToggle => ({
    metadata: { name: key, creationTimestamp: "2024-01-01T00:00:00Z" },
    spec: featureToggleSpec.parse({
      variants: { on: true, off: false },
      defaultVariant: "off",
      rollout: { variant: "on", percentage },
    }),
  });
  const isOn = (e: Evaluation) => isSuccess(e) && e.variant === "on";
  const users = Array.from({ length: 4000 }, (_, i) => `user-${i}`);
  const onFor = (key: string, percentage: number) => {
    const { document } = compileDocument("ns", [{ toggle: rolloutToggle(key, percentage), killed: false }]);
    const evaluator = createNamespaceEvaluator(document);
    return new Set(users.filter((u) => isOn(evaluator.evaluate(key, { targetingKey: u }))));
  };

  it("gives about the requested share of targeting keys the variant", () => {
    for (const p of [1, 10, 50, 90]) {
      const share = onFor("checkout", p).size / users.length;
      expect(Math.abs(share - p / 100)).toBeLessThan(0.03);
    }
  });
  it("is sticky as the percentage grows: users already in stay in", () => {
    const at10 = onFor("checkout", 10);
    const at30 = onFor("checkout", 30);
    for (const u of at10) expect(at30.has(u)).toBe(true);
  });
  it("buckets per flag key: two flags split users independently", () => {
    const a = onFor("flag-a", 50);
    const b = onFor("flag-b", 50);
    const both = [...a].filter((u) => b.has(u)).length / users.length;
    expect(Math.abs(both - 0.25)).toBeLessThan(0.04);
  });
});
