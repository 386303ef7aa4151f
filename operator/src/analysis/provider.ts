/**
 * The metric provider contract. Providers are small strategies behind one method, so
 * Prometheus is one implementation and a test fake is another. A provider reports what
 * happened as data and never throws: a measurement that could not be taken is judged
 * Inconclusive, never a failure or a success, and that judgement belongs to `judge`, not to
 * whichever layer happened to catch an exception.
 */

/**
 * What one query produced.
 *
 * - `value`: exactly one finite number.
 * - `noData`: the query ran but measured nothing: no series, or NaN/±Inf (e.g. a ratio over no
 *   traffic). `value` carries the raw sample text ("NaN", "+Inf") when there was one, so status
 *   can show it. How this is judged is the metric's `onNoData`.
 * - `error`: the query could not be answered (unreachable, timed out, rejected, or returned a
 *   shape that is not one number). Always judged Inconclusive.
 */
export type QueryResult =
  | { kind: "value"; value: number }
  | { kind: "noData"; reason: string; value?: string }
  | { kind: "error"; reason: string };

/** A source of instant metric values. */
export interface MetricProvider {
  /**
   * Runs one instant query. Resolves for every outcome, including abort and timeout (as an
   * `error` result); never rejects.
   */
  query(q: string, signal: AbortSignal): Promise<QueryResult>;
}
