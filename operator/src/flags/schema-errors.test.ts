import { describe, expect, it } from "vitest";
import type { FlagdFlag } from "./document.js";
import { readableSchemaErrors } from "./schema-errors.js";
import { flagProblem } from "./validate.js";

const flag = (targeting: unknown): FlagdFlag =>
  ({ state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting }) as FlagdFlag;

const refusal = (errors: unknown[]) =>
  `invalid flagd flag configuration: ${JSON.stringify(errors, undefined, 2)}`;

describe("readableSchemaErrors", () => {
  it("says what flagd-core's schema refuses in one line, through the real flagd-core", () => {
    expect(flagProblem("checkout", flag({ no_such_operator: [1, 2] }))).toBe(
      `flagd's schema: targeting: unknown key "no_such_operator"`,
    );
    expect(flagProblem("checkout", flag({ if: [{ "==": [1] }, "on", "off"] }))).toBe(
      "flagd's schema: targeting.if.0.==: must NOT have fewer than 2 items",
    );
    expect(flagProblem("checkout", flag({ fractional: ["x"] }))).toBe(
      "flagd's schema: targeting.fractional.0: must be object or array",
    );
  });

  it("keeps the deepest errors, drops the failed alternatives above them, and names fields within the flag", () => {
    const message = refusal([
      {
        instancePath: "/flags/a~1b/targeting",
        keyword: "additionalProperties",
        params: { additionalProperty: "if" },
      },
      {
        instancePath: "/flags/a~1b/targeting",
        keyword: "anyOf",
        params: {},
        message: "must match a schema in anyOf",
      },
      {
        instancePath: "/flags/a~1b/state",
        keyword: "enum",
        params: { allowedValues: ["ENABLED", "DISABLED"] },
        message: "must be equal to one of the allowed values",
      },
    ]);
    expect(readableSchemaErrors(message, "a/b")).toBe(
      `flagd's schema: targeting: unknown key "if"; state: must be equal to one of the allowed values: "ENABLED", "DISABLED"`,
    );
    expect(
      readableSchemaErrors(
        refusal([{ instancePath: "/flags/k", keyword: "anyOf", message: "must match a schema in anyOf" }]),
        "k",
      ),
    ).toBe("flagd's schema: the flag: must match a schema in anyOf");
  });

  it("returns any other message as it is", () => {
    expect(readableSchemaErrors("semverGte needs a semantic version", "k")).toBe(
      "semverGte needs a semantic version",
    );
    expect(readableSchemaErrors("invalid flagd flag configuration: not json", "k")).toBe(
      "invalid flagd flag configuration: not json",
    );
    expect(readableSchemaErrors("invalid flagd flag configuration: []", "k")).toBe(
      "invalid flagd flag configuration: []",
    );
  });
});
