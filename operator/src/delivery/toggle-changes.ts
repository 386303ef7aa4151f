/**
 * A FeatureToggle's guarded ramp as a change for the squad's delivery metrics: turning a feature
 * on is a change like a deployment. A completed ramp is deployed; a ramp rolled back (a failed
 * analysis, an abort) is a failed change. Each ramp (its `status.rollout.id`) is one change,
 * read as a one-entry Release history, so the ledger counts it as it counts Releases, once.
 */
import type { FeatureToggle } from "../api/kinds.js";
import type { HistoryEntry } from "../api/release.js";
import type { ReleaseHistory } from "./changes.js";

/** The ledger name of a toggle's changes: `namespace/featuretoggle/name`, never a Release's. */
export function toggleChangeSource(toggle: Pick<FeatureToggle, "metadata">): string {
  return `${toggle.metadata.namespace ?? ""}/featuretoggle/${toggle.metadata.name ?? ""}`;
}

/** The toggle's ramp as a history the ledger folds; none while it runs or without a ramp. */
export function toggleRampHistory(
  toggle: Pick<FeatureToggle, "metadata" | "status">,
): ReleaseHistory | undefined {
  const r = toggle.status?.rollout;
  if (!r) return undefined;
  const base = { revision: r.id, version: `variant ${r.variant}`, startedAt: r.startedAt };
  let entry: HistoryEntry | undefined;
  if (r.phase === "Completed" && r.completedAt) {
    entry = { ...base, finishedAt: r.completedAt, outcome: "Promoted" };
  } else if (r.phase === "RolledBack" && r.rolledBackAt) {
    const firstFailed = r.analysis?.metrics
      .flatMap((m) => m.measurements.filter((x) => x.phase === "Failed").map((x) => x.at))
      .sort()[0];
    entry = {
      ...base,
      finishedAt: r.rolledBackAt,
      outcome: "RolledBack",
      reason: r.failedMetric ? "AnalysisFailed" : "Aborted",
      ...(firstFailed ? { failureStartedAt: firstFailed } : {}),
    };
  }
  return entry ? { release: toggleChangeSource(toggle), status: { history: [entry] } } : undefined;
}
