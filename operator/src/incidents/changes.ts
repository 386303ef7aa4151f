/**
 * The changes incident correlation looks at, read from what the operator already keeps: a
 * Release's promotions in `status.history` (the time it reached full traffic, and the revision),
 * and a FeatureToggle's `status.specChangedAt` and guarded ramp start. Pure.
 */
import type { FeatureToggleStatus } from "../api/featuretoggle.js";
import type { HistoryEntry } from "../api/release.js";
import type { Change } from "./correlate.js";

interface Named {
  metadata: { namespace?: string; name?: string };
}

/**
 * A Release's changes: each promoted revision at its promotion time, undos included and marked
 * (history reason `Undone`), since correlation never reverts one.
 */
export function releaseChanges(
  release: Named & { status?: { history?: readonly HistoryEntry[] } },
  squad: string,
): Change[] {
  const namespace = release.metadata.namespace ?? "";
  const name = release.metadata.name ?? "";
  return (release.status?.history ?? [])
    .filter((h) => h.outcome === "Promoted" && h.finishedAt !== undefined)
    .map((h) => ({
      kind: "Release",
      namespace,
      name,
      squad,
      at: h.finishedAt as string,
      revision: h.revision,
      ...(h.replacedRevision ? { replaced: h.replacedRevision } : {}),
      ...(h.reason === "Undone" ? { undo: true } : {}),
    }));
}

/** A FeatureToggle's changes: its last spec change, and the start of its ramp. */
export function toggleChanges(toggle: Named & { status?: FeatureToggleStatus }, squad: string): Change[] {
  const namespace = toggle.metadata.namespace ?? "";
  const name = toggle.metadata.name ?? "";
  const times = [toggle.status?.specChangedAt, toggle.status?.rollout?.startedAt].filter(
    (t): t is string => t !== undefined && !Number.isNaN(Date.parse(t)),
  );
  return [...new Set(times)].map((at) => ({ kind: "FeatureToggle", namespace, name, squad, at }));
}
