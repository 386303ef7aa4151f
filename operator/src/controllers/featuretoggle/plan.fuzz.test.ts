/**
 * Fuzzing the FeatureToggle decisions with mutated specs and arbitrary observed states (guard
 * Releases in any phase and history, squad policies, actions, clocks, raw targeting of any
 * shape): the document always parses in flagd-core, every toggle is served or reported, the
 * status is one the CRD accepts, and nothing throws.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { featureToggleSpec, featureToggleStatus, type FeatureToggleSpec } from "../../api/featuretoggle.js";
import { junk, mutatedFrom } from "../../api/fuzz/test-fixtures.js";
import type { FeatureToggle } from "../../api/kinds.js";
import { RELEASE_PHASES } from "../../api/release.js";
import { zodMessage } from "../../api/zod-message.js";
import { compileDocument } from "../../flags/compile.js";
import { serializeDocument } from "../../flags/document.js";
import { parseStrict } from "../../flags/validate.js";
import { planToggleStatus } from "./plan.js";

const examples = parseAllDocuments(
  readFileSync(join(import.meta.dirname, "../../../../examples/featuretoggle.yaml"), "utf8"),
).flatMap((d) => {
  const o = d.toJS() as { spec?: Record<string, unknown> } | null;
  return o?.spec ? [o.spec] : [];
});
const BASES: Record<string, unknown>[] = [
  ...examples,
  {
    variants: { a: "red", b: "blue" },
    defaultVariant: "a",
    targeting: { if: [{ in: [{ var: "email" }, ["x@example.com"]] }, "b", "a"] },
    guard: { release: "web" },
  },
];
const T0 = Date.parse("2030-01-01T00:00:00Z");
const time = fc.integer({ min: T0 - 90 * 86_400_000, max: T0 }).map((ms) => new Date(ms).toISOString());

const parsedSpec = mutatedFrom(BASES, 3)
  .map((raw) => featureToggleSpec.safeParse(raw))
  .filter((r) => r.success)
  .map((r) => r.data as FeatureToggleSpec);

/** Raw targeting of any shape: JsonLogic is written by hand. */
const targeting = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom<unknown>(
    { if: [true, "ghost", "off"] },
    {
      fractional: [
        ["on", 50],
        ["ghost", 50],
      ],
    },
    { in: ["a", ["a"]] },
    { var: "variant" },
    { no_such_operator: [] },
  ),
);

const toggle = fc
  .record({
    name: fc.constantFrom("a", "b", "c"),
    spec: parsedSpec,
    raw: fc.option(targeting, { nil: undefined }),
    created: time,
    killedAt: fc.option(time, { nil: undefined }),
    generation: fc.integer({ min: 1, max: 5 }),
  })
  .map(({ name, spec, raw, created, killedAt, generation }): FeatureToggle => {
    const withRaw =
      raw !== undefined && raw !== null && typeof raw === "object" && !Array.isArray(raw)
        ? { ...spec, rules: undefined, rollout: undefined, targeting: raw as Record<string, unknown> }
        : spec;
    return {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "FeatureToggle",
      metadata: { name, namespace: "shop", uid: `uid-${name}`, creationTimestamp: created, generation },
      spec: withRaw,
      ...(killedAt ? { status: { killedAt, effectiveState: "KilledByRollback" as const } } : {}),
    };
  });

const guard = fc.option(
  fc.record(
    {
      name: fc.constant("web"),
      phase: fc.constantFrom(...RELEASE_PHASES),
      stableRevision: fc.constantFrom("r1", "r2"),
      canaryRevision: fc.constantFrom("r2", "r3"),
      history: fc.array(
        fc.record({
          revision: fc.constantFrom("r1", "r2", "r3"),
          version: fc.constant("1"),
          startedAt: time,
          outcome: fc.constantFrom("Promoted" as const, "RolledBack" as const, "Superseded" as const),
        }),
        { maxLength: 3 },
      ),
    },
    { requiredKeys: ["name"] },
  ),
  { nil: undefined },
);

describe("FeatureToggle decisions under arbitrary specs and observed states", () => {
  it("a spec that does not parse is reported by field, never thrown", () => {
    fc.assert(
      fc.property(fc.oneof(mutatedFrom(BASES, 4), junk), (raw) => {
        const parsed = featureToggleSpec.safeParse(raw);
        if (!parsed.success) expect(zodMessage(parsed.error)).toMatch(/^spec/);
      }),
      { numRuns: 400 },
    );
  }, 60_000);

  it("compiles a document flagd accepts and a status the CRD accepts, whatever the toggles", () => {
    fc.assert(
      fc.property(
        fc.array(toggle, { minLength: 1, maxLength: 3 }),
        guard,
        fc.option(fc.record({ maxActive: fc.integer({ min: 0, max: 3 }) }), { nil: undefined }),
        fc.option(
          fc.record({ action: fc.constantFrom("rearm", "promote", ""), id: fc.constantFrom("1", "2") }),
          {
            nil: undefined,
          },
        ),
        fc.integer({ min: T0, max: T0 + 400 * 86_400_000 }),
        (toggles, guardRelease, squadToggles, action, now) => {
          const compiled = compileDocument(
            "shop",
            toggles.map((t) => ({ toggle: t, killed: false })),
          );
          expect(() => parseStrict(serializeDocument(compiled.document))).not.toThrow();
          for (const t of toggles) {
            const name = t.metadata.name ?? "";
            const conflict = compiled.conflicts.find((c) => c.toggle === name);
            const invalid = compiled.invalid.find((i) => i.toggle === name);
            const plan = planToggleStatus({
              toggle: t,
              ...(guardRelease ? { guardRelease } : {}),
              ...(squadToggles ? { squadToggles } : {}),
              activeRank: 0,
              now,
              ...(action ? { action } : {}),
              ...(conflict ? { conflict } : {}),
              ...(invalid ? { invalid } : {}),
            });
            expect(featureToggleStatus.safeParse(plan.status).success).toBe(true);
            if (plan.requeueAfterMs !== undefined) {
              expect(Number.isFinite(plan.requeueAfterMs) && plan.requeueAfterMs >= 0).toBe(true);
            }
            // A toggle flagd would refuse is never reported Ready.
            const ready = plan.status.conditions?.find((c) => c.type === "Ready");
            if (invalid || conflict) expect(ready?.status).toBe("False");
          }
        },
      ),
      { numRuns: 300 },
    );
  }, 60_000);
});
