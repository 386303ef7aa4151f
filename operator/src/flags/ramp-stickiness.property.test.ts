/**
 * A guarded ramp raises the variant's share step by step; flagd's `fractional` must keep every
 * user who already has the variant (a user in at 5% is still in at 25%), or users would flip
 * between variants as the ramp moves, and the analysis would judge a shifting population.
 * Checked with the real flagd-core evaluator over 10,000 targeting keys.
 */
import { describe, expect, it } from "vitest";
import { featureToggleSpec } from "../api/featuretoggle.js";
import type { FeatureToggle } from "../api/kinds.js";
import { compileDocument } from "./compile.js";
import { createNamespaceEvaluator, isSuccess } from "./evaluate.js";

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}-${(i * 2654435761) % 4294967296}`);
const SHARES = [0, 1, 5, 25, 50, 100];

function rampToggle(key: string): FeatureToggle {
  const spec = featureToggleSpec.parse({
    key,
    variants: { on: true, off: false },
    defaultVariant: "off",
    rollout: { variant: "on", steps: [{ setWeight: 1 }, { setWeight: 100 }] },
  });
  return { metadata: { name: key, namespace: "ns", creationTimestamp: "2026-01-01T00:00:00Z" }, spec };
}

/** The keys served "on" at `share`, evaluated by flagd-core from the compiled document. */
function servedOn(flagKey: string, share: number): Set<string> {
  const { document } = compileDocument("ns", [{ toggle: rampToggle(flagKey), killed: false, share }]);
  const evaluator = createNamespaceEvaluator(document);
  const on = new Set<string>();
  for (const targetingKey of KEYS) {
    const e = evaluator.evaluate(flagKey, { targetingKey });
    if (!isSuccess(e)) throw new Error(`evaluation failed: ${e.errorMessage}`);
    if (e.variant === "on") on.add(targetingKey);
  }
  return on;
}

describe("fractional stickiness as a ramp's share grows", () => {
  for (const flagKey of ["new-checkout", "search.v2"]) {
    it(`${flagKey}: every key in at one share is still in at every larger share`, () => {
      const sets = SHARES.map((share) => servedOn(flagKey, share));
      for (let i = 1; i < sets.length; i++) {
        const smaller = sets[i - 1] ?? new Set<string>();
        const larger = sets[i] ?? new Set<string>();
        const dropped = [...smaller].filter((k) => !larger.has(k));
        expect(dropped, `dropped going from ${SHARES[i - 1]}% to ${SHARES[i]}%`).toEqual([]);
      }
      // The shares are what they say, within sampling error (10,000 keys: ±1.5 points at 50%).
      SHARES.forEach((share, i) => {
        const got = ((sets[i]?.size ?? 0) / KEYS.length) * 100;
        expect(Math.abs(got - share)).toBeLessThan(share === 0 || share === 100 ? 1e-9 : 1.5);
      });
    });
  }

  it("a key without targetingKey gets the default variant at any share below 100", () => {
    const { document } = compileDocument("ns", [{ toggle: rampToggle("f"), killed: false, share: 50 }]);
    const e = createNamespaceEvaluator(document).evaluate("f", {});
    expect(isSuccess(e) ? e.variant : e.errorCode).toBe("off");
  });
});
