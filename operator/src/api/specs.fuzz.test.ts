/**
 * Fuzzing the spec parsers with mostly invalid specs (valid examples with fields replaced by
 * junk, removed or added) and with arbitrary values: each answers with a typed spec or with
 * issues the controllers turn into a message naming the field, and never throws.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { z } from "zod";
import { zodMessage } from "./zod-message.js";
import { junk, mutatedFrom } from "./fuzz/test-fixtures.js";
import { analysisInterval } from "./analysis.js";
import { parseDuration } from "./common.js";
import { featureToggleSpec } from "./featuretoggle.js";
import { releaseSpec } from "./release.js";
import { squadSpec } from "./squad.js";

const RUNS = 400;

function examples(file: string): Record<string, unknown>[] {
  const text = readFileSync(join(import.meta.dirname, "../../../examples", file), "utf8");
  return parseAllDocuments(text)
    .map((d) => d.toJS() as { spec?: Record<string, unknown> } | null)
    .flatMap((o) => (o?.spec ? [o.spec] : []));
}

const release = examples("release.yaml");
const KINDS: [string, z.ZodType, unknown[]][] = [
  ["Squad", squadSpec, [...examples("squad.yaml"), {}]],
  [
    "Release",
    releaseSpec,
    [
      ...release,
      {
        version: "2",
        replicas: 2,
        template: { spec: { containers: [{ name: "a", image: "a:2" }] } },
        strategy: { blueGreen: { autoPromotionSeconds: 30, previewReplicas: 1 } },
        analysis: { metrics: [{ name: "m", prometheus: { query: "up" }, thresholdRange: { min: 1 } }] },
        progressDeadlineSeconds: 60,
        paused: true,
      },
    ],
  ],
  ["FeatureToggle", featureToggleSpec, examples("featuretoggle.yaml")],
];

function checkAnswer(schema: z.ZodType, raw: unknown): void {
  const parsed = schema.safeParse(raw);
  if (parsed.success) {
    // The typed spec the controllers plan from parses again to itself: defaults are stable.
    const again = schema.safeParse(parsed.data);
    expect(again.success).toBe(true);
    expect(again.data).toEqual(parsed.data);
    return;
  }
  expect(parsed.error.issues.length).toBeGreaterThan(0);
  for (const issue of parsed.error.issues) expect(issue.message.trim()).not.toBe("");
  const message = zodMessage(parsed.error);
  expect(message.startsWith("spec")).toBe(true);
}

describe.each(KINDS)("%s spec parser", (_kind, schema, bases) => {
  it("has valid bases to mutate from", () => {
    for (const base of bases) expect(schema.safeParse(base).success).toBe(true);
  });

  it("answers a mutated spec with a typed spec or named issues, never a throw", () => {
    fc.assert(
      fc.property(mutatedFrom(bases, 4), (raw) => checkAnswer(schema, raw)),
      { numRuns: RUNS },
    );
  }, 60_000);

  it("answers any value at all without throwing", () => {
    fc.assert(
      fc.property(fc.oneof(junk, fc.anything()), (raw) => checkAnswer(schema, raw)),
      { numRuns: RUNS },
    );
  }, 60_000);
});

describe("durations", () => {
  it("an analysis interval that parses is a finite 1s..1h, whatever the text", () => {
    fc.assert(
      fc.property(
        fc.oneof(junk, fc.stringMatching(/^([0-9]{1,12}(\.[0-9]{1,6})?(ms|s|m|h)){1,4}$/)),
        (text) => {
          const parsed = analysisInterval.safeParse(text);
          if (!parsed.success) return;
          const ms = parseDuration(parsed.data);
          expect(Number.isFinite(ms)).toBe(true);
          expect(ms).toBeGreaterThanOrEqual(1000);
          expect(ms).toBeLessThanOrEqual(3_600_000);
        },
      ),
      { numRuns: RUNS },
    );
  }, 60_000);
});
