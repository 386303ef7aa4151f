/**
 * Analysis: judging a revision by its metrics. The Release controller uses
 * `dueMetrics`/`nextDueInMs` to pick what to measure, `measure` to take a measurement,
 * `recordMeasurement` to fold it into status, and `verdict` to decide the step.
 */
export { AnalysisSpecError, QueryTemplateError } from "./errors.js";
export { judge, measurementTime } from "./judge.js";
export {
  measure,
  measureSubjects,
  renderSubjects,
  type MeasureContext,
  type MeasureIO,
  type QuerySubjects,
  type RevisionRef,
} from "./measure.js";
export {
  createPrometheusProvider,
  DEFAULT_QUERY_TIMEOUT_MS,
  interpretResponse,
  type PrometheusProviderOptions,
} from "./prometheus.js";
export type { MetricProvider, QueryResult } from "./provider.js";
export {
  ANALYSIS_DEADLINE_FACTOR,
  analysisDeadlineMs,
  dueMetrics,
  intervalMs,
  MAX_MEASUREMENTS,
  nextDueInMs,
  recordMeasurement,
  verdict,
  type Verdict,
  type VerdictPhase,
} from "./results.js";
export {
  escapePromQLString,
  renderQuery,
  renderTemplate,
  TEMPLATE_VARIABLES,
  templateVariables,
  type TemplateVariable,
  type TemplateVars,
} from "./template.js";
export {
  cadenceMs,
  lastMeasuredAt,
  UNATTENDED_SLACK_MS,
  unattendedGapMs,
  unattendedSecondsBefore,
  type RecordedAnalysis,
} from "./unattended.js";
