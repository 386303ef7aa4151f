/**
 * What the informers observed of a Release's Deployments, as the decisions read it: one small
 * record per revision, and whether a revision runs the pods it should. A leaf module: the
 * snapshot, the state machine and the traffic routers all read these, and it reads none of them.
 */
import { LABELS } from "../../api/common.js";
import { asRecord, isRecord } from "../../runtime/is-record.js";
import type { KubeObject } from "../../runtime/types.js";

/**
 * What the plan and readiness decisions need of one revision's Deployment: its numbers, its
 * labels and the pod template it runs.
 */
export interface ObservedDeployment {
  name: string;
  revision: string;
  /** `metadata.uid`: the owner its ReplicaSets name, to orphan them before it goes. */
  uid?: string;
  /** `metadata.deletionTimestamp` is set: someone deleted it and a finalizer keeps it. */
  deleting?: boolean;
  /** `metadata.finalizers`, to tell whether it carries `crescendo.dev/serving`. */
  finalizers?: readonly string[];
  /** `metadata.labels`, to tell whether a revision that is not current needs relabelling. */
  labels: Readonly<Record<string, string>>;
  /**
   * `spec.template` as the apiserver stores it (defaults filled in). A revision's pod template
   * never changes once created (its name is its hash), and only the current revision's can be
   * rendered from `spec.template`, so the plan keeps this one for every other revision.
   */
  template?: Record<string, unknown>;
  /** `metadata.generation`; status numbers are trusted only once the controller observed it. */
  generation?: number;
  observedGeneration?: number;
  /** `spec.replicas`, as last applied. */
  specReplicas: number;
  /** `status.replicas`: pods that exist, ready or not (the scale subresource reports these). */
  replicas: number;
  readyReplicas: number;
  availableReplicas: number;
  updatedReplicas: number;
}

/**
 * Reads a Deployment into the numbers the state machine uses. Returns undefined for an object
 * without the `crescendo.dev/revision` label: it is not one of ours to reason about.
 */
export function observeDeployment(obj: KubeObject): ObservedDeployment | undefined {
  const revision = obj.metadata.labels?.[LABELS.revision];
  if (!revision) return undefined;
  const spec = asRecord(obj["spec"]);
  const status = asRecord(obj["status"]);
  const template = spec["template"];
  const finalizers = obj.metadata.finalizers ?? [];
  return {
    name: obj.metadata.name ?? "",
    revision,
    ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
    ...(obj.metadata.deletionTimestamp ? { deleting: true } : {}),
    ...(finalizers.length > 0 ? { finalizers } : {}),
    labels: obj.metadata.labels ?? {},
    ...(isRecord(template) ? { template } : {}),
    ...(obj.metadata.generation === undefined ? {} : { generation: obj.metadata.generation }),
    ...(typeof status["observedGeneration"] === "number"
      ? { observedGeneration: status["observedGeneration"] }
      : {}),
    // An absent spec.replicas defaults to 1 in the apiserver.
    specReplicas: num(spec["replicas"], 1),
    replicas: num(status["replicas"], 0),
    readyReplicas: num(status["readyReplicas"], 0),
    availableReplicas: num(status["availableReplicas"], 0),
    updatedReplicas: num(status["updatedReplicas"], 0),
  };
}

/** Indexes observed Deployments by revision, skipping objects that carry none. */
export function deploymentsByRevision(objects: readonly KubeObject[]): Record<string, ObservedDeployment> {
  const out: Record<string, ObservedDeployment> = {};
  for (const obj of objects) {
    const dep = observeDeployment(obj);
    if (dep) out[dep.revision] = dep;
  }
  return out;
}

/**
 * A revision's pod template as kept in its `apps/v1` ControllerRevision (`<release>-<revision>`,
 * owned by the Release, as StatefulSets and DaemonSets keep theirs): what a Deployment of that
 * revision runs, known even when the Deployment is gone.
 */
export interface ObservedRevision {
  name: string;
  revision: string;
  /** The ControllerRevision's `revision` number: increases with every new revision. */
  number: number;
  /** `data.spec.template`. */
  template?: Record<string, unknown>;
  /** `metadata.labels`, to tell whether it needs relabelling back into the cache. */
  labels: Readonly<Record<string, string>>;
  /** `data` as stored: immutable, so a relabelling applies it unchanged. */
  data: unknown;
}

/**
 * Reads a ControllerRevision into the revision it keeps. Undefined for one without the
 * `crescendo.dev/revision` label: not one of ours.
 */
export function observeControllerRevision(obj: KubeObject): ObservedRevision | undefined {
  const revision = obj.metadata.labels?.[LABELS.revision];
  if (!revision) return undefined;
  const template = asRecord(asRecord(asRecord(obj["data"])["spec"])["template"]);
  return {
    name: obj.metadata.name ?? "",
    revision,
    number: num(obj["revision"], 0),
    ...(Object.keys(template).length > 0 ? { template } : {}),
    labels: obj.metadata.labels ?? {},
    data: obj["data"],
  };
}

/** Indexes observed ControllerRevisions by revision, skipping objects that carry none. */
export function revisionsByRevision(objects: readonly KubeObject[]): Record<string, ObservedRevision> {
  const out: Record<string, ObservedRevision> = {};
  for (const obj of objects) {
    const rev = observeControllerRevision(obj);
    if (rev) out[rev.revision] = rev;
  }
  return out;
}

/**
 * True when the Deployment runs at least `replicas` available, up-to-date pods, its status
 * describes its latest spec, and it is not being deleted. Zero replicas are always "ready", even with no Deployment: there
 * is nothing to wait for.
 */
export function isReadyAt(dep: ObservedDeployment | undefined, replicas: number): boolean {
  if (replicas <= 0) return true;
  // One being deleted is not counted on: a foreground deletion removes its pods, and a
  // background one keeps them only until it is handed over and recreated.
  if (!dep || dep.deleting) return false;
  const current = dep.generation === undefined || (dep.observedGeneration ?? 0) >= dep.generation;
  return (
    current &&
    dep.availableReplicas >= replicas &&
    dep.readyReplicas >= replicas &&
    dep.updatedReplicas >= replicas
  );
}

/**
 * A count as Kubernetes writes it: a non-negative integer. Anything else (absent, or a value no
 * apiserver would store) is the fallback, so no decision ever computes with a negative count.
 */
function num(v: unknown, fallback: number): number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : fallback;
}
