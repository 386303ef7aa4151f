/**
 * Every revision's pod template, kept durably in an `apps/v1` ControllerRevision named
 * `<release>-<revision>` and owned by the Release, as StatefulSets and DaemonSets keep theirs.
 * A Deployment is the only other place a revision's template lives, and only the current
 * revision can be rendered from `spec.template`: without this, a stable Deployment deleted
 * during a canary (by hand, a GitOps prune, a namespace cleanup) could not be recreated, and a
 * rollback would have nothing to roll back to.
 *
 * Which revisions are kept: the live ones (stable, canary, parked for scale-down), the one a
 * post-promotion window may revert to, those in `status.history` (the last rollouts: what `abort` or a template revert may switch back to)
 * and the stable revisions their promotions replaced (`replacedRevision`: what `undo` returns to,
 * including a Release's first revision, which was deployed, never rolled out).
 * Any other ControllerRevision of the Release is pruned. `data` is immutable in the apiserver, so
 * a kept revision is written once, when first planned, and never again; its `revision` number
 * is one more than the highest of the Release's, as the StatefulSet controller numbers them.
 * One whose `managed-by` label was removed (so the cache lost it, and the controller read it from
 * the API) is applied again with its labels and its own `data` and `revision`, unchanged: a
 * template re-derived now could differ (an observed one carries the apiserver's defaults), and
 * the apiserver refuses any change of `data`.
 *
 * The format, read by `kubectl crescendo undo` to return to a revision kept in history:
 *
 *   metadata.labels   the Release's object labels, `crescendo.dev/revision: <revision>` and
 *                     `app.kubernetes.io/version` (spec.version as a label value, when any)
 *   data.spec.template  the pod template `<release>-<revision>` runs (as a StatefulSet keeps
 *                     its own): a missing Deployment of a live revision is recreated from it
 *   data.release.version   spec.version when the revision started, verbatim (when known)
 *   data.release.template  spec.template as written: `revisionOf` of it is the revision. Known
 *                     only when kept while the revision was current (every revision made since
 *                     ControllerRevisions exist); absent for one kept from its running Deployment
 *   revision          increases with each new revision of the Release
 *
 * Pure: the plan of ControllerRevisions from the snapshot and the status to be written.
 */
import { LABELS, MANAGED_BY } from "../../api/common.js";
import type { ReleaseStatus } from "../../api/release.js";
import type { KubeObject } from "../../runtime/types.js";
import { labelValue } from "./label-value.js";
import type { ReleaseSnapshot } from "./snapshot.js";

export const CONTROLLER_REVISION = { apiVersion: "apps/v1", kind: "ControllerRevision" } as const;

/** A revision whose template is known this reconcile: rendered (current) or observed (a Deployment's). */
export interface KnownTemplate {
  revision: string;
  /** The pod template its Deployment runs. */
  template: Record<string, unknown>;
  /** `spec.template` it was rendered from: known for the current revision only. */
  source?: Record<string, unknown>;
}

export interface ControllerRevisionPlan {
  /** New ControllerRevisions to create (server-side apply); existing ones are never rewritten. */
  objects: KubeObject[];
  /** Names of the Release's ControllerRevisions no longer kept. */
  deletions: string[];
}

/**
 * The revisions whose templates must be kept under `status`, each with its `spec.version` as
 * status records it (the first record wins: live revisions before history).
 */
export function keptRevisions(s: ReleaseStatus): Map<string, string | undefined> {
  const kept = new Map<string, string | undefined>();
  const keep = (revision: string | undefined, version: string | undefined) => {
    if (revision && !kept.has(revision)) kept.set(revision, version);
  };
  keep(s.stableRevision, s.stableVersion);
  keep(s.canaryRevision, s.canaryVersion);
  for (const e of s.scaleDown ?? []) keep(e.revision, e.version);
  // The revision a post-promotion window may revert to, even should its parked entry be gone.
  if (s.postPromotion?.result === "Verifying") {
    keep(s.postPromotion.previousRevision, s.postPromotion.previousVersion);
  }
  for (const h of s.history ?? []) keep(h.revision, h.version);
  // The revisions promotions replaced, so `undo` can return to them: a Release's first revision
  // (deployed, never rolled out) is in no entry of its own. Its version is the ControllerRevision's.
  for (const h of s.history ?? []) keep(h.replacedRevision, undefined);
  return kept;
}

/**
 * ControllerRevisions to create for kept revisions that have none yet (their template from
 * `known`), kept ones to relabel, and the names of observed ones to prune. `labels` and `owner`
 * are the Release's.
 */
export function planControllerRevisions(
  snap: ReleaseSnapshot,
  s: ReleaseStatus,
  known: readonly KnownTemplate[],
  meta: {
    labels: Record<string, string>;
    owner: NonNullable<KubeObject["metadata"]["ownerReferences"]>[number];
  },
): ControllerRevisionPlan {
  // A controller that does not read ControllerRevisions gets none planned: it could not tell
  // which exist, and would write them again on every reconcile.
  if (!snap.revisions) return { objects: [], deletions: [] };
  const observed = snap.revisions;
  const kept = keptRevisions(s);
  /** The ControllerRevision of `revision`, with `data` and number given. */
  const object = (revision: string, data: unknown, number: number): KubeObject => {
    const label = labelValue(kept.get(revision));
    return {
      ...CONTROLLER_REVISION,
      metadata: {
        name: controllerRevisionName(snap.release.metadata.name ?? "", revision),
        namespace: snap.release.metadata.namespace,
        labels: {
          ...meta.labels,
          [LABELS.revision]: revision,
          ...(label ? { [LABELS.version]: label } : {}),
        },
        ownerReferences: [meta.owner],
      },
      data,
      revision: number,
    };
  };
  const objects: KubeObject[] = [];
  for (const rev of Object.values(observed)) {
    if (kept.has(rev.revision) && rev.labels[LABELS.managedBy] !== MANAGED_BY) {
      objects.push(object(rev.revision, rev.data, rev.number));
    }
  }
  let next = Math.max(0, ...Object.values(observed).map((r) => r.number)) + 1;
  const planned = new Set<string>();
  for (const { revision, template, source } of known) {
    if (!kept.has(revision) || observed[revision] || planned.has(revision)) continue;
    planned.add(revision);
    const version = kept.get(revision);
    const release = {
      ...(version !== undefined ? { version } : {}),
      ...(source ? { template: source } : {}),
    };
    objects.push(object(revision, { spec: { template }, release }, next++));
  }
  const deletions = Object.values(observed)
    .filter((r) => !kept.has(r.revision))
    .map((r) => r.name);
  return { objects, deletions };
}

/** The ControllerRevision of one revision of a Release: `<release>-<revision>`, as its Deployment. */
export function controllerRevisionName(release: string, revision: string): string {
  return `${release}-${revision}`;
}
