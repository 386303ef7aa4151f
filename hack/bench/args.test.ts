import { describe, expect, it, vi } from "vitest";
import { choice, choices, int, ints, optionalInt, parseFlags } from "./args.js";

describe("benchmark flags", () => {
  it("takes an integer within its range and names the flag otherwise", () => {
    expect(int("rounds", "3", 1)).toBe(3);
    expect(int("interval-seconds", "5", 1, 5)).toBe(5);
    expect(() => int("interval-seconds", "6", 1, 5)).toThrow(
      '--interval-seconds must be an integer in [1, 5], got "6"',
    );
    expect(() => int("rounds", "0", 1)).toThrow('--rounds must be an integer >= 1, got "0"');
    expect(() => int("rounds", "1.5", 1)).toThrow("--rounds must be an integer");
    expect(() => int("rounds", "two", 1)).toThrow("--rounds must be an integer");
    // Number("") is 0: an empty value is not taken for zero.
    expect(() => int("gap-ms", "", 0)).toThrow('--gap-ms must be an integer >= 0, got ""');
  });

  it("leaves a flag without default undefined, and checks it when given", () => {
    expect(optionalInt("qps", undefined, 1)).toBeUndefined();
    expect(optionalInt("qps", "20", 1)).toBe(20);
    expect(() => optionalInt("qps", "0", 1)).toThrow("--qps must be an integer >= 1");
  });

  it("reads comma-separated integers, each checked", () => {
    expect(ints("sets", "1, 100,1000", 1)).toEqual([1, 100, 1000]);
    expect(() => ints("nodes", "20,18", 20)).toThrow('--nodes must be an integer >= 20, got "18"');
  });

  it("takes only the choices offered", () => {
    expect(choice("against", "argo-rollouts", ["argo-rollouts"])).toBe("argo-rollouts");
    expect(() => choice("against", "flagger", ["argo-rollouts"])).toThrow(
      '--against must be argo-rollouts, got "flagger"',
    );
    expect(choices("modes", "single, bulk", ["single", "bulk"])).toEqual(["single", "bulk"]);
    expect(() => choices("modes", "single,both", ["single", "bulk"])).toThrow(
      '--modes must be single or bulk, got "both"',
    );
  });

  it("parses flags with their defaults and refuses unknown ones", () => {
    const options = {
      rounds: { type: "string", default: "1" },
      tsx: { type: "boolean", default: false },
    } as const;
    expect(parseFlags(["--rounds", "3"], "usage", options).values).toEqual({ rounds: "3", tsx: false });
    expect(() => parseFlags(["--round", "3"], "usage", options)).toThrow(/--round/);
    expect(parseFlags(["m.ts"], "usage", {}, true).positionals).toEqual(["m.ts"]);
  });

  it("prints the usage on --help and exits 0", () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const exit = vi.spyOn(process, "exit").mockImplementation((() => {
      throw new Error("exited");
    }) as never);
    try {
      expect(() => parseFlags(["--help"], "Usage: npm run bench:x", {})).toThrow("exited");
      expect(log).toHaveBeenCalledWith("Usage: npm run bench:x");
      expect(exit).toHaveBeenCalledWith(0);
    } finally {
      log.mockRestore();
      exit.mockRestore();
    }
  });
});
