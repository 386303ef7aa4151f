/**
 * kstatus conditions of a Release (what Flux, Argo CD and `kubectl wait` read), by phase:
 *
 * | phase                                | Ready | Reconciling | Stalled |
 * | ------------------------------------ | ----- | ----------- | ------- |
 * | Healthy                              | True  | False       | False   |
 * | Progressing, Degraded                | False | True        | False   |
 * | Paused, deliberately                 | False | False       | False   |
 * | Paused on a problem (see below)      | False | False       | True    |
 * | RolledBack, Reverted                 | False | False       | True    |
 *
 * Degraded is Reconciling because Kubernetes is restoring the stable pods on its own, as kstatus
 * reports an unavailable Deployment. Deliberate holds (spec.paused, the pause action, a pause
 * step, a blue-green preview awaiting promotion) are neither in progress nor failed. Holds on a
 * problem (AnalysisFailed or ProgressDeadlineExceeded with `onFailure: Pause`, and
 * InconclusiveAnalysis) are Stalled: the rollout cannot finish until a person acts. RolledBack
 * is Stalled too, with reason RolledBack and the rollback's message: the spec asks for a
 * revision that will not run until a person reverts the template or asks `retry`, so kstatus
 * reads Failed and a Flux health check fails at once instead of waiting for its timeout.
 * Ready is False with reason RolledBack, and a kind-specific `RolledBack` condition (True only
 * in that phase) carries the cause (AnalysisFailed, ProgressDeadlineExceeded, Aborted) and the
 * message naming metric, values and threshold.
 *
 * Reverted (post-promotion verification failed, the previous revision is stable again) reads as
 * RolledBack does, with a `Reverted` condition instead: reason PostPromotionAnalysisFailed and a
 * message naming the failing metric, its value and the threshold.
 *
 * A rollback that holds because the stable revision is not ready (`stable-hold.ts`) says so:
 * Ready is False and Reconciling True (Kubernetes is restoring the stable pods) with reason
 * `StableUnavailable` and a message naming the stable revision and its ready pods; Stalled and
 * RolledBack stay as for any rollback.
 */
import type { PauseReason, ReleaseStatus } from "../../api/release.js";
import { removeCondition, setCondition, type Condition } from "../../runtime/conditions.js";
import { holdMessage, rollbackHolds, STABLE_UNAVAILABLE, stableShortfall } from "./stable-hold.js";
import type { Ctx } from "./state.js";

/** Holds that are problems (Stalled=True); the others are deliberate. */
export const PROBLEM_HOLDS: ReadonlySet<PauseReason> = new Set([
  "InconclusiveAnalysis",
  "AnalysisFailed",
  "AnalysisDeadlineExceeded",
  "ProgressDeadlineExceeded",
]);

/**
 * Ready/Reconciling/Stalled (and RolledBack) from the phase; see the table at the top of this
 * file. `setCondition` keeps `lastTransitionTime` unless the status flips.
 */
export function conditionsFor(s: ReleaseStatus, ctx: Ctx): Condition[] {
  const phase = s.phase ?? "Progressing";
  const reason = phase === "Paused" ? (s.pauseReason ?? "Paused") : phase;
  const message = s.message ?? "";
  const reconciling = phase === "Progressing" || phase === "Degraded";
  const stalled =
    phase === "RolledBack" ||
    phase === "Reverted" ||
    (phase === "Paused" && s.pauseReason !== undefined && PROBLEM_HOLDS.has(s.pauseReason));
  const observedGeneration = ctx.snap.release.metadata.generation;
  const set = (
    c: readonly Condition[] | undefined,
    type: string,
    on: boolean,
    text: string,
    why: string = reason,
  ) =>
    setCondition(
      c,
      { type, status: on ? "True" : "False", reason: why, message: text, observedGeneration },
      ctx.now,
    );
  const short = rollbackHolds(ctx.snap, s) ? stableShortfall(ctx.snap, s) : undefined;
  let out: Condition[];
  if (short) {
    const held = `rollback holds: ${holdMessage(short)}`;
    out = set(s.conditions, "Ready", false, held, STABLE_UNAVAILABLE);
    out = set(out, "Reconciling", true, held, STABLE_UNAVAILABLE);
  } else {
    out = set(s.conditions, "Ready", phase === "Healthy", message);
    out = set(out, "Reconciling", reconciling, reconciling ? message : "");
  }
  out = set(out, "Stalled", stalled, stalled ? message : "");
  const cause = s.history?.find((h) => h.revision === s.canaryRevision && h.outcome === "RolledBack")?.reason;
  for (const kind of ["RolledBack", "Reverted"] as const) {
    out =
      phase === kind
        ? setCondition(
            out,
            { type: kind, status: "True", reason: cause ?? kind, message, observedGeneration },
            ctx.now,
          )
        : removeCondition(out, kind);
  }
  return out;
}
