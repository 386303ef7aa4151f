/**
 * The variant names a flag's targeting can return, as far as they are written in it, so a flag
 * whose targeting can answer with a variant that does not exist is refused before it is served.
 * flagd turns whatever targeting returns into a variant name (`String(result)`; null means the
 * default variant) and answers every evaluation that lands on a missing one with an error: such
 * a flag passes flagd's schema and compiles, yet fails in apps.
 *
 * Only values written in the JsonLogic are followed (a `var` or `cat` can return anything, and
 * nothing is claimed about them). Positions are those JsonLogic returns from, as json-logic-js
 * (flagd-core's engine) evaluates them: the branches of `if`, the operands of `or`/`and` that can
 * be returned, the bucket names of `fractional`, and the `true`/`false` of a comparison.
 */
import type { JsonLogic } from "./document.js";

/** Operators whose result is always a boolean, which flagd then reads as variant "true" or "false". */
const BOOLEAN_OPERATORS = new Set([
  "==",
  "===",
  "!=",
  "!==",
  "!",
  "!!",
  "<",
  ">",
  "<=",
  ">=",
  "in",
  "starts_with",
  "ends_with",
  "sem_ver",
  "some",
  "all",
  "none",
]);

/** Deeper targeting is not followed: a bound on the walk, never reached by a real flag. */
const MAX_DEPTH = 64;

type Literal = string | number | boolean;

/** The literal variant names `targeting` can return, in the order they are written. */
export function literalVariants(targeting: unknown): string[] {
  const found: Literal[] = [];
  collect(targeting, 0, found);
  return [...new Set(found.map(String))];
}

/**
 * Why this targeting can return a variant that `variants` does not define, or undefined when
 * every literal it can return is defined.
 */
export function unknownVariantProblem(
  targeting: JsonLogic | undefined,
  variants: Record<string, unknown>,
): string | undefined {
  if (targeting === undefined) return undefined;
  const missing = literalVariants(targeting).filter((name) => !Object.hasOwn(variants, name));
  if (missing.length === 0) return undefined;
  const names = missing.map((n) => `"${n}"`).join(", ");
  const defined = Object.keys(variants).join(", ");
  return `targeting can return variant ${names}, which ${missing.length === 1 ? "is" : "are"} not defined (variants: ${defined}); every evaluation that lands there fails`;
}

/** Adds to `out` the literal values `expr` can evaluate to. */
function collect(expr: unknown, depth: number, out: Literal[]): void {
  if (depth > MAX_DEPTH) return;
  if (typeof expr === "string" || typeof expr === "number" || typeof expr === "boolean") {
    out.push(expr);
    return;
  }
  if (expr === null || typeof expr !== "object" || Array.isArray(expr)) return;
  const keys = Object.keys(expr);
  if (keys.length !== 1) return;
  const op = keys[0] as string;
  const raw = (expr as Record<string, unknown>)[op];
  const args: unknown[] = Array.isArray(raw) ? raw : [raw];
  const next = depth + 1;
  if (op === "if" || op === "?:") {
    // Conditions sit at even indices, each followed by its branch; an odd count ends in an else.
    for (let i = 1; i < args.length; i += 2) collect(args[i], next, out);
    if (args.length % 2 === 1) collect(args[args.length - 1], next, out);
    return;
  }
  if (op === "or" || op === "and") {
    // `or` returns the first truthy operand (else the last), `and` the first falsy (else the last).
    args.forEach((arg, i) => {
      if (i === args.length - 1) return collect(arg, next, out);
      const values: Literal[] = [];
      collect(arg, next, values);
      out.push(...values.filter((v) => Boolean(v) === (op === "or")));
    });
    return;
  }
  if (op === "fractional") {
    // A leading string is the bucketing seed; every other argument is [variant, weight?].
    const buckets = typeof args[0] === "string" ? args.slice(1) : args;
    for (const bucket of buckets) {
      if (!Array.isArray(bucket) || bucket.length === 0) continue;
      const weight: unknown = bucket[1];
      if (typeof weight === "number" && weight <= 0) continue;
      collect(bucket[0], next, out);
    }
    return;
  }
  if (BOOLEAN_OPERATORS.has(op)) out.push(true, false);
}
