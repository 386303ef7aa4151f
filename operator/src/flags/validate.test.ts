import { describe, expect, it } from "vitest";
import type { FlagdFlag } from "./document.js";
import { checkedFlagCount, flagProblem } from "./validate.js";

const flag = (targeting?: unknown): FlagdFlag =>
  ({
    state: "ENABLED",
    variants: { on: true, off: false },
    defaultVariant: "off",
    ...(targeting === undefined ? {} : { targeting }),
  }) as FlagdFlag;

describe("flagProblem", () => {
  it("gives the same answer when asked again (memoised by the flag's text)", () => {
    const valid = flag({ if: [{ "==": [{ var: "tier" }, "gold"] }, "on", "off"] });
    const badSchema = { ...flag(), defaultVariant: 7 } as unknown as FlagdFlag;
    const badTargeting = flag({ if: [{ sem_ver: [{ var: "v" }, ">=", "not-a-version"] }, "on", "off"] });
    for (let round = 0; round < 2; round++) {
      expect(flagProblem("checkout", valid)).toBeUndefined();
      expect(flagProblem("checkout", badSchema)).toMatch(/./);
      expect(flagProblem("checkout", badTargeting)).toMatch(/./);
    }
    // The key is part of the text: the same flag under another key is its own question.
    expect(flagProblem("other", badSchema)).toMatch(/./);
  });

  it("remembers a bounded number of answers", () => {
    for (let i = 0; i < 8300; i++) flagProblem(`k${i}`, flag());
    expect(checkedFlagCount()).toBe(8192);
    // The most recent answers are kept and still right.
    expect(flagProblem("k8299", flag())).toBeUndefined();
  });
});
