/**
 * How a spec that fails its zod schema is reported, the same way for every kind: one line in
 * the Stalled condition's message naming each bad field.
 */
import type { z } from "zod";

/**
 * A zod error as one line naming each bad field, e.g.
 * `spec.members[0].namespace: a ServiceAccount member needs a namespace`.
 */
export function zodMessage(error: z.ZodError, root = "spec"): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === "number" ? `${acc}[${part}]` : `${acc}.${String(part)}`),
        root,
      );
      return `${path}: ${issue.message}`;
    })
    .join("; ");
}
