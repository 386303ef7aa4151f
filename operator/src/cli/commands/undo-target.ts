/**
 * Which revision `kubectl crescendo undo` returns to, and whether a person must confirm it: the
 * previous revisions are those kept in ControllerRevisions other than the running stable one,
 * most recent first; the first `spec.rollbackWindow.revisions` (default 2) need no confirmation.
 * Pure; the controller checks again that the target is kept (`controllers/release/undo.ts`).
 */
import { asRecord } from "../../runtime/is-record.js";
import type { KubeObject } from "../../runtime/types.js";
import { LABELS } from "../../api/common.js";

/** `spec.rollbackWindow.revisions` when the block is absent (the schema's default). */
export const DEFAULT_ROLLBACK_WINDOW = 2;

export interface PreviousRevision {
  revision: string;
  version?: string;
}

export type UndoTarget =
  { revision: string; version?: string; position: number; confirm: boolean } | { error: string };

/** The Release's revisions kept in `controllerRevisions`, most recent first, without `stable`. */
export function previousRevisions(
  controllerRevisions: readonly KubeObject[],
  stable: string | undefined,
): PreviousRevision[] {
  return controllerRevisions
    .map((cr) => ({
      revision: cr.metadata.labels?.[LABELS.revision] ?? "",
      number: typeof cr["revision"] === "number" ? cr["revision"] : 0,
      version: asRecord(asRecord(cr["data"])["release"])["version"],
    }))
    .filter((r) => r.revision !== "" && r.revision !== stable)
    .sort((a, b) => b.number - a.number)
    .map((r) => ({ revision: r.revision, ...(typeof r.version === "string" ? { version: r.version } : {}) }));
}

/**
 * The target (the requested revision, else the most recent previous one), its position among
 * the previous revisions (1 = the most recent) and whether it lies outside the window.
 */
export function undoTarget(
  previous: readonly PreviousRevision[],
  stable: string | undefined,
  requested: string | undefined,
  window: number,
): UndoTarget {
  if (requested !== undefined && requested === stable)
    return { error: `revision ${requested} is already running` };
  if (previous.length === 0) return { error: "no previous revision is kept in a ControllerRevision" };
  const index = requested === undefined ? 0 : previous.findIndex((p) => p.revision === requested);
  const found = previous[index];
  if (!found) {
    // With their versions: a person who typed a version (or kubectl rollout undo's number) sees
    // which hash to give.
    const kept = previous.map((p) => (p.version ? `${p.revision} (${p.version})` : p.revision)).join(", ");
    return {
      error: `revision ${requested ?? ""} is not kept in a ControllerRevision (kept, most recent first: ${kept}); --to-revision takes a revision hash`,
    };
  }
  return { ...found, position: index + 1, confirm: index + 1 > window };
}
