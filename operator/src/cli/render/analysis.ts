/**
 * The analysis part of `status`: per metric, its pass condition taken from the metric's
 * definition (thresholdRange bounds, or compareToStable limits), the running counts against its
 * limits, and the last measurements with their values and the controller's judgement.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import type { Measurement, MetricResult } from "../../api/release.js";
import { join, plural, relative, table, type Cell, type Palette } from "./style.js";

export interface AnalysisRenderOptions {
  /** Metric definitions by name: the Release's own over its squad's defaults. */
  metrics: ReadonlyMap<string, AnalysisMetric>;
  now: number;
  p: Palette;
  /** How many measurements per metric to show, newest last. */
  measurementLimit: number;
}

/** Metric definitions by name; the Release's own win over the squad's defaults of the same name. */
export function metricIndex(
  own: readonly AnalysisMetric[] | undefined,
  defaults: readonly AnalysisMetric[] | undefined,
): Map<string, AnalysisMetric> {
  const index = new Map<string, AnalysisMetric>();
  for (const m of defaults ?? []) index.set(m.name, m);
  for (const m of own ?? []) index.set(m.name, m);
  return index;
}

/**
 * The pass condition of a metric, from its definition in the spec: `thresholdRange` bounds, or
 * `compareToStable` limits on the canary's difference from and ratio to the stable revision.
 */
export function thresholdText(metric: AnalysisMetric | undefined): string {
  if (!metric) return "threshold unknown (not defined in the Release or its squad's defaults)";
  const range = metric.thresholdRange;
  if (range) {
    if (range.min !== undefined && range.max !== undefined) return `${range.min} <= value <= ${range.max}`;
    if (range.max !== undefined) return `value <= ${range.max}`;
    return `value >= ${range.min}`;
  }
  const compare = metric.compareToStable;
  if (compare) {
    return join(
      [
        compare.maxIncrease !== undefined && `canary - stable <= ${compare.maxIncrease}`,
        compare.maxRatio !== undefined && `canary / stable <= ${compare.maxRatio}`,
      ],
      " and ",
    );
  }
  return "no threshold";
}

type AnalysisStatus = { startedAt: string; step?: number; metrics: MetricResult[] };

/** A titled block of every metric's results; no lines when there is nothing measured. */
export function analysisSection(
  title: string,
  analysis: AnalysisStatus | undefined,
  options: AnalysisRenderOptions,
): string[] {
  if (!analysis || analysis.metrics.length === 0) return [];
  const of = analysis.step !== undefined ? ` of step ${analysis.step}` : "";
  const heading = `${title}${of}, started ${relative(analysis.startedAt, options.now) ?? analysis.startedAt}`;
  return [heading, ...analysis.metrics.flatMap((m) => metricLines(m, options))];
}

function metricLines(result: MetricResult, options: AnalysisRenderOptions): string[] {
  const { p, now } = options;
  const metric = options.metrics.get(result.name);
  const counts = join([
    result.successful > 0 ? p.ok(`${result.successful} successful`) : "0 successful",
    result.failed > 0 ? p.bad(`${result.failed} failed`) : "0 failed",
    result.inconclusive > 0 ? p.warn(`${result.inconclusive} inconclusive`) : "0 inconclusive",
  ]);
  const limits = metric
    ? join([
        `failureLimit ${metric.failureLimit ?? 0}`,
        `inconclusiveLimit ${metric.inconclusiveLimit ?? 3}`,
        metric.minSamples !== undefined && `minSamples ${metric.minSamples}`,
      ])
    : undefined;
  const head = join([`  ${p.bold(result.name)}: ${thresholdText(metric)}`, limits], "; ");
  const shown = result.measurements.slice(-options.measurementLimit);
  const hidden = result.measurements.length - shown.length;
  const rows = shown.map((m): Cell[] => [
    relative(m.at, now) ?? m.at,
    { text: m.phase, style: measurementColor(p, m.phase) },
    valueText(m),
    m.message ?? "",
  ]);
  return [
    head,
    `    ${counts}`,
    ...(hidden > 0 ? [p.dim(`    (${plural(hidden, "earlier measurement")} not shown)`)] : []),
    ...table(rows, "    "),
  ];
}

function measurementColor(p: Palette, phase: Measurement["phase"]): (text: string) => string {
  return phase === "Successful" ? p.ok : phase === "Failed" ? p.bad : p.warn;
}

/** The canary value, and the stable one beside it for compareToStable metrics. */
function valueText(m: Measurement): string {
  if (m.stableValue !== undefined) return `${m.value ?? "-"} vs stable ${m.stableValue}`;
  return m.value ?? "-";
}
