import { describe, expect, it } from "vitest";
import { asRecord, isRecord } from "./is-record.js";

describe("isRecord", () => {
  it("accepts JSON objects only", () => {
    expect(isRecord({})).toBe(true);
    expect(isRecord({ a: 1 })).toBe(true);
    expect(isRecord(Object.create(null))).toBe(true);
    for (const v of [null, undefined, [], [1], "x", 1, true]) expect(isRecord(v)).toBe(false);
  });

  it("asRecord answers the object itself, or an empty one", () => {
    const o = { a: 1 };
    expect(asRecord(o)).toBe(o);
    expect(asRecord([1])).toEqual({});
    expect(asRecord(null)).toEqual({});
  });
});
