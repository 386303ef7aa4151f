/**
 * `spec.version` as a label value, shared by the Deployments (`plan.ts`) and the
 * ControllerRevisions (`controller-revisions.ts`) of a revision. A leaf module.
 */

/**
 * `spec.version` as a label value: free text (`1.4.2+build.7`) becomes `[A-Za-z0-9._-]`, at
 * most 63 characters, starting and ending alphanumeric; undefined when nothing is left.
 */
export function labelValue(text: string | undefined): string | undefined {
  const value = (text ?? "")
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  return value === "" ? undefined : value;
}
