/**
 * No serving gap when a Release's Deployment is deleted while no operator runs. Every Deployment
 * the operator manages carries the finalizer `crescendo.dev/serving`. A background delete
 * (kubectl's default) then only marks it Terminating: the garbage collector deletes dependents
 * only once their owner is gone, and the Deployment controller merely reports the status of a
 * Deployment being deleted, so its ReplicaSet keeps every pod serving until an operator comes.
 *
 * That operator then either hands the Deployment over or lets it go:
 * - a live revision (and a namespace not being deleted): its ReplicaSets are orphaned (the
 *   ownerReference to the Deployment removed), the finalizer removed, and once the Deployment is
 *   gone the plan recreates it with the same name, selector and template (from the current spec
 *   or the revision's ControllerRevision). The Deployment controller adopts the orphaned
 *   ReplicaSet whose template matches: no pod restarts.
 * - anything else (a revision no longer live, the Release deleted, the namespace terminating):
 *   the finalizer is removed and the garbage collector does the rest.
 *
 * A Deployment no Release serves any more loses the finalizer even before anyone deletes it: the
 * Release deleted with `--cascade=orphan` leaves its Deployments running, ownerless, and nothing
 * would ever remove the finalizer of one deleted later (`abandonedDeployments`).
 *
 * Foreground deletion (`--cascade=foreground`, Argo CD's prune default) is different: the
 * garbage collector deletes the dependents first, so the ReplicaSet and its pods go whatever the
 * finalizer does; the Deployment is recreated only when an operator runs (docs/release.md).
 *
 * Pure: the reconciler does the I/O.
 */
import { GROUP as RELEASE_GROUP, LABELS } from "../../api/common.js";
import type { KubeObject, ObjectKey } from "../../runtime/types.js";
import type { ObservedDeployment } from "./observed.js";

export const SERVING_FINALIZER = "crescendo.dev/serving";

/** Whether a Deployment carries `crescendo.dev/serving`. */
export function hasServingFinalizer(d: Pick<ObservedDeployment, "finalizers">): boolean {
  return d.finalizers?.includes(SERVING_FINALIZER) ?? false;
}

/** A deleted Deployment of a live revision, to hand over to its recreation. */
export interface HandOver {
  name: string;
  /** Its uid: the ReplicaSets naming it as owner are orphaned. */
  uid: string;
  revision: string;
}

/** What to do about the Deployments someone deleted that the finalizer still keeps. */
export interface ServingWork {
  handOver: HandOver[];
  /** Names of Deployments whose finalizer goes: nobody wants them back. */
  release: string[];
}

/**
 * For each Deployment being deleted that still carries the finalizer: hand it over when its
 * revision is live, can be recreated (`recreatable`: the current revision, or one a
 * ControllerRevision keeps) and `recreating` allows (not in a terminating namespace); release it
 * when its revision is not live or nothing may be recreated. A live revision that cannot be
 * recreated yet keeps its finalizer, and its pods: the plan keeps its template in a
 * ControllerRevision in this same reconcile, and the next one hands it over.
 */
export function servingWork(
  deployments: readonly ObservedDeployment[],
  opts: { live: ReadonlySet<string>; recreatable: (revision: string) => boolean; recreating: boolean },
): ServingWork {
  const work: ServingWork = { handOver: [], release: [] };
  for (const d of deployments) {
    if (!d.deleting || !hasServingFinalizer(d)) continue;
    const live = opts.recreating && opts.live.has(d.revision);
    if (!live) work.release.push(d.name);
    else if (d.uid && opts.recreatable(d.revision))
      work.handOver.push({ name: d.name, uid: d.uid, revision: d.revision });
  }
  return work;
}

/**
 * Deployments of `release` that keep the serving finalizer while no live Release serves them:
 * their finalizer goes, since nobody will recreate them and a later delete would otherwise hang.
 * - Being deleted and controlled by a Release of that name other than the live one (`uid`): of a
 *   Release deleted or being deleted (`uid` undefined: every one), or of an earlier Release of
 *   the same name (another uid).
 * - Controlled by no Release (`kubectl delete release --cascade=orphan` took the ownerReference
 *   away) and labelled as the Release's: when no Release of that name is live (`uid` undefined),
 *   at once, so deleting it later completes even with no operator running; while one is live,
 *   only once it is being deleted. Until then the live Release may adopt it (a GitOps tool
 *   recreating the Release): its apply writes the ownerReference and the finalizer again.
 */
export function abandonedDeployments(
  objects: readonly KubeObject[],
  release: { namespace: string; name: string; uid?: string },
): KubeObject[] {
  return objects.filter((o) => {
    if (o.metadata.namespace !== release.namespace) return false;
    if (!(o.metadata.finalizers ?? []).includes(SERVING_FINALIZER)) return false;
    const deleting = o.metadata.deletionTimestamp !== undefined;
    const owner = controllingRelease(o);
    if (!owner) return o.metadata.labels?.[LABELS.release] === release.name && (deleting || !release.uid);
    return deleting && owner.name === release.name && owner.uid !== release.uid;
  });
}

/** The Release controlling `o` by its ownerReference, if any. */
function controllingRelease(o: KubeObject): { name: string; uid: string } | undefined {
  return (o.metadata.ownerReferences ?? []).find(
    (r) => r.controller === true && r.kind === "Release" && r.apiVersion.split("/")[0] === RELEASE_GROUP,
  );
}

/**
 * The Release a Deployment carrying the serving finalizer belongs to by its label when no Release
 * controls it (orphaned): the watch map that brings that Release to reconcile, and so to
 * `abandonedDeployments`, when no ownerReference names it (an operator starting after the orphaning).
 */
export function releaseOfUnowned(o: KubeObject): ObjectKey[] {
  const name = o.metadata.labels?.[LABELS.release];
  if (!name || !o.metadata.namespace || !(o.metadata.finalizers ?? []).includes(SERVING_FINALIZER)) return [];
  return controllingRelease(o) ? [] : [`${o.metadata.namespace}/${name}`];
}

/** `finalizers` without `crescendo.dev/serving`, as a JSON merge patch writes the whole list. */
export function withoutServingFinalizer(finalizers: readonly string[] | undefined): string[] {
  return (finalizers ?? []).filter((f) => f !== SERVING_FINALIZER);
}

/**
 * The ReplicaSets of `deployment` among `replicaSets` and the ownerReferences each keeps once
 * orphaned: all but the Deployment's. A ReplicaSet of no such owner is not touched.
 */
export function orphaning(
  replicaSets: readonly KubeObject[],
  deploymentUid: string,
): { replicaSet: KubeObject; ownerReferences: NonNullable<KubeObject["metadata"]["ownerReferences"]> }[] {
  return replicaSets.flatMap((rs) => {
    const refs = rs.metadata.ownerReferences ?? [];
    if (!refs.some((r) => r.uid === deploymentUid)) return [];
    return [{ replicaSet: rs, ownerReferences: refs.filter((r) => r.uid !== deploymentUid) }];
  });
}
