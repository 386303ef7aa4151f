import { describe, expect, it } from "vitest";
import { printable } from "./printable.js";

describe("printable", () => {
  it("replaces C0 (but newline and tab), DEL and C1 in every string, keys included, and keeps the rest", () => {
    expect(
      printable({
        a: "\u001b[31mred\u001b[0m",
        "k\u0007": ["x\u009by", "line\nnext\tcol", 3, null, true],
        nested: { ok: "1.4.2 — héllo ✓" },
      }),
    ).toEqual({
      a: "\ufffd[31mred\ufffd[0m",
      "k\ufffd": ["x\ufffdy", "line\nnext\tcol", 3, null, true],
      nested: { ok: "1.4.2 — héllo ✓" },
    });
    expect(printable(undefined)).toBeUndefined();
  });
});
