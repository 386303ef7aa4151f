import { describe, expect, it } from "vitest";
import {
  contentHash,
  documentEtag,
  emptyDocument,
  FLAGD_SCHEMA,
  serializeDocument,
  type FlagdDocument,
} from "./document.js";
import { parseStrict } from "./validate.js";

const doc = (flags: FlagdDocument["flags"]): FlagdDocument => ({
  $schema: FLAGD_SCHEMA,
  metadata: { flagSetId: "ns" },
  flags,
});

describe("serializeDocument", () => {
  it("sorts keys at every level, so key order never changes the bytes", () => {
    const a = doc({
      b: { state: "ENABLED", variants: { y: { k: 1, a: 2 }, x: { a: 2, k: 1 } }, defaultVariant: "x" },
      a: { defaultVariant: "on", variants: { on: true }, state: "ENABLED" },
    });
    const b = doc({
      a: { state: "ENABLED", variants: { on: true }, defaultVariant: "on" },
      b: { defaultVariant: "x", state: "ENABLED", variants: { x: { k: 1, a: 2 }, y: { a: 2, k: 1 } } },
    });
    expect(serializeDocument(a)).toBe(serializeDocument(b));
    expect(serializeDocument(a).indexOf('"a"')).toBeLessThan(serializeDocument(a).indexOf('"b"'));
  });
  it("keeps array order (JsonLogic arguments are positional)", () => {
    const text = serializeDocument(
      doc({
        f: {
          state: "ENABLED",
          variants: { a: 1, b: 2 },
          defaultVariant: "a",
          targeting: { if: [true, "b", "a"] },
        },
      }),
    );
    expect(JSON.parse(text).flags.f.targeting).toEqual({ if: [true, "b", "a"] });
  });
  it("drops undefined fields and ends with a newline", () => {
    const text = serializeDocument(
      doc({ f: { state: "ENABLED", variants: { a: 1 }, defaultVariant: "a", targeting: undefined } }),
    );
    expect(text).not.toContain("targeting");
    expect(text.endsWith("}\n")).toBe(true);
  });
  it("keeps a __proto__ key as data", () => {
    const flags = JSON.parse(
      '{"__proto__": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"}}',
    );
    expect(Object.keys(JSON.parse(serializeDocument(doc(flags))).flags)).toEqual(["__proto__"]);
  });
});

describe("documentEtag", () => {
  it("is a 32-hex content hash that changes with content only", () => {
    const one = doc({ f: { state: "ENABLED", variants: { a: 1 }, defaultVariant: "a" } });
    const same = doc({ f: { defaultVariant: "a", variants: { a: 1 }, state: "ENABLED" } });
    const other = doc({ f: { state: "ENABLED", variants: { a: 2 }, defaultVariant: "a" } });
    expect(documentEtag(one)).toMatch(/^[0-9a-f]{32}$/);
    expect(documentEtag(one)).toBe(documentEtag(same));
    expect(documentEtag(one)).not.toBe(documentEtag(other));
    expect(contentHash("x")).toBe(contentHash("x"));
  });
});

describe("emptyDocument", () => {
  it("is valid for flagd and names the namespace", () => {
    const empty = emptyDocument("team-a");
    expect(empty).toEqual({ $schema: FLAGD_SCHEMA, metadata: { flagSetId: "team-a" }, flags: {} });
    expect(() => parseStrict(serializeDocument(empty))).not.toThrow();
  });
});
