/** FeatureToggle: a flag served in flagd format and over OFREP. */
import { z } from "zod";
import { conditions, dnsLabel, lastAction, opaqueObject } from "./common.js";
import { isRecord } from "../runtime/is-record.js";
import { toggleNotification, toggleRolloutStatus, toggleRolloutSpec } from "./toggle-rollout.js";

export const TOGGLE_TYPES = ["release", "experiment", "ops", "permission"] as const;

export const RULE_OPERATORS = [
  "in",
  "notIn",
  "startsWith",
  "endsWith",
  "semverGte",
  "semverGt",
  "semverLt",
  "semverLte",
  "semverEq",
] as const;

const variantName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-'")
  // A variant map is a plain object downstream (zod records, flagd documents): this name would
  // be dropped or touch the prototype instead of naming a variant.
  .refine((name) => name !== "__proto__", "__proto__ is not a usable variant name");

export const toggleRule = z
  .object({
    attribute: z.string().min(1).describe("Evaluation context attribute, e.g. email, country, appVersion."),
    operator: z.enum(RULE_OPERATORS).describe("How the attribute is compared with values."),
    values: z
      .array(z.string())
      .min(1)
      .max(100)
      .describe("Values to compare with (one for semver operators)."),
    variant: variantName.describe("Variant served when the rule matches."),
  })
  .describe("A targeting rule; the first rule that matches decides the variant.");
export type ToggleRule = z.infer<typeof toggleRule>;

type VariantValue = boolean | string | number | Record<string, unknown>;
const variantKind = (v: unknown) => (isRecord(v) ? "object" : typeof v);

/**
 * A variant's value. Null is refused by name: the apiserver would otherwise drop it silently (a
 * key whose value is null is pruned), leaving a toggle without the variant the author wrote.
 * `nullable` in the CRD keeps the null so this message can be given. (A client-side
 * `kubectl apply` removes null keys itself before sending; server-side apply, create and
 * GitOps tools send them.)
 */
const variantValue = z
  .union([z.boolean(), z.string(), z.number(), z.record(z.string(), z.unknown())], {
    error: (issue) =>
      issue.input === null
        ? "a variant needs a value (boolean, string, number or object); null is not one"
        : "a variant value must be a boolean, string, number or object",
  })
  .meta({ nullable: true });

export const featureToggleSpec = z
  .object({
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-'")
      .optional()
      .describe("Flag key apps evaluate; defaults to metadata.name."),
    description: z.string().max(1024).optional().describe("What the toggle controls."),
    type: z
      .enum(TOGGLE_TYPES)
      .default("release")
      .describe("release (ship dark), experiment (A/B), ops (kill switch), permission (entitlement)."),
    state: z
      .enum(["Enabled", "Disabled"])
      .default("Enabled")
      .describe("Disabled serves the default variant to everyone."),
    variants: z
      .record(variantName, variantValue, {
        // zod's own answer for a bad key is "Invalid key in record", which names no rule.
        error: (issue) =>
          issue.code === "invalid_key"
            ? "a variant name is 1 to 63 letters, digits, '_', '.' or '-' (and not __proto__)"
            : undefined,
      })
      .refine((v) => Object.keys(v).length >= 1, "at least one variant")
      .refine(
        (v) => new Set(Object.values(v).map(variantKind)).size <= 1,
        "all variants must have the same type",
      )
      .meta({
        description: "Variant name → value. All values share one type: boolean, string, number or object.",
        type: "object",
        minProperties: 1,
        maxProperties: 32,
      }),
    defaultVariant: variantName.describe("Variant served when disabled, killed, or when no rule matches."),
    rules: z.array(toggleRule).max(50).optional().describe("Targeting rules, evaluated in order."),
    // The variant's share, fixed or ramped by guarded rollout steps (rollout.steps: setWeight,
    // pause, analysis), in toggle-rollout.ts.
    rollout: toggleRolloutSpec.optional(),
    targeting: opaqueObject(
      "Raw flagd targeting JsonLogic; an escape hatch that replaces rules and rollout.",
    ).optional(),
    guard: z
      .object({
        release: dnsLabel.describe("Name of a Release in this namespace."),
        onRollback: z
          .enum(["Disable"])
          .default("Disable")
          .describe("What happens to the toggle when the Release rolls back."),
      })
      .optional()
      .describe("Kill the toggle automatically when this Release rolls back."),
    expiresAt: z
      .string()
      .optional()
      .describe("After this time (RFC 3339) the toggle is Stale.")
      .meta({ format: "date-time" }),
  })
  .superRefine((spec, ctx) => {
    const names = Object.keys(spec.variants as Record<string, VariantValue>);
    const check = (variant: string, path: (string | number)[]) => {
      if (!names.includes(variant))
        ctx.addIssue({ code: "custom", path, message: `variant "${variant}" is not defined` });
    };
    check(spec.defaultVariant, ["defaultVariant"]);
    spec.rules?.forEach((r, i) => check(r.variant, ["rules", i, "variant"]));
    if (spec.rollout) check(spec.rollout.variant, ["rollout", "variant"]);
    if (spec.targeting && (spec.rules || spec.rollout)) {
      ctx.addIssue({
        code: "custom",
        path: ["targeting"],
        message: "targeting replaces rules and rollout; set one or the other",
      });
    }
  })
  // Variant values may be booleans, strings, numbers or objects, which a structural schema can
  // only hold as untyped values, and CEL cannot see an untyped map. So the checks that name
  // variants (defaultVariant, rule and rollout variants, one value type) are zod's: the
  // controller reports them as Stalled/InvalidSpec with the same messages.
  .meta({
    description: "Desired state of the FeatureToggle.",
    "x-kubernetes-validations": [
      {
        rule: "!has(self.targeting) || (!has(self.rules) && !has(self.rollout))",
        message: "targeting replaces rules and rollout; set one or the other",
      },
    ],
  });
export type FeatureToggleSpec = z.infer<typeof featureToggleSpec>;

export const EFFECTIVE_STATES = ["Enabled", "Disabled", "KilledByRollback"] as const;
export type EffectiveState = (typeof EFFECTIVE_STATES)[number];

/** The conditions that mark a toggle as debt: ready to be removed from code and deleted. */
export const DEBT_KINDS = ["Stale", "Unused", "FullyRolledOut", "OverActiveLimit"] as const;
export type DebtKind = (typeof DEBT_KINDS)[number];

/** Limits of the insight summary: it lives in status, so it stays small whatever the traffic. */
export const MAX_INSIGHT_CALLERS = 50;

export const toggleInsight = z
  .object({
    lastEvaluatedAt: z
      .string()
      .optional()
      .describe("When an app last evaluated the flag over OFREP (any replica).")
      .meta({ format: "date-time" }),
    evaluations24h: z
      .record(z.string(), z.number().int().min(0))
      .optional()
      .describe(
        "Evaluations in the 24 h before updatedAt, by variant, summed over the replicas serving OFREP.",
      ),
    callers24h: z
      .array(z.string())
      .max(MAX_INSIGHT_CALLERS)
      .optional()
      .describe(
        "Distinct authenticated callers (ServiceAccounts) that evaluated the flag in the 24 h before updatedAt; empty while OFREP callers are anonymous.",
      ),
    since: z
      .string()
      .optional()
      .describe(
        "Since when evaluations of this toggle are counted: Unused counts from here when it was never evaluated.",
      )
      .meta({ format: "date-time" }),
    updatedAt: z
      .string()
      .optional()
      .describe("When this summary was taken; at most once a minute.")
      .meta({ format: "date-time" }),
  })
  .describe("Who evaluates the flag and what they get, from the OFREP servers' in-memory counts.");
export type ToggleInsight = z.infer<typeof toggleInsight>;

export const featureToggleStatus = z
  .object({
    observedGeneration: z.number().int().optional().describe("The generation last reconciled."),
    conditions: conditions.optional(),
    key: z.string().optional().describe("The flag key served."),
    effectiveState: z
      .enum(EFFECTIVE_STATES)
      .optional()
      .describe("What apps actually get: Enabled, Disabled or KilledByRollback."),
    servedVariant: z
      .string()
      .optional()
      .describe("The default variant being served (the off variant when killed)."),
    killedAt: z
      .string()
      .optional()
      .describe("When a rollback of the guard Release, or a kill action, killed the toggle.")
      .meta({ format: "date-time" }),
    killedBy: z
      .string()
      .optional()
      .describe(
        "The guard Release revision whose rollback killed the toggle, or `action <id>` when a kill action did (an incident's KillToggles).",
      ),
    specChangedAt: z
      .string()
      .optional()
      .describe(
        "When the controller first saw the current spec (its creation, or the edit that made this generation): incident correlation reads it as the toggle's last change.",
      )
      .meta({ format: "date-time" }),
    stale: z.boolean().optional().describe("True when past expiresAt or the type's lifetime."),
    staleSince: z.string().optional().describe("When the toggle became stale.").meta({ format: "date-time" }),
    lastAction: lastAction.optional(),
    insight: toggleInsight.optional(),
    rollout: toggleRolloutStatus.optional(),
    notifications: z
      .array(toggleNotification)
      .max(10)
      .optional()
      .describe(
        "On-call notifications of ramp rollbacks and of kill actions, newest first: pending until delivered or given up. Recorded in the rollback's or the kill's own status write, so a restarted or new leader finishes the delivery.",
      ),
    singleVariant: z
      .string()
      .optional()
      .describe(
        "The one variant everyone is served, when the spec serves only one (FullyRolledOut counts from singleVariantSince).",
      ),
    singleVariantSince: z
      .string()
      .optional()
      .describe("Since when everyone has been served singleVariant.")
      .meta({ format: "date-time" }),
  })
  .describe("Observed state of the FeatureToggle.");
export type FeatureToggleStatus = z.infer<typeof featureToggleStatus>;
