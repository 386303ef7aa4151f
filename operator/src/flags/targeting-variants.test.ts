import { MemoryStorage } from "@openfeature/flagd-core";
import { describe, expect, it } from "vitest";
import { literalVariants, unknownVariantProblem } from "./targeting-variants.js";
import { flagProblem, silentLogger } from "./validate.js";
import type { FlagdFlag, JsonLogic } from "./document.js";

const variants = { on: true, off: false };

describe("literalVariants", () => {
  it("follows the branches of if, not its conditions", () => {
    expect(literalVariants({ if: [true, "ghost", "off"] })).toEqual(["ghost", "off"]);
    expect(literalVariants({ if: [{ "==": [{ var: "a" }, "x"] }, "on", { var: "b" }, "b", "off"] })).toEqual([
      "on",
      "b",
      "off",
    ]);
    // Without an else an if returns null, which is the default variant: nothing to check.
    expect(literalVariants({ if: [{ var: "x" }, "on"] })).toEqual(["on"]);
    expect(literalVariants({ "?:": [{ var: "x" }, "on", "off"] })).toEqual(["on", "off"]);
  });

  it("reads the bucket names of fractional, with or without a seed, skipping weight 0", () => {
    expect(
      literalVariants({
        fractional: [
          ["on", 50],
          ["off", 50],
        ],
      }),
    ).toEqual(["on", "off"]);
    expect(literalVariants({ fractional: ["seed", ["a", 1], ["b", 0], ["c"]] })).toEqual(["a", "c"]);
  });

  it("a comparison at a result position returns true or false, which flagd reads as variant names", () => {
    expect(literalVariants({ in: [{ var: "email" }, ["a@x"]] })).toEqual(["true", "false"]);
    // and returns its first falsy operand: a condition that fails answers "false".
    expect(literalVariants({ and: [{ "==": [1, 2] }, "beta"] })).toEqual(["false", "beta"]);
    expect(literalVariants({ or: ["", "off"] })).toEqual(["off"]);
    expect(literalVariants({ or: ["on", "off"] })).toEqual(["on", "off"]);
  });

  it("claims nothing about values computed at evaluation", () => {
    expect(literalVariants({ var: "variant" })).toEqual([]);
    expect(literalVariants({ cat: ["o", "n"] })).toEqual([]);
    expect(literalVariants(null)).toEqual([]);
    expect(literalVariants({ if: [true, "on"], extra: 1 })).toEqual([]);
  });

  it("stops at a bounded depth instead of overflowing the stack", () => {
    let deep: unknown = "ghost";
    for (let i = 0; i < 100_000; i++) deep = { if: [true, deep, "off"] };
    expect(() => literalVariants(deep)).not.toThrow();
  });
});

describe("unknownVariantProblem", () => {
  it("names the missing variant and the defined ones", () => {
    expect(unknownVariantProblem({ if: [true, "ghost", "off"] }, variants)).toBe(
      'targeting can return variant "ghost", which is not defined (variants: on, off); every evaluation that lands there fails',
    );
    expect(unknownVariantProblem({ if: [true, "on", "off"] }, variants)).toBeUndefined();
    expect(unknownVariantProblem(undefined, variants)).toBeUndefined();
  });

  it("agrees with flagd-core: what it reports fails to evaluate there, what it passes evaluates", () => {
    const evaluate = (targeting: JsonLogic) => {
      const storage = new MemoryStorage(silentLogger);
      storage.setConfigurations(
        JSON.stringify({ flags: { f: { state: "ENABLED", variants, defaultVariant: "off", targeting } } }),
      );
      return storage.getFlag("f")?.evaluate({ targetingKey: "u1" }, silentLogger);
    };
    expect(evaluate({ if: [true, "ghost", "off"] })).toMatchObject({ errorCode: "GENERAL" });
    expect(evaluate({ in: ["a", ["a"]] })).toMatchObject({ errorCode: "GENERAL" });
    expect(evaluate({ if: [true, "on", "off"] })).toMatchObject({ variant: "on", value: true });
  });

  it("makes flagProblem refuse the flag", () => {
    const flag: FlagdFlag = {
      state: "ENABLED",
      variants,
      defaultVariant: "off",
      targeting: { if: [true, "ghost", "off"] },
    };
    expect(flagProblem("ghostly", flag)).toMatch(/variant "ghost", which is not defined/);
  });
});
