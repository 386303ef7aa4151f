/**
 * One measurement of one metric, end to end: render the query for each revision, ask the
 * provider, judge. The only I/O is the provider call; the controller decides which metrics are
 * due (`dueMetrics`) and records the result (`recordMeasurement`).
 */
import type { AnalysisMetric } from "../api/analysis.js";
import type { Measurement } from "../api/release.js";
import { AnalysisSpecError, QueryTemplateError } from "./errors.js";
import { judge } from "./judge.js";
import type { MetricProvider } from "./provider.js";
import { renderTemplate, TEMPLATE_VARIABLES, templateVariables, type TemplateVars } from "./template.js";

/** A revision under analysis, as `status.canaryRevision`/`canaryVersion` (or stable…) name it. */
export interface RevisionRef {
  revision: string;
  version: string;
}

export interface MeasureContext {
  /**
   * The provider for a Prometheus address. Called with the metric's own `prometheus.address`, or
   * `defaultAddress` when the metric has none.
   */
  providerFor: (address: string) => MetricProvider;
  /** The squad's `delivery.prometheus.address`, if it sets one. */
  defaultAddress?: string;
  /** `spec.analysis.interval`; `{{interval}}` is the metric's own interval when it sets one. */
  defaultInterval: string;
  namespace: string;
  release: string;
  canary: RevisionRef;
  stable: RevisionRef;
  /** Aborts the queries (shutdown, lost leadership). */
  signal: AbortSignal;
  /** The measurement's time. */
  now: Date | number;
}

/**
 * The template variables for a query about `subject`: `{{revision}}` and `{{version}}` are the
 * subject's, `{{canaryRevision}}` and `{{stableRevision}}` are fixed.
 */
function varsFor(metric: AnalysisMetric, ctx: MeasureContext, subject: RevisionRef): TemplateVars {
  return {
    namespace: ctx.namespace,
    release: ctx.release,
    revision: subject.revision,
    version: subject.version,
    canaryRevision: ctx.canary.revision,
    stableRevision: ctx.stable.revision,
    interval: metric.interval ?? ctx.defaultInterval,
  };
}

/**
 * Measures `metric` once. For a `compareToStable` metric the query runs twice, concurrently:
 * once with `{{revision}}`/`{{version}}` bound to the canary and once to the stable revision.
 * Every query is rendered before any is sent, so a spec error never costs a request.
 *
 * Resolves with a Measurement for every outcome of the queries themselves (an unreachable
 * Prometheus is an Inconclusive measurement, not an exception).
 *
 * @throws QueryTemplateError when the query template is invalid, or a compareToStable query does
 *   not mention `{{revision}}` or `{{version}}` (both queries would be the same, so the
 *   comparison could never fail).
 * @throws AnalysisSpecError when no Prometheus address is configured for the metric.
 * @throws the signal's reason when `ctx.signal` aborts: a measurement cut short by shutdown is
 *   not recorded, so it cannot count toward `inconclusiveLimit`.
 */
export async function measure(metric: AnalysisMetric, ctx: MeasureContext): Promise<Measurement> {
  return measureSubjects(metric, ctx, {
    canary: varsFor(metric, ctx, ctx.canary),
    stable: varsFor(metric, ctx, ctx.stable),
    known: TEMPLATE_VARIABLES,
    compared: ["revision", "version"],
    comparedHint: "{{revision}} (or {{version}})",
    comparedWhat: "the canary and the stable revision",
  });
}

/** What a query is rendered with: the subject's variables and the baseline's, for compareToStable. */
export interface QuerySubjects {
  canary: Readonly<Record<string, string>>;
  stable: Readonly<Record<string, string>>;
  /** The variables a template may use. */
  known: readonly string[];
  /** Variables that differ between canary and stable: a compareToStable query must use one. */
  compared: readonly string[];
  /** How errors name `compared` and the two subjects. */
  comparedHint: string;
  comparedWhat: string;
}

/** The I/O a measurement needs, whatever it measures. */
export type MeasureIO = Pick<MeasureContext, "providerFor" | "defaultAddress" | "signal" | "now">;

/**
 * `measure` for any pair of subjects: a Release's canary and stable revisions, or a toggle's
 * rollout variant and its default variant. Same rendering, same address rule, same judge.
 */
export async function measureSubjects(
  metric: AnalysisMetric,
  ctx: MeasureIO,
  subjects: QuerySubjects,
): Promise<Measurement> {
  const queries = renderSubjects(metric, subjects, ctx.defaultAddress);
  const provider = ctx.providerFor(queries.address);
  const [canary, stable] = await Promise.all([
    provider.query(queries.canary, ctx.signal),
    queries.stable === undefined ? undefined : provider.query(queries.stable, ctx.signal),
  ]);
  ctx.signal.throwIfAborted();
  return judge(metric, canary, stable, ctx.now);
}

/**
 * The queries a measurement sends and where, without sending them: every spec error (a template
 * that does not render, a compareToStable query that cannot tell the subjects apart, no
 * address) is thrown here, synchronously, so a controller can check a spec with it.
 */
export function renderSubjects(
  metric: AnalysisMetric,
  subjects: QuerySubjects,
  defaultAddress: string | undefined,
): { canary: string; stable?: string; address: string } {
  const template = metric.prometheus.query;
  const canary = withMetricName(metric, () => renderTemplate(template, subjects.canary, subjects.known));
  let stable: string | undefined;
  if (metric.compareToStable) {
    const used = templateVariables(template);
    if (!subjects.compared.some((v) => used.includes(v))) {
      throw new QueryTemplateError(
        `metric ${metric.name}: a compareToStable query must use ${subjects.comparedHint} so it measures ${subjects.comparedWhat} separately`,
        template,
      );
    }
    stable = renderTemplate(template, subjects.stable, subjects.known);
  }
  const address = metric.prometheus.address ?? defaultAddress;
  if (address === undefined) {
    throw new AnalysisSpecError(
      `metric ${metric.name} has no Prometheus address: set prometheus.address on the metric or delivery.prometheus.address on the squad`,
    );
  }
  return stable === undefined ? { canary, address } : { canary, stable, address };
}

/** Prefixes a template error with the metric's name, so the InvalidSpec message says where. */
function withMetricName<T>(metric: AnalysisMetric, render: () => T): T {
  try {
    return render();
  } catch (error) {
    if (error instanceof QueryTemplateError) {
      throw new QueryTemplateError(
        `metric ${metric.name}: ${error.message}`,
        error.template,
        error.unknownVariables,
      );
    }
    throw error;
  }
}
