/**
 * Every revision's pod template, kept durably in an `apps/v1` ControllerRevision named
 * `<release>-<revision>` and owned by the Release, as StatefulSets and DaemonSets keep theirs.
 * A Deployment is the only other place a revision's template lives, and only the current
 * revision can be rendered from `spec.template`: without this, a stable Deployment deleted
 * during a canary (by hand, a GitOps prune, a namespace cleanup) could not be recreated, and a
 * rollback would have nothing to roll back to.
 *
 * Which revisions are kept: the live ones (stable, canary, parked for scale-down) and those in
 * `status.history` (the last rollouts: what `abort` or a template revert may switch back to).
 * Any other ControllerRevision of the Release is pruned. `data` is immutable in the apiserver, so
 * a kept revision is written once, when first planned, and never again; its `revision` number
 * is one more than the highest of the Release's, as the StatefulSet controller numbers them.
 *
 * Pure: the plan of ControllerRevisions from the snapshot and the status to be written.
 */
import { LABELS } from "../../api/common.js";
import type { ReleaseStatus } from "../../api/release.js";
import type { KubeObject } from "../../runtime/types.js";
import type { ReleaseSnapshot } from "./snapshot.js";

export const CONTROLLER_REVISION = { apiVersion: "apps/v1", kind: "ControllerRevision" } as const;

/** A revision whose template is known this reconcile: rendered (current) or observed (a Deployment's). */
export interface KnownTemplate {
  revision: string;
  template: Record<string, unknown>;
}

export interface ControllerRevisionPlan {
  /** New ControllerRevisions to create (server-side apply); existing ones are never rewritten. */
  objects: KubeObject[];
  /** Names of the Release's ControllerRevisions no longer kept. */
  deletions: string[];
}

/** The revisions whose templates must be kept under `status`. */
export function keptRevisions(s: ReleaseStatus): Set<string> {
  const kept = new Set<string>();
  if (s.stableRevision) kept.add(s.stableRevision);
  if (s.canaryRevision) kept.add(s.canaryRevision);
  for (const e of s.scaleDown ?? []) kept.add(e.revision);
  for (const h of s.history ?? []) kept.add(h.revision);
  return kept;
}

/**
 * ControllerRevisions to create for kept revisions that have none yet (their template from
 * `known`), and the names of observed ones to prune. `labels` and `owner` are the Release's.
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
  const release = snap.release.metadata.name ?? "";
  const observed = snap.revisions;
  const kept = keptRevisions(s);
  let next = Math.max(0, ...Object.values(observed).map((r) => r.number)) + 1;
  const objects: KubeObject[] = [];
  const planned = new Set<string>();
  for (const { revision, template } of known) {
    if (!kept.has(revision) || observed[revision] || planned.has(revision)) continue;
    planned.add(revision);
    objects.push({
      ...CONTROLLER_REVISION,
      metadata: {
        name: controllerRevisionName(release, revision),
        namespace: snap.release.metadata.namespace,
        labels: { ...meta.labels, [LABELS.revision]: revision },
        ownerReferences: [meta.owner],
      },
      data: { spec: { template } },
      revision: next++,
    });
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
