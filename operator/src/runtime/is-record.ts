/**
 * The one guard for reading JSON nobody has validated yet (a stored spec, a kubeconfig, an
 * apiserver answer): a JSON object is neither null nor an array.
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value` when it is a JSON object, else an empty one, so lenient readers can chain lookups. */
export function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
