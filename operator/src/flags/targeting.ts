/**
 * Turns a FeatureToggle's `rules` and `rollout` sugar into flagd targeting JsonLogic. Only
 * operators flagd documents are emitted (`in`, `!`, `or`, `if`, `starts_with`, `ends_with`,
 * `sem_ver`, `fractional`), so the result means the same to every flagd implementation, not just
 * the JavaScript one the operator evaluates with.
 */
import type { FeatureToggleSpec, ToggleRule } from "../api/featuretoggle.js";
import type { JsonLogic } from "./document.js";

export type TargetingResult = { ok: true; targeting?: JsonLogic } | { ok: false; error: string };
type ConditionResult = { ok: true; condition: JsonLogic } | { ok: false; error: string };

const SEMVER_OPERATORS = {
  semverGte: ">=",
  semverGt: ">",
  semverLt: "<",
  semverLte: "<=",
  semverEq: "=",
} as const;

/** The semantic-version grammar of semver.org, which flagd's schema requires for `sem_ver` operands. */
const STRICT_SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/**
 * Normalises a version the way people write it (`v1.2`, `2`, `1.4.0-rc.1`) into the strict form
 * flagd's schema accepts (`1.2.0`, `2.0.0`, `1.4.0-rc.1`). flagd-core already compares the
 * lenient forms at evaluation time, but its schema refuses them in the document, and other flagd
 * implementations are stricter still. Returns undefined when the text is not a version at all.
 */
export function normalizeSemver(text: string): string | undefined {
  const bare = text.trim().replace(/^[vV]/, "");
  if (STRICT_SEMVER.test(bare)) return bare;
  const partial = /^(\d+)(?:\.(\d+))?$/.exec(bare);
  if (!partial) return undefined;
  return `${Number(partial[1])}.${Number(partial[2] ?? 0)}.0`;
}

/** Several alternatives are joined with `or`; a single one stands alone, which reads better in the ConfigMap. */
function anyOf(conditions: JsonLogic[]): JsonLogic {
  return conditions.length === 1 ? (conditions[0] as JsonLogic) : { or: conditions };
}

/**
 * One rule's condition. `in` uses JsonLogic's array membership (strict equality, so the context
 * value must be the same string); `notIn` is its negation and therefore also matches when the
 * attribute is absent. Dotted attributes (`user.email`) address nested context fields, as `var`
 * does in JsonLogic.
 */
export function compileRule(rule: ToggleRule): ConditionResult {
  const attribute = { var: rule.attribute };
  switch (rule.operator) {
    case "in":
      return { ok: true, condition: { in: [attribute, [...rule.values]] } };
    case "notIn":
      return { ok: true, condition: { "!": { in: [attribute, [...rule.values]] } } };
    case "startsWith":
      return { ok: true, condition: anyOf(rule.values.map((v) => ({ starts_with: [attribute, v] }))) };
    case "endsWith":
      return { ok: true, condition: anyOf(rule.values.map((v) => ({ ends_with: [attribute, v] }))) };
    default: {
      const op = SEMVER_OPERATORS[rule.operator];
      const versions = rule.values.map((v) => ({ text: v, version: normalizeSemver(v) }));
      const bad = versions.find((v) => v.version === undefined);
      if (bad) return { ok: false, error: `${rule.operator} needs a semantic version, got "${bad.text}"` };
      return { ok: true, condition: anyOf(versions.map((v) => ({ sem_ver: [attribute, op, v.version] }))) };
    }
  }
}

/**
 * The rollout as flagd `fractional`: `percentage` of targeting keys get the variant, the rest the
 * default. Buckets carry no explicit seed, so flagd hashes `$flagd.flagKey + targetingKey`: a
 * user keeps their bucket as the percentage grows, and two flags split users independently.
 * Without a targetingKey flagd returns no variant, so the default is served.
 */
export function compileRollout(
  rollout: { variant: string; percentage: number },
  defaultVariant: string,
): JsonLogic {
  return {
    fractional: [
      [rollout.variant, rollout.percentage],
      [defaultVariant, 100 - rollout.percentage],
    ],
  };
}

/**
 * The toggle's targeting: raw `targeting` as written, or rules chained in one `if` cascade
 * (first match wins) with the rollout as the final `else`. With neither, there is no targeting
 * and flagd serves the default variant with reason STATIC. When no rule matches and there is no
 * rollout, the cascade yields null, which flagd answers with the default variant and reason
 * DEFAULT. A guarded ramp (`rollout.steps`) has no percentage in its spec: `share` is the one
 * its status records, 0 before it starts.
 */
export function compileTargeting(
  spec: Pick<FeatureToggleSpec, "rules" | "rollout" | "targeting" | "defaultVariant">,
  share?: number,
): TargetingResult {
  if (spec.targeting) {
    return Object.keys(spec.targeting).length === 0 ? { ok: true } : { ok: true, targeting: spec.targeting };
  }
  const percentage = spec.rollout?.percentage ?? share ?? 0;
  const rollout = spec.rollout
    ? compileRollout({ variant: spec.rollout.variant, percentage }, spec.defaultVariant)
    : undefined;
  const rules = spec.rules ?? [];
  if (rules.length === 0) return rollout ? { ok: true, targeting: rollout } : { ok: true };
  const branches: unknown[] = [];
  for (const [index, rule] of rules.entries()) {
    const compiled = compileRule(rule);
    if (!compiled.ok) return { ok: false, error: `rules[${index}]: ${compiled.error}` };
    branches.push(compiled.condition, rule.variant);
  }
  if (rollout) branches.push(rollout);
  return { ok: true, targeting: { if: branches } };
}
