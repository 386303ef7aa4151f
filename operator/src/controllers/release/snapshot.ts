/**
 * One snapshot per reconcile (STYLE §7): the Release, what the informers observed of its
 * Deployments and HTTPRoute, the analysis verdicts, the pending manual action and the time,
 * gathered once and then handed to the pure `step` and `planObjects`. Nothing in the decision
 * code reads a store or a clock, so every decision is reproducible in a unit test.
 */
import { ANNOTATIONS, LABELS } from "../../api/common.js";
import type { Release } from "../../api/kinds.js";
import type { KubeObject } from "../../runtime/types.js";
import type { HTTPRoute } from "./traffic/gateway-api.js";

/**
 * What the analysis module concluded about one analysis (the shape of its `verdict`). The
 * state machine consumes only this, never measurements, so the two evolve independently.
 */
export interface AnalysisVerdict {
  phase: "Running" | "Successful" | "Failed" | "Inconclusive";
  /** The metric that decided a Failed or Inconclusive verdict. */
  metric?: string;
  /** Names the metric, its values and the threshold; quoted in events and notifications. */
  message: string;
}

/**
 * What the plan and readiness decisions need of one revision's Deployment: its numbers, its
 * labels and the pod template it runs.
 */
export interface ObservedDeployment {
  name: string;
  revision: string;
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

/** A manual action from the `crescendo.dev/action` annotation that has not been acted on yet. */
export interface PendingAction {
  id: string;
  /** Free text as annotated; unknown actions are recorded as ignored, never guessed at. */
  action: string;
}

export interface ReleaseSnapshot {
  /** The Release, its spec already parsed (and defaulted) by `releaseSpec.parse`. */
  release: Release;
  /** Observed Deployments of this Release, by revision. */
  deployments: Readonly<Record<string, ObservedDeployment>>;
  /** The HTTPRoute named by `trafficRouting.gatewayAPI.httpRoute`, when it exists. */
  route?: HTTPRoute;
  /**
   * Verdicts of the analyses recorded in `release.status`: `step` judges `status.analysis`,
   * `background` judges `status.backgroundAnalysis`. Absent means not measured yet (Running).
   */
  analysis: { step?: AnalysisVerdict; background?: AnalysisVerdict };
  /** Milliseconds since the epoch: the one clock reading of this reconcile. */
  now: number;
  /** The annotation action, only when its id differs from `status.lastAction.id`. */
  action?: PendingAction;
  /** The owning squad, for the `crescendo.dev/squad` and `crescendo.dev/tribe` labels. */
  squad?: { name: string; tribe?: string };
}

/**
 * Reads a Deployment into the numbers the state machine uses. Returns undefined for an object
 * without the `crescendo.dev/revision` label: it is not one of ours to reason about.
 */
export function observeDeployment(obj: KubeObject): ObservedDeployment | undefined {
  const revision = obj.metadata.labels?.[LABELS.revision];
  if (!revision) return undefined;
  const spec = record(obj["spec"]);
  const status = record(obj["status"]);
  const template = spec["template"];
  return {
    name: obj.metadata.name ?? "",
    revision,
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
 * The action annotated on the Release, if it has not been acted on. Both annotations are
 * needed: the id is what makes "act once" possible, so an action without an id is not an action.
 */
export function pendingAction(release: Release): PendingAction | undefined {
  const action = release.metadata.annotations?.[ANNOTATIONS.action]?.trim();
  const id = release.metadata.annotations?.[ANNOTATIONS.actionId]?.trim();
  if (!action || !id || id === release.status?.lastAction?.id) return undefined;
  return { id, action };
}

/**
 * True when the Deployment runs at least `replicas` available, up-to-date pods and its status
 * describes its latest spec. Zero replicas are always "ready", even with no Deployment: there
 * is nothing to wait for.
 */
export function isReadyAt(dep: ObservedDeployment | undefined, replicas: number): boolean {
  if (replicas <= 0) return true;
  if (!dep) return false;
  const current = dep.generation === undefined || (dep.observedGeneration ?? 0) >= dep.generation;
  return (
    current &&
    dep.availableReplicas >= replicas &&
    dep.readyReplicas >= replicas &&
    dep.updatedReplicas >= replicas
  );
}

/** The observed Deployment of a revision, if the revision is set and observed. */
export function deploymentOf(
  snapshot: ReleaseSnapshot,
  revision: string | undefined,
): ObservedDeployment | undefined {
  return revision === undefined ? undefined : snapshot.deployments[revision];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function record(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

function num(v: unknown, fallback: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}
