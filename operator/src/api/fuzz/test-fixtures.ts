/**
 * fast-check arbitraries for the fuzz properties (`*.fuzz.test.ts`): junk values of the kinds
 * people and tools actually write (negative counts, quantities as prose, durations at the
 * extremes, empty strings, nulls, wrong types), and specs mutated from valid ones, so most
 * inputs are invalid yet close enough to reach deep validation instead of failing at the root.
 * Test-only: excluded from the build (test-fixtures.ts).
 */
import fc from "fast-check";

type Path = (string | number)[];

/** An edit that removes the field instead of replacing it. */
export const DELETE: unique symbol = Symbol("delete");

/** A value someone might write where something else was expected. */
export const junk: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom<unknown>(
      null,
      -1,
      -5,
      0,
      0.5,
      1e308,
      2 ** 31,
      Number.MAX_SAFE_INTEGER + 2,
      "",
      " ",
      "lots",
      "-5",
      "0s",
      "100000h",
      "999ms",
      "cpu!!",
      "a b",
      "UPPER",
      "__proto__",
      "constructor",
      "x".repeat(300),
      true,
      false,
      [],
      {},
      [null],
      { "": 1 },
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Every path to a field or element of a JSON value, the root excluded. */
export function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (Array.isArray(value)) {
    return value.flatMap((v, i) => [[...prefix, i], ...pathsOf(v, [...prefix, i])]);
  }
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
  }
  return [];
}

/** `base` with each edit applied in turn; an edit under a field an earlier one replaced is skipped. */
export function applyEdits(base: unknown, edits: readonly (readonly [Path, unknown])[]): unknown {
  const out = structuredClone(base);
  for (const [path, value] of edits) {
    let parent: unknown = out;
    for (const key of path.slice(0, -1)) {
      parent =
        parent !== null && typeof parent === "object" ? (parent as Record<string, unknown>)[key] : undefined;
    }
    if (parent === null || typeof parent !== "object") continue;
    const key = path[path.length - 1] as string | number;
    if (value === DELETE) {
      if (Array.isArray(parent) && typeof key === "number") parent.splice(key, 1);
      else delete (parent as Record<string, unknown>)[key];
    } else {
      // defineProperty, not assignment: a key such as "__proto__" stays a plain key, as JSON.parse makes it.
      // A copy of the value: junk's constants ({}, [], [null]) are shared instances, and placing one
      // at two paths of a spec, one under the other, made a cycle no JSON can hold (and a later
      // edit under it changed the constant itself for every later run).
      Object.defineProperty(parent, key, {
        value: structuredClone(value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return out;
}

/**
 * Specs mutated from `bases`: up to `maxEdits` fields replaced by junk or removed, and sometimes
 * an unknown field added. With no edit the base itself comes out, so valid specs are reached too.
 */
export function mutatedFrom(bases: readonly unknown[], maxEdits = 3): fc.Arbitrary<unknown> {
  return fc.constantFrom(...bases).chain((base) => {
    const paths = pathsOf(base);
    const edit = fc.tuple(
      paths.length > 0 ? fc.constantFrom(...paths) : fc.constant<Path>(["extra"]),
      fc.oneof({ weight: 4, arbitrary: junk }, { weight: 1, arbitrary: fc.constant<unknown>(DELETE) }),
    );
    const added = fc.tuple(fc.constant<Path>(["unknownField"]), junk);
    return fc
      .array(fc.oneof({ weight: 9, arbitrary: edit }, { weight: 1, arbitrary: added }), {
        maxLength: maxEdits,
      })
      .map((edits) => applyEdits(base, edits));
  });
}
