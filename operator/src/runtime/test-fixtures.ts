/**
 * Helpers the runtime's tests and the controllers' share. Not a test file itself; excluded from
 * the build.
 */

/** RFC 7386 application: what the apiserver makes of a merge patch (tests check diffs and writes with it). */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    // defineProperty, not assignment: "__proto__" is an ordinary key in JSON.
    if (v === null) delete out[k];
    else
      Object.defineProperty(out, k, {
        value: applyMergePatch(Object.hasOwn(out, k) ? out[k] : undefined, v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return out;
}
