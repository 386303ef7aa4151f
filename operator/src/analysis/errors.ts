/**
 * Errors that mean the analysis *spec* is wrong, as opposed to a measurement that could not be
 * taken. They are thrown, never turned into Inconclusive measurements: retrying a bad template
 * cannot succeed, so the Release controller reports them as `Stalled` with reason `InvalidSpec`
 * and waits for the spec to change.
 */

/** Base class, so the controller can catch every spec error with one `instanceof`. */
export class AnalysisSpecError extends Error {
  override name = "AnalysisSpecError";
}

/** A query template names a variable that does not exist, or is malformed. */
export class QueryTemplateError extends AnalysisSpecError {
  override name = "QueryTemplateError";

  constructor(
    message: string,
    /** The template as written in the spec. */
    readonly template: string,
    /** Variable names used in the template that are not known; empty for other problems. */
    readonly unknownVariables: readonly string[] = [],
  ) {
    super(message);
  }
}
