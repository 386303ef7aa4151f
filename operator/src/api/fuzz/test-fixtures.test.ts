import { describe, expect, it } from "vitest";
import { applyEdits } from "./test-fixtures.js";

describe("applyEdits", () => {
  it("places a copy of each value: a shared junk constant at two nested paths makes no cycle and stays as it was", () => {
    const shared = {};
    const out = applyEdits({ a: { b: 1 } }, [
      [["a", "b"], shared],
      [["a", "b", "c"], shared],
    ]);
    expect(JSON.parse(JSON.stringify(out))).toEqual({ a: { b: { c: {} } } });
    expect(shared).toEqual({});
  });
});
