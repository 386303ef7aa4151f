import { describe, expect, it } from "vitest";
import type { ToggleRule } from "../api/featuretoggle.js";
import { compileRollout, compileRule, compileTargeting, normalizeSemver } from "./targeting.js";

const rule = (operator: ToggleRule["operator"], values: string[], attribute = "attr"): ToggleRule => ({
  attribute,
  operator,
  values,
  variant: "on",
});

describe("normalizeSemver", () => {
  it.each([
    ["1.2.3", "1.2.3"],
    ["v1.2.3", "1.2.3"],
    ["V2.0.0-rc.1+build.5", "2.0.0-rc.1+build.5"],
    ["1", "1.0.0"],
    ["1.4", "1.4.0"],
    ["v3", "3.0.0"],
    [" 1.2.3 ", "1.2.3"],
    ["01.2", "1.2.0"],
  ])("%s → %s", (input, expected) => {
    expect(normalizeSemver(input)).toBe(expected);
  });
  it.each(["", "latest", "1.2.3.4", "myVersion_1", "1.2.x", "01.2.3", "1.2.3-"])("refuses %j", (input) => {
    expect(normalizeSemver(input)).toBeUndefined();
  });
});

describe("compileRule", () => {
  it("in: JsonLogic membership of the attribute in the value list", () => {
    expect(compileRule(rule("in", ["de", "fr"], "country"))).toEqual({
      ok: true,
      condition: { in: [{ var: "country" }, ["de", "fr"]] },
    });
  });
  it("notIn: the negation of in", () => {
    expect(compileRule(rule("notIn", ["de"]))).toEqual({
      ok: true,
      condition: { "!": { in: [{ var: "attr" }, ["de"]] } },
    });
  });
  it("startsWith / endsWith: one value stands alone", () => {
    expect(compileRule(rule("startsWith", ["beta-"]))).toEqual({
      ok: true,
      condition: { starts_with: [{ var: "attr" }, "beta-"] },
    });
    expect(compileRule(rule("endsWith", ["@acme.com"]))).toEqual({
      ok: true,
      condition: { ends_with: [{ var: "attr" }, "@acme.com"] },
    });
  });
  it("startsWith / endsWith: several values are or-ed", () => {
    expect(compileRule(rule("endsWith", ["@a.com", "@b.com"]))).toEqual({
      ok: true,
      condition: {
        or: [{ ends_with: [{ var: "attr" }, "@a.com"] }, { ends_with: [{ var: "attr" }, "@b.com"] }],
      },
    });
    expect(compileRule(rule("startsWith", ["a", "b"]))).toMatchObject({
      condition: { or: expect.any(Array) },
    });
  });
  it.each([
    ["semverGte", ">="],
    ["semverGt", ">"],
    ["semverLt", "<"],
    ["semverLte", "<="],
    ["semverEq", "="],
  ] as const)("%s → sem_ver %s with a normalised version", (operator, op) => {
    expect(compileRule(rule(operator, ["v2.1"], "appVersion"))).toEqual({
      ok: true,
      condition: { sem_ver: [{ var: "appVersion" }, op, "2.1.0"] },
    });
  });
  it("semver with several values is or-ed", () => {
    expect(compileRule(rule("semverEq", ["1.0.0", "2.0.0"]))).toEqual({
      ok: true,
      condition: {
        or: [{ sem_ver: [{ var: "attr" }, "=", "1.0.0"] }, { sem_ver: [{ var: "attr" }, "=", "2.0.0"] }],
      },
    });
  });
  it("refuses a semver operand that is not a version, naming it", () => {
    expect(compileRule(rule("semverGte", ["1.0.0", "latest"]))).toEqual({
      ok: false,
      error: 'semverGte needs a semantic version, got "latest"',
    });
  });
  it("does not alias the spec's value array", () => {
    const r = rule("in", ["a"]);
    const compiled = compileRule(r);
    expect(compiled.ok && (compiled.condition["in"] as unknown[])[1]).not.toBe(r.values);
  });
});

describe("compileRollout", () => {
  it("splits percentage / rest between the variant and the default, without a seed", () => {
    expect(compileRollout({ variant: "on", percentage: 25 }, "off")).toEqual({
      fractional: [
        ["on", 25],
        ["off", 75],
      ],
    });
  });
  it.each([0, 100])("keeps the edge percentage %i", (percentage) => {
    expect(compileRollout({ variant: "on", percentage }, "off")).toEqual({
      fractional: [
        ["on", percentage],
        ["off", 100 - percentage],
      ],
    });
  });
});

describe("compileTargeting", () => {
  const base = { defaultVariant: "off" };
  it("no rules, no rollout, no targeting: none (flagd answers STATIC)", () => {
    expect(compileTargeting(base)).toEqual({ ok: true });
    expect(compileTargeting({ ...base, rules: [] })).toEqual({ ok: true });
  });
  it("raw targeting passes through unchanged; an empty object means none", () => {
    const targeting = { if: [{ "==": [{ var: "tier" }, "gold"] }, "on", null] };
    expect(compileTargeting({ ...base, targeting })).toEqual({ ok: true, targeting });
    expect(compileTargeting({ ...base, targeting: {} })).toEqual({ ok: true });
  });
  it("rollout alone is a bare fractional", () => {
    expect(compileTargeting({ ...base, rollout: { variant: "on", percentage: 10 } })).toEqual({
      ok: true,
      targeting: {
        fractional: [
          ["on", 10],
          ["off", 90],
        ],
      },
    });
  });
  it("rules chain into one if cascade, in order, first match wins", () => {
    const rules: ToggleRule[] = [
      { attribute: "email", operator: "endsWith", values: ["@acme.com"], variant: "on" },
      { attribute: "country", operator: "in", values: ["de"], variant: "beta" },
    ];
    expect(compileTargeting({ ...base, rules })).toEqual({
      ok: true,
      targeting: {
        if: [
          { ends_with: [{ var: "email" }, "@acme.com"] },
          "on",
          { in: [{ var: "country" }, ["de"]] },
          "beta",
        ],
      },
    });
  });
  it("the rollout is the else branch after the rules", () => {
    const rules: ToggleRule[] = [{ attribute: "country", operator: "in", values: ["de"], variant: "on" }];
    expect(compileTargeting({ ...base, rules, rollout: { variant: "on", percentage: 50 } })).toEqual({
      ok: true,
      targeting: {
        if: [
          { in: [{ var: "country" }, ["de"]] },
          "on",
          {
            fractional: [
              ["on", 50],
              ["off", 50],
            ],
          },
        ],
      },
    });
  });
  it("reports the failing rule by index", () => {
    const rules: ToggleRule[] = [
      { attribute: "country", operator: "in", values: ["de"], variant: "on" },
      { attribute: "appVersion", operator: "semverGte", values: ["next"], variant: "on" },
    ];
    expect(compileTargeting({ ...base, rules })).toEqual({
      ok: false,
      error: 'rules[1]: semverGte needs a semantic version, got "next"',
    });
  });
});
