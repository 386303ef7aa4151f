/**
 * `undo` (`kubectl crescendo undo`): return a steady Release to a previous revision kept in a
 * ControllerRevision, in one write and with no steps or analysis (like a rollback: the stable
 * Service and the route go straight to it, and the plan recreates its Deployment from the
 * ControllerRevision if it is gone). `spec.template` is left as GitOps wrote it: the Release
 * records in `status.override` that it runs an undone revision instead, and the next
 * `spec.template` of another revision ends the override (`endOverride`) and rolls out as usual.
 *
 * The target is the annotated `crescendo.dev/undo-revision`, or else the most recent previous
 * revision. One with no ControllerRevision has no template to return to: refused, with a
 * Warning. The rollback window (`spec.rollbackWindow`) is the CLI's confirmation, not a limit
 * here: a person confirmed an older target, and the annotation is what they asked for.
 *
 * Pure.
 */
import type { ReleaseStatus } from "../../api/release.js";
import { asRecord } from "../../runtime/is-record.js";
import { historyEntry, recordHistory, endDegradation } from "./history.js";
import { park, previousStable, without } from "./scale-down.js";
import type { ReleaseSnapshot } from "./snapshot.js";
import { normal, ROLLOUT_CLEARED, warning, type Ctx, type Next, type State } from "./state.js";

/** A revision kept in a ControllerRevision, with its `spec.version` when known. */
export interface PreviousRevision {
  revision: string;
  version?: string;
}

/**
 * The revisions an undo may return to, most recent first: every one kept in a ControllerRevision
 * other than `current` (the running stable), ordered by the ControllerRevision's number.
 */
export function previousRevisions(snap: ReleaseSnapshot, current: string | undefined): PreviousRevision[] {
  return Object.values(snap.revisions ?? {})
    .filter((r) => r.revision !== current)
    .sort((a, b) => b.number - a.number)
    .map((r) => {
      const version = asRecord(asRecord(r.data)["release"])["version"];
      return { revision: r.revision, ...(typeof version === "string" ? { version } : {}) };
    });
}

/** What the action did (`next`, when anything) and the result `status.lastAction` records. */
export interface UndoOutcome {
  next?: Next;
  result: string;
}

/** The `undo` action with id `id`, asking for `requested` (or the most recent previous revision). */
export function undo(
  ctx: Ctx,
  s: ReleaseStatus,
  state: State,
  id: string,
  requested: string | undefined,
): UndoOutcome {
  if (state.kind === "Initial") return { result: "ignored: nothing is deployed yet" };
  if (state.kind === "Rolling") return { result: "ignored: a rollout is in progress; abort it instead" };
  if (state.kind === "RolledBack")
    return { result: "ignored: the rollout was rolled back; the stable revision already serves" };
  if (requested !== undefined && requested === s.stableRevision)
    return { result: `ignored: revision ${requested} is already running` };
  const previous = previousRevisions(ctx.snap, s.stableRevision);
  const target = requested === undefined ? previous[0] : previous.find((p) => p.revision === requested);
  if (!target) return refuse(s, requested);
  const version = target.version ?? s.history?.find((h) => h.revision === target.revision)?.version;
  const from = `${s.stableVersion ?? ""} (revision ${s.stableRevision ?? ""})`;
  const to = `${version ?? ""} (revision ${target.revision})`;
  const note = `undone by action ${id}: ${from} replaced by ${to}; spec.template (revision ${ctx.revision}) is overridden until it changes`;
  // Recorded as a promotion of a revision deployed before: delivery metrics count it as a revert.
  // An incident's undo says when the failure began (its alert's start): recovery counts from there,
  // and its action id (incident-<id>) links the revert to the incident whose resolution ends it.
  const failureStartedAt = ctx.snap.action?.id === id ? ctx.snap.action.failureStartedAt : undefined;
  const entry = historyEntry(target.revision, version ?? "", ctx.at, ctx.at, "Promoted", "Undone", {
    failureStartedAt,
    replacedRevision: s.stableRevision,
    actionId: id,
  });
  const restored = endDegradation(s, ctx.at, "SwitchedBack");
  const status: ReleaseStatus = {
    ...restored,
    ...ROLLOUT_CLEARED,
    stableRevision: target.revision,
    stableVersion: version,
    scaleDown: park(without(s.scaleDown, target.revision), previousStable(ctx, s)),
    history: recordHistory(restored.history, entry),
    override: {
      revision: target.revision,
      ...(version !== undefined ? { version } : {}),
      specRevision: ctx.revision,
      at: ctx.at,
      actionId: id,
    },
    // Healthy once the revision is available at full size (`steady`), Degraded never before.
    phase: "Progressing",
    message: note,
  };
  return { next: { status, events: [normal("Undone", note)] }, result: `returned to ${to}` };
}

/**
 * No ControllerRevision keeps the target: nothing to return to. A Warning says so, and
 * `status.lastAction.result` (the steady state's own message would replace a status message).
 */
function refuse(s: ReleaseStatus, requested: string | undefined): UndoOutcome {
  const why =
    requested === undefined
      ? "no previous revision is kept in a ControllerRevision"
      : `revision ${requested} is not kept in a ControllerRevision (see kubectl get controllerrevisions -l crescendo.dev/release)`;
  const result = `refused: ${why}`;
  return {
    next: { status: s, events: [warning("UndoRefused", why)] },
    result,
  };
}

/**
 * While an undo overrides `spec.template`: nothing to roll out while the template is the one
 * undone (undefined); a template of any other revision ends the override (the Event says so)
 * and `change` decides what it means, as without one.
 */
export function endOverride(
  ctx: Ctx,
  s: ReleaseStatus,
  change: (s: ReleaseStatus) => Next | undefined,
): Next | undefined {
  const o = s.override;
  if (!o) return change(s);
  if (ctx.revision === o.specRevision) return undefined;
  const ended: ReleaseStatus = { ...s, override: undefined };
  const note = `spec.template changed to revision ${ctx.revision}: the undo to revision ${o.revision} (action ${o.actionId}) ends`;
  const next = change(ended) ?? { status: ended };
  return { ...next, events: [normal("OverrideEnded", note), ...(next.events ?? [])] };
}
