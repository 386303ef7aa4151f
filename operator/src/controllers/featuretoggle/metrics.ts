/**
 * `crescendo_featuretoggle_*` and `crescendo_ofrep_*` metrics, on the shared registry that
 * `/metrics` serves. Label sets stay bounded: namespaces and toggle names are objects people
 * created (and their series are removed when the objects go), flag keys come only from served
 * documents (the OFREP handler reports an unknown namespace or key as ""), reasons and routes
 * are small enums. A toggle's state is exported as its current state only (one series, value
 * 1), not as one series per possible state.
 */
import { Counter, Gauge, Histogram, type Metric } from "prom-client";
import { EFFECTIVE_STATES } from "../../api/featuretoggle.js";
import type { OfrepMetrics } from "../../flags/ofrep.js";
import { registry } from "../../observability/metrics.js";

/** What `crescendo_featuretoggle_state` reports: the effective states, plus Invalid for a spec that fails validation. */
export const TOGGLE_STATES = [...EFFECTIVE_STATES, "Invalid"] as const;
export type ToggleMetricState = (typeof TOGGLE_STATES)[number];

/** Fine below 10 ms, where in-memory evaluations live; coarse up to the 30 s request timeout. */
const OFREP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Registered once on the shared registry, even if this module is evaluated twice (tests). */
function once<M extends Metric>(name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

const state = once(
  "crescendo_featuretoggle_state",
  () =>
    new Gauge({
      name: "crescendo_featuretoggle_state",
      help: "1 for the state each FeatureToggle is in (Enabled, Disabled, KilledByRollback, Invalid); the other states have no series (one series per toggle).",
      labelNames: ["namespace", "toggle", "state"] as const,
      registers: [registry],
    }),
);

const stale = once(
  "crescendo_featuretoggle_stale",
  () =>
    new Gauge({
      name: "crescendo_featuretoggle_stale",
      help: "1 when a FeatureToggle is past spec.expiresAt or its type's lifetime, else 0.",
      labelNames: ["namespace", "toggle"] as const,
      registers: [registry],
    }),
);

/**
 * Evaluations are counted in plain Maps (`EvaluationMetrics`), one increment per flag evaluated
 * (a thousand in a bulk request over 1,000 flags), and read into the counter when Prometheus
 * scrapes: prom-client's labelled `inc` hashes its labels on every call, which cost a fifth of a
 * bulk request's CPU. The series and their labels are the same as when they were incremented.
 */
const evaluationCounts = new Map<string, Map<string, Map<string, number>>>();

once(
  "crescendo_featuretoggle_evaluations_total",
  () =>
    new Counter({
      name: "crescendo_featuretoggle_evaluations_total",
      help: 'Flag evaluations served over OFREP, by namespace, flag key and reason (namespace and flag are "" when not served).',
      labelNames: ["namespace", "flag", "reason"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [namespace, flags] of evaluationCounts)
          for (const [flag, reasons] of flags)
            for (const [reason, count] of reasons) this.inc({ namespace, flag, reason }, count);
      },
    }),
);

const requestDuration = once(
  "crescendo_ofrep_request_duration_seconds",
  () =>
    new Histogram({
      name: "crescendo_ofrep_request_duration_seconds",
      help: "Time to answer an OFREP request, by route and HTTP status code.",
      labelNames: ["route", "code"] as const,
      buckets: OFREP_BUCKETS,
      registers: [registry],
    }),
);

/**
 * The toggle gauges, with the names reported per namespace remembered so a reconcile can drop
 * the series of toggles that no longer exist.
 */
class ToggleMetrics {
  /** Per namespace, per toggle: the state and staleness last set, so an unchanged toggle costs nothing. */
  private readonly reported = new Map<string, Map<string, string>>();

  /**
   * Sets one toggle's state and staleness. Only the current state has a series (value 1): the
   * other states' series are removed, not set to 0, so a toggle costs one state series instead
   * of one per possible state, and a state change leaves no series behind.
   */
  set(namespace: string, toggle: string, current: ToggleMetricState, isStale: boolean): void {
    let names = this.reported.get(namespace);
    if (!names) this.reported.set(namespace, (names = new Map()));
    // Every reconcile of a namespace reports all its toggles; prom-client's label lookups
    // allocate, so only a change touches the gauges.
    const reported = `${current}/${isStale}`;
    if (names.get(toggle) === reported) return;
    names.set(toggle, reported);
    for (const s of TOGGLE_STATES) {
      if (s === current) state.set({ namespace, toggle, state: s }, 1);
      else state.remove({ namespace, toggle, state: s });
    }
    stale.set({ namespace, toggle }, isStale ? 1 : 0);
  }

  /** Removes the series of every toggle in the namespace not named in `present`. */
  retain(namespace: string, present: Iterable<string>): void {
    const keep = new Set(present);
    const names = this.reported.get(namespace);
    if (!names) return;
    for (const toggle of [...names.keys()]) {
      if (keep.has(toggle)) continue;
      for (const s of TOGGLE_STATES) state.remove({ namespace, toggle, state: s });
      stale.remove({ namespace, toggle });
      names.delete(toggle);
    }
    if (names.size === 0) this.reported.delete(namespace);
  }
}

/**
 * The OFREP server's hook: counts per (namespace, flag, reason) in `evaluationCounts`, so the
 * counts of a flag that is no longer served can be dropped with its series.
 */
class EvaluationMetrics implements OfrepMetrics {
  evaluation(labels: { namespace: string; key: string; reason: string }): void {
    const { namespace, key, reason } = labels;
    let flags = evaluationCounts.get(namespace);
    if (!flags) evaluationCounts.set(namespace, (flags = new Map()));
    let reasons = flags.get(key);
    if (!reasons) flags.set(key, (reasons = new Map()));
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }

  request(labels: { route: string; code: number }, seconds: number): void {
    requestDuration.observe({ route: labels.route, code: String(labels.code) }, seconds);
  }

  /** Drops the evaluation counts (and so the series) of flags the namespace no longer serves. */
  retainFlags(namespace: string, served: Iterable<string>): void {
    const flags = evaluationCounts.get(namespace);
    if (!flags || namespace === "") return;
    const keep = new Set(served);
    for (const flag of [...flags.keys()]) if (!keep.has(flag) && flag !== "") flags.delete(flag);
    if (flags.size === 0) evaluationCounts.delete(namespace);
  }
}

/** One instance per process, like the registry they report to. */
export const toggleMetrics = new ToggleMetrics();
export const evaluationMetrics = new EvaluationMetrics();
