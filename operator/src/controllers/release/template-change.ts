/**
 * Template changes: the only way a new revision enters. The revision of `spec.template` is
 * compared with the stable, the canary and the parked revisions: the first ever becomes stable
 * at once; a new one starts a rollout; the stable one reverts an in-flight rollout; a parked one
 * (replaced recently, still running at full size) is switched back to with no steps to go
 * through again.
 */
import type { ReleaseStatus } from "../../api/release.js";
import { endDegradation, historyEntry, recordHistory } from "./history.js";
import { liveScaleDown, park, previousStable, without, type ScaleDownEntry } from "./scale-down.js";
import { isReadyAt } from "./observed.js";
import { deploymentOf } from "./snapshot.js";
import { normal, rolledBack, ROLLOUT_CLEARED, type Ctx, type Next, type RolloutEvent } from "./state.js";
import { startStages } from "./transitions.js";

/**
 * What the revision of `spec.template` means under `s`: nothing new (undefined), a revert to the
 * stable revision, a switch back to a parked one, or a new rollout.
 */
export function templateChange(ctx: Ctx, s: ReleaseStatus): Next | undefined {
  if (ctx.revision === s.stableRevision) return s.canaryRevision ? revertToStable(ctx, s) : undefined;
  if (ctx.revision === s.canaryRevision) return undefined;
  const parked = liveScaleDown(ctx, s).find((e) => e.revision === ctx.revision);
  // A switch back moves every request at once, so only to a revision still serving at full
  // size; one whose Deployment is gone or short of pods is rolled out again, step by step.
  const serving = parked && isReadyAt(deploymentOf(ctx.snap, parked.revision), ctx.spec.replicas);
  return parked && serving ? switchBack(ctx, s, parked) : startRollout(ctx, s);
}

/** The very first revision has nothing to be compared with: it becomes stable directly. */
export function firstApply(ctx: Ctx, s: ReleaseStatus): Next {
  const note = `deploying ${ctx.spec.version} (revision ${ctx.revision})`;
  return {
    status: {
      ...s,
      stableRevision: ctx.revision,
      stableVersion: ctx.spec.version,
      phase: "Progressing",
      message: note,
    },
    events: [normal("Deploying", note)],
  };
}

/** A new revision: stage 0 now, or (while `spec.paused`) only its record until the pause is cleared. */
function startRollout(ctx: Ctx, s: ReleaseStatus): Next {
  const superseded = supersede(ctx, s, "NewRevision");
  const note = `rolling out ${ctx.spec.version} (revision ${ctx.revision}) to replace ${s.stableVersion ?? ""}`;
  const base: ReleaseStatus = {
    ...superseded.status,
    ...ROLLOUT_CLEARED,
    canaryRevision: ctx.revision,
    canaryVersion: ctx.spec.version,
    rolloutStartedAt: ctx.at,
    analysis: undefined,
    backgroundAnalysis: undefined,
    scaleDown: without(s.scaleDown, ctx.revision),
  };
  const started = startStages(ctx, base, note);
  return { ...started, events: [...superseded.events, ...(started.events ?? [])] };
}

/** The template was set back to the stable revision: the canary goes, the stable stays as it is. */
function revertToStable(ctx: Ctx, s: ReleaseStatus): Next {
  const superseded = supersede(ctx, s, "RevertedToStable");
  const note = `template reverted to ${s.stableVersion ?? ""}; canary ${s.canaryVersion ?? ""} removed`;
  return {
    status: { ...superseded.status, ...ROLLOUT_CLEARED, phase: "Healthy", message: note },
    events: [...superseded.events, normal("RevertedToStable", note)],
  };
}

/**
 * The template names a revision that was replaced recently and still runs at full size, kept
 * for `scaleDownDelaySeconds`: switch back to it at once (a selector switch, as Argo Rollouts'
 * rollback window), with no steps to go through again.
 */
function switchBack(ctx: Ctx, s: ReleaseStatus, parked: ScaleDownEntry): Next {
  const superseded = supersede(ctx, s, "SwitchedBack");
  const version = parked.version ?? ctx.spec.version;
  const note = `switched back to ${version} (revision ${parked.revision}), still running`;
  const entry = historyEntry(parked.revision, version, ctx.at, ctx.at, "Promoted", "SwitchedBack", {
    replacedRevision: s.stableRevision,
  });
  // The replaced stable's Degraded period, if any, ends with the switch back.
  const restored = endDegradation(superseded.status, ctx.at, "SwitchedBack");
  return {
    status: {
      ...restored,
      ...ROLLOUT_CLEARED,
      stableRevision: parked.revision,
      stableVersion: version,
      scaleDown: park(without(s.scaleDown, parked.revision), previousStable(ctx, s)),
      history: recordHistory(restored.history, entry),
      phase: "Healthy",
      message: note,
    },
    events: [...superseded.events, normal("SwitchedBack", note)],
    promoted: { revision: parked.revision, version },
  };
}

/** Ends an in-flight canary as Superseded in the history; a rolled-back one is already recorded. */
function supersede(
  ctx: Ctx,
  s: ReleaseStatus,
  reason: string,
): { status: ReleaseStatus; events: RolloutEvent[] } {
  if (!s.canaryRevision || rolledBack(s)) return { status: s, events: [] };
  const version = s.canaryVersion ?? "";
  const entry = historyEntry(
    s.canaryRevision,
    version,
    s.rolloutStartedAt ?? ctx.at,
    ctx.at,
    "Superseded",
    reason,
  );
  const note = `rollout of ${version} (revision ${s.canaryRevision}) superseded: ${reason}`;
  return { status: { ...s, history: recordHistory(s.history, entry) }, events: [normal("Superseded", note)] };
}
