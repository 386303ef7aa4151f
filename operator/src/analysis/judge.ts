/**
 * The judge: turns what a provider measured into a Measurement (Successful, Failed or
 * Inconclusive) with a message a person reads in `kubectl describe` and in the rollback
 * notification. Pure: the values and the time come in as arguments.
 *
 * The one rule that matters most: a query that could not be answered is Inconclusive, never
 * Failed and never Successful. An unreachable Prometheus must neither roll back a good release
 * nor promote a bad one.
 */
import type { AnalysisMetric } from "../api/analysis.js";
import type { Measurement } from "../api/release.js";
import type { QueryResult } from "./provider.js";

type Phase = Measurement["phase"];

/**
 * RFC 3339 at second precision, as `metav1.Time` and the condition helpers write times, so all
 * times in a Release's status look alike.
 */
export function measurementTime(now: Date | number): string {
  return new Date(now).toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * Judges one measurement of `metric`.
 *
 * `stable` is only read for `compareToStable` metrics; for those it is required, and a missing
 * one is Inconclusive. An `error` in either result wins over `noData`: the measurement is
 * Inconclusive whatever `onNoData` says, because "could not ask" is not "asked and got nothing".
 */
export function judge(
  metric: AnalysisMetric,
  canary: QueryResult,
  stable: QueryResult | undefined,
  now: Date | number,
): Measurement {
  const at = measurementTime(now);
  const values = {
    ...recorded("value", canary),
    ...(metric.compareToStable && stable ? recorded("stableValue", stable) : {}),
  };
  const outcome = decide(metric, canary, stable);
  return { at, phase: outcome.phase, ...values, message: outcome.message };
}

interface Outcome {
  phase: Phase;
  message: string;
}

/** Values are kept as text so NaN and ±Inf survive JSON (where they would become null). */
function recorded<K extends "value" | "stableValue">(
  key: K,
  result: QueryResult,
): Partial<Record<K, string>> {
  if (result.kind === "value") return { [key]: String(result.value) } as Partial<Record<K, string>>;
  if (result.kind === "noData" && result.value !== undefined) {
    return { [key]: result.value } as Partial<Record<K, string>>;
  }
  return {};
}

function decide(metric: AnalysisMetric, canary: QueryResult, stable: QueryResult | undefined): Outcome {
  const { name } = metric;
  if (metric.compareToStable) {
    const inputs: [string, QueryResult | undefined][] = [
      ["canary", canary],
      ["stable", stable],
    ];
    const errors = inputs.flatMap(([which, r]) =>
      r === undefined
        ? [`no ${which} measurement to compare with`]
        : r.kind === "error"
          ? [`${which} query failed: ${r.reason}`]
          : [],
    );
    if (errors.length > 0) return { phase: "Inconclusive", message: `${name}: ${errors.join("; ")}` };
    if (canary.kind === "value" && stable?.kind === "value") {
      return compare(name, metric.compareToStable, canary.value, stable.value);
    }
    const missing = inputs.flatMap(([which, r]) => (r?.kind === "noData" ? [`${which}: ${r.reason}`] : []));
    return noData(metric, missing.join("; "));
  }
  if (canary.kind === "error")
    return { phase: "Inconclusive", message: `${name}: query failed: ${canary.reason}` };
  if (canary.kind === "noData") return noData(metric, canary.reason);
  if (metric.thresholdRange) return inRange(name, metric.thresholdRange, canary.value);
  // The API schema refuses a metric with neither; judging it anyway would be a guess.
  return { phase: "Inconclusive", message: `${name}: neither thresholdRange nor compareToStable is set` };
}

/** `onNoData` decides: Inconclusive by default, because no traffic is not evidence either way. */
function noData(metric: AnalysisMetric, reason: string): Outcome {
  const phase: Phase =
    metric.onNoData === "Fail" ? "Failed" : metric.onNoData === "Pass" ? "Successful" : "Inconclusive";
  return { phase, message: `${metric.name}: no data (${reason}); onNoData is ${metric.onNoData}` };
}

/** `min <= value <= max`, bounds inclusive, either bound optional. */
function inRange(name: string, range: { min?: number; max?: number }, value: number): Outcome {
  const { min, max } = range;
  if (max !== undefined && value > max)
    return { phase: "Failed", message: `${name} ${fmt(value)} > max ${max}` };
  if (min !== undefined && value < min)
    return { phase: "Failed", message: `${name} ${fmt(value)} < min ${min}` };
  const within =
    min !== undefined && max !== undefined
      ? `within [min ${min}, max ${max}]`
      : max !== undefined
        ? `<= max ${max}`
        : `>= min ${min}`;
  return { phase: "Successful", message: `${name} ${fmt(value)} ${within}` };
}

/**
 * Judges the canary against the live stable revision; each configured limit is checked and the
 * measurement fails if any is exceeded. Limits are inclusive.
 *
 * The ratio is only defined for a positive stable value. When the stable value is 0 or less
 * (a healthy stable with no errors at all is the common case), `maxRatio` is not applied if
 * `maxIncrease` is set, since the absolute limit is then the meaningful one; otherwise the canary
 * passes only if it is no worse than stable (canary <= stable), so a canary that introduces
 * errors where there were none fails rather than dividing by zero.
 */
function compare(
  name: string,
  limits: { maxIncrease?: number; maxRatio?: number },
  canary: number,
  stable: number,
): Outcome {
  const { maxIncrease, maxRatio } = limits;
  const checks: { failed: boolean; text: string }[] = [];
  if (maxIncrease !== undefined) {
    const increase = canary - stable;
    const failed = exceeds(increase, maxIncrease, Math.max(Math.abs(canary), Math.abs(stable)));
    checks.push({
      failed,
      text: `increase ${fmt(increase)} ${failed ? ">" : "<="} maxIncrease ${maxIncrease}`,
    });
  }
  if (maxRatio !== undefined) {
    if (stable > 0) {
      const ratio = canary / stable;
      const failed = exceeds(ratio, maxRatio, ratio);
      checks.push({ failed, text: `ratio ${fmt(ratio)} ${failed ? ">" : "<="} maxRatio ${maxRatio}` });
    } else if (maxIncrease === undefined) {
      const failed = canary > stable;
      checks.push({
        failed,
        text: `ratio undefined for stable <= 0, so canary must not exceed stable (maxRatio ${maxRatio})`,
      });
    } else {
      checks.push({ failed: false, text: "maxRatio not applied (stable <= 0)" });
    }
  }
  const failed = checks.filter((c) => c.failed);
  const shown = failed.length > 0 ? failed : checks;
  return {
    phase: failed.length > 0 ? "Failed" : "Successful",
    message: `${name} canary ${fmt(canary)} vs stable ${fmt(stable)}: ${shown.map((c) => c.text).join(", ")}`,
  };
}

/**
 * `value > limit`, ignoring differences at the scale of floating-point rounding so that a value
 * computed exactly at the limit (1.1 - 0.1 against 1.0) counts as at the limit, not over it.
 */
function exceeds(value: number, limit: number, scale: number): boolean {
  return value - limit > 1e-9 * Math.max(Math.abs(scale), Math.abs(limit));
}

/**
 * Numbers in messages to six significant digits, so a ratio 0.41/0.2 reads "2.05" and an error
 * rate computed as 0.30000000000000004 reads "0.3". The measurement keeps the exact value.
 */
function fmt(n: number): string {
  return String(Number(n.toPrecision(6)));
}
