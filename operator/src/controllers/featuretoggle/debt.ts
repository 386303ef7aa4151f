/**
 * Toggle debt and insight, as pure decisions (called from `planToggleStatus`): the insight
 * summary written into status (at most once a minute), and the conditions that say a toggle can
 * go: `Unused` (not evaluated for N days) and `FullyRolledOut` (one variant served to everyone
 * for N days: the other code path is dead). Both only inform; nothing served changes.
 */
import { DAY_MS } from "../../api/common.js";
import { MAX_INSIGHT_CALLERS, type FeatureToggleSpec, type ToggleInsight } from "../../api/featuretoggle.js";
import { HOUR_MS, type InsightSummary } from "../../flags/insight.js";
import { conditionTime, type ConditionInput } from "../../runtime/conditions.js";

export const DEFAULT_DEBT_DAYS = 14;
/** The summary in status changes at most this often per toggle: status writes stay rare under any traffic. */
export const INSIGHT_INTERVAL_MS = 60_000;

/** How long before an unevaluated toggle is Unused, and a one-variant toggle FullyRolledOut. */
export interface DebtPolicy {
  unusedAfterMs: number;
  rolledOutAfterMs: number;
}

export const DEFAULT_DEBT_POLICY: DebtPolicy = {
  unusedAfterMs: DEFAULT_DEBT_DAYS * DAY_MS,
  rolledOutAfterMs: DEFAULT_DEBT_DAYS * DAY_MS,
};

/** A period in words: whole days when it is, else hours, minutes or seconds (short test periods). */
export function period(ms: number): string {
  if (ms % DAY_MS === 0) return `${ms / DAY_MS} day${ms === DAY_MS ? "" : "s"}`;
  if (ms % HOUR_MS === 0) return `${ms / HOUR_MS} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

const parse = (time: string | undefined) => (time === undefined ? undefined : Date.parse(time));

export interface InsightPlan {
  insight: ToggleInsight;
  /** The current summary was taken (written, or equal to what status holds); false when held back by the interval. */
  taken: boolean;
  requeueAfterMs?: number;
}

/**
 * The insight to write. The last evaluation never moves back (a restarted replica has lost its
 * counts, status has not); the 24 h counts and callers are the merged summary's. Within a
 * minute of the last change nothing is written: the caller is asked back when the minute ends.
 * While there are counts, it is also asked back at the next hour, when the oldest hour ages out.
 */
export function planInsight(
  previous: ToggleInsight | undefined,
  summary: InsightSummary | undefined,
  now: number,
): InsightPlan {
  const since = previous?.since ?? conditionTime(now);
  if (!summary) return { insight: { ...previous, since }, taken: true };
  const last = Math.max(parse(previous?.lastEvaluatedAt) ?? 0, summary.lastEvaluatedAt ?? 0);
  const content: ToggleInsight = {
    ...(last > 0 ? { lastEvaluatedAt: conditionTime(last) } : {}),
    evaluations24h: summary.byVariant,
    callers24h: summary.callers.slice(0, MAX_INSIGHT_CALLERS),
    since,
  };
  const hourly =
    Object.keys(content.evaluations24h ?? {}).length > 0 ? HOUR_MS - (now % HOUR_MS) + 1000 : undefined;
  const withHourly = (plan: InsightPlan): InsightPlan =>
    hourly === undefined
      ? plan
      : { ...plan, requeueAfterMs: Math.min(plan.requeueAfterMs ?? Infinity, hourly) };
  if (previous && sameContent(previous, content)) return withHourly({ insight: previous, taken: true });
  const updated = parse(previous?.updatedAt);
  if (previous?.since && updated !== undefined && now - updated < INSIGHT_INTERVAL_MS && now >= updated) {
    return withHourly({
      insight: previous,
      taken: false,
      requeueAfterMs: updated + INSIGHT_INTERVAL_MS - now,
    });
  }
  return withHourly({ insight: { ...content, updatedAt: conditionTime(now) }, taken: true });
}

function sameContent(a: ToggleInsight, b: ToggleInsight): boolean {
  const { updatedAt: _a, ...left } = a;
  const { updatedAt: _b, ...right } = b;
  return JSON.stringify(canonical(left)) === JSON.stringify(canonical(right));
}

function canonical(insight: ToggleInsight): unknown {
  const counts = insight.evaluations24h ?? {};
  return {
    ...insight,
    evaluations24h: Object.fromEntries(
      Object.keys(counts)
        .sort()
        .map((k) => [k, counts[k]]),
    ),
    callers24h: insight.callers24h ?? [],
  };
}

/**
 * The variant every user gets, when the spec serves only one: the default when disabled or
 * killed; otherwise the variants rules and the rollout can reach. Raw `targeting` could serve
 * anything, so it never counts as one variant.
 */
export function servedSingleVariant(
  spec: Pick<FeatureToggleSpec, "state" | "defaultVariant" | "rules" | "rollout" | "targeting">,
  killed: boolean,
  /** The share a guarded ramp serves now (its status); 0 before it starts. */
  share = 0,
): string | undefined {
  if (killed || spec.state === "Disabled") return spec.defaultVariant;
  if (spec.targeting) return undefined;
  const reachable = new Set((spec.rules ?? []).map((r) => r.variant));
  const rollout = spec.rollout && {
    variant: spec.rollout.variant,
    percentage: spec.rollout.percentage ?? share,
  };
  if (!rollout || rollout.percentage === 0) reachable.add(spec.defaultVariant);
  else if (rollout.percentage === 100) reachable.add(rollout.variant);
  else reachable.add(rollout.variant).add(spec.defaultVariant);
  return reachable.size === 1 ? [...reachable][0] : undefined;
}

export interface DebtDecision {
  conditions: ConditionInput[];
  singleVariant?: string;
  singleVariantSince?: string;
  /** The next moment a debt condition turns True. */
  requeueAfterMs?: number;
}

const OFREP_ONLY =
  "Counted over OFREP: apps that read the crescendo-flags ConfigMap through flagd are not seen.";

/** The Unused and FullyRolledOut conditions, and since when one variant has been served. */
export function planDebt(input: {
  /** Absent: evaluations are not counted (`--toggle-insight=false`), so Unused is Unknown. */
  insight: ToggleInsight | undefined;
  single: string | undefined;
  previousSingle?: string;
  previousSingleSince?: string;
  policy: DebtPolicy;
  now: number;
  generation: number;
}): DebtDecision {
  const { insight, single, policy, now, generation } = input;
  const waits: number[] = [];

  const lastEvaluated = parse(insight?.lastEvaluatedAt);
  const from = lastEvaluated ?? parse(insight?.since) ?? now;
  const unusedAt = from + policy.unusedAfterMs;
  const idle = period(policy.unusedAfterMs);
  let unused: ConditionInput;
  if (!insight) {
    // Not counting is not "never evaluated": marking every toggle Unused would send squads to
    // delete flags their apps still read.
    unused = {
      type: "Unused",
      status: "Unknown",
      reason: "InsightOff",
      message:
        "Evaluation insight is switched off on this operator (--toggle-insight=false): evaluations are not counted, so whether apps still read this toggle is not known.",
      observedGeneration: generation,
    };
  } else if (now >= unusedAt) {
    unused = {
      type: "Unused",
      status: "True",
      reason: lastEvaluated === undefined ? "NeverEvaluated" : "NotEvaluated",
      message:
        (lastEvaluated === undefined
          ? `Not evaluated since counting began at ${insight.since ?? ""} (${idle}).`
          : `Last evaluated at ${insight.lastEvaluatedAt ?? ""}, more than ${idle} ago.`) +
        ` If no app reads it, delete it. ${OFREP_ONLY}`,
      observedGeneration: generation,
    };
  } else {
    waits.push(unusedAt - now);
    unused = {
      type: "Unused",
      status: "False",
      reason: lastEvaluated === undefined ? "RecentlyCreated" : "Evaluated",
      message:
        (lastEvaluated === undefined
          ? "Not evaluated yet"
          : `Last evaluated at ${insight.lastEvaluatedAt ?? ""}`) +
        `; Unused if not evaluated by ${conditionTime(unusedAt)}.`,
      observedGeneration: generation,
    };
  }

  const sinceText =
    single === undefined
      ? undefined
      : single === input.previousSingle && input.previousSingleSince
        ? input.previousSingleSince
        : conditionTime(now);
  const rolledOutAt = sinceText === undefined ? undefined : Date.parse(sinceText) + policy.rolledOutAfterMs;
  let rolledOut: ConditionInput;
  if (single === undefined || rolledOutAt === undefined) {
    rolledOut = {
      type: "FullyRolledOut",
      status: "False",
      reason: "SeveralVariants",
      message: "The spec serves more than one variant (rules, a partial rollout or raw targeting).",
      observedGeneration: generation,
    };
  } else if (now >= rolledOutAt) {
    rolledOut = {
      type: "FullyRolledOut",
      status: "True",
      reason: "OneVariantServed",
      message: `Everyone has been served "${single}" since ${sinceText ?? ""} (more than ${period(policy.rolledOutAfterMs)}): remove the toggle from code, keeping the "${single}" path, then delete it.`,
      observedGeneration: generation,
    };
  } else {
    waits.push(rolledOutAt - now);
    rolledOut = {
      type: "FullyRolledOut",
      status: "False",
      reason: "RecentlyRolledOut",
      message: `Everyone is served "${single}" since ${sinceText ?? ""}; FullyRolledOut at ${conditionTime(rolledOutAt)} if that holds.`,
      observedGeneration: generation,
    };
  }
  const wait = waits.length ? Math.min(...waits) + 1000 : undefined;
  return {
    conditions: [unused, rolledOut],
    ...(single !== undefined && sinceText ? { singleVariant: single, singleVariantSince: sinceText } : {}),
    ...(wait === undefined ? {} : { requeueAfterMs: wait }),
  };
}
