/**
 * What a reconcile reports once its status write went through, decided without I/O: the Event
 * `action` of each step event, and the facts of a new rollback: the verdict that decided it,
 * when the deciding measurement was taken, and the time to rollback. (The on-call payload is
 * built from the rollback's pending notification in status: `delivery.ts`.)
 */
import type { ReleaseStatus } from "../../api/release.js";
import type { AnalysisKind, SettledMeasurement } from "./measurements.js";
import { isNewRollback } from "./notify.js";
import type { ReleaseSnapshot } from "./snapshot.js";
import type { RollbackReason, StepResult } from "./state.js";

/** The Event `action` (what the controller did) for a step event's reason. */
export function actionOf(reason: string): string {
  switch (reason) {
    case "RolledBack":
    case "Reverted":
      return "Rollback";
    case "Promoted":
    case "PromotedFull":
    case "SwitchedBack":
      return "Promote";
    case "ActionAccepted":
    case "ActionIgnored":
      return "Action";
    default:
      return "Rollout";
  }
}

/** The Failed verdict that decided a rollback: post-promotion (a revert), else step analysis first. */
export function failedVerdict(
  snapshot: ReleaseSnapshot,
): { kind: AnalysisKind; metric?: string } | undefined {
  if (snapshot.analysis.postPromotion?.phase === "Failed") {
    return { kind: "postPromotion", metric: snapshot.analysis.postPromotion.metric };
  }
  if (snapshot.analysis.step?.phase === "Failed")
    return { kind: "step", metric: snapshot.analysis.step.metric };
  if (snapshot.analysis.background?.phase === "Failed") {
    return { kind: "background", metric: snapshot.analysis.background.metric };
  }
  return undefined;
}

/**
 * When the measurement that decided a rollback was taken: the last Failed measurement of the
 * failing metric. Its `at` has second precision, so when it was taken by this process during
 * this reconcile's fold, the exact start time is used instead.
 */
export function decidingMeasurementTime(
  status: ReleaseStatus,
  failed: { kind: AnalysisKind; metric?: string },
  recorded: readonly SettledMeasurement[],
): number | undefined {
  const analysis = {
    step: status.analysis,
    background: status.backgroundAnalysis,
    postPromotion: status.postPromotion,
  }[failed.kind];
  const result = analysis?.metrics.find((r) => r.name === failed.metric);
  const last = result?.measurements.findLast((m) => m.phase === "Failed");
  if (!last) return undefined;
  const exact = recorded.find((s) => s.kind === failed.kind && s.measurement === last);
  if (exact) return exact.takenAt;
  const at = Date.parse(last.at);
  return Number.isNaN(at) ? undefined : at;
}

/** A rollback as it is counted and logged. */
export interface RollbackReport {
  reason: RollbackReason;
  revision: string;
  /** From the deciding measurement (else the reconcile's clock reading) to the objects applied. */
  seconds: number;
}

/**
 * The report of the rollback this reconcile's status write recorded, or undefined when it
 * recorded none: one report per rollback, from the reconcile whose status write recorded it,
 * never again for a RolledBack Release reconciled later, whatever memory the process has (or lost).
 */
export function rollbackReport(input: {
  /** The status observed before this reconcile (the Release as read). */
  before: ReleaseStatus | undefined;
  result: StepResult;
  snapshot: ReleaseSnapshot;
  /** The measurements this reconcile folded into status. */
  recorded: readonly SettledMeasurement[];
  /** When the plan's objects were applied: traffic back on stable. */
  appliedAt: number;
}): RollbackReport | undefined {
  const { result, snapshot } = input;
  const rolledBack = result.rolledBack;
  if (!rolledBack || !isNewRollback(input.before, result.status)) return undefined;
  const byAnalysis =
    rolledBack.reason === "AnalysisFailed" || rolledBack.reason === "PostPromotionAnalysisFailed";
  const failed = byAnalysis ? failedVerdict(snapshot) : undefined;
  const decidedAt =
    (failed && decidingMeasurementTime(snapshot.release.status ?? {}, failed, input.recorded)) ??
    snapshot.now;
  return {
    reason: rolledBack.reason,
    revision: rolledBack.revision,
    seconds: (input.appliedAt - decidedAt) / 1000,
  };
}
