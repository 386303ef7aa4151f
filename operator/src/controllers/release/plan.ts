/**
 * What a Release should look like in the cluster under a given status (the output of `step`),
 * with no I/O: one Deployment per live revision, the Services routers and clients use, and the
 * HTTPRoute weights. The controller server-side applies `objects` in order and deletes
 * `deletions` that it finds owned by the Release.
 *
 * Promotion must never restart pods, so nothing in a pod template may depend on which track a
 * revision is on. The template of `<release>-<revision>` is a function of the user's template
 * (which the revision hashes), the Release name and the version recorded when the revision
 * started; `crescendo.dev/track` therefore lives on the Deployment's own labels only, and the
 * Services select pods by revision, never by track. Likewise the squad and tribe labels stay
 * off pods: a squad moving to another tribe must not restart every pod it runs.
 *
 * Only the current revision (the one `spec.template` hashes to) can be rendered from the spec:
 * during a rollout that is the canary, and rendering the stable Deployment from it would replace
 * the stable pods with the canary's under the old revision's name. Every other revision runs the
 * pod template kept for it: the one its Deployment runs, as observed, or when that Deployment is
 * gone, the one kept in its ControllerRevision (`controller-revisions.ts`), from which it is
 * recreated. A revision whose template is known nowhere (a Release from before ControllerRevisions
 * whose Deployment was deleted) is not planned and is reported in `missing`.
 *
 * A rollback never leaves the Services without pods: while the stable revision is not ready, the
 * rolled-back canary keeps its pods and traffic goes wherever pods are ready (`stable-hold.ts`).
 */
import { API_VERSION, LABELS, MANAGED_BY } from "../../api/common.js";
import type { ReleaseStatus } from "../../api/release.js";
import { currentStage } from "../../api/release-stages.js";
import { asRecord } from "../../runtime/is-record.js";
import type { KubeObject, OwnerReference } from "../../runtime/types.js";
import { CONTROLLER_REVISION, planControllerRevisions, type KnownTemplate } from "./controller-revisions.js";
import { labelValue } from "./label-value.js";
import { revisionOf } from "./revision.js";
import type { ObservedDeployment } from "./observed.js";
import type { ReleaseSnapshot } from "./snapshot.js";
import { rolledBack, rolloutStarted } from "./state.js";
import { heldCanaryReplicas, heldCanaryWeight, rollbackHolds } from "./stable-hold.js";
import {
  hasServingFinalizer,
  SERVING_FINALIZER,
  servingWork,
  type ServingWork,
} from "./serving-finalizer.js";
import { serviceNames } from "./traffic/router.js";
import { routerFor, trafficInput } from "./traffic/routing.js";

/** An object the plan no longer wants. Delete it only if it exists and the Release owns it. */
export interface ObjectRef {
  apiVersion: string;
  kind: "Deployment" | "Service" | "ControllerRevision";
  name: string;
  /** A Deployment carrying `crescendo.dev/serving`: removed first, or the deletion would wait on it. */
  finalizer?: true;
}

/** What to apply, what to delete, and which live revisions could not be planned. */
export interface ReleasePlan {
  /**
   * Objects to server-side apply, in this order: new ControllerRevisions (a template is kept
   * before anything runs it), Services (so a promotion moves the stable selector first), the HTTPRoute (so a rollback moves traffic before the canary shrinks), then
   * the Deployments. `apiVersion` and `kind` are always set.
   */
  objects: KubeObject[];
  deletions: ObjectRef[];
  /**
   * Live revisions that are not current, whose Deployment no longer exists and whose template no
   * ControllerRevision keeps: they cannot be recreated, so nothing is planned for them (the
   * controller warns).
   */
  missing: string[];
  /** Deployments someone deleted that the serving finalizer keeps (`serving-finalizer.ts`). */
  serving: ServingWork;
}

export { labelValue };

type Track = "stable" | "canary" | "preview";

const DEPLOYMENT = { apiVersion: "apps/v1", kind: "Deployment" } as const;
const SERVICE = { apiVersion: "v1", kind: "Service" } as const;

/** One Deployment to run: which revision, how big, and in which role. */
interface LiveRevision {
  revision: string;
  version?: string;
  replicas: number;
  /** Absent for a replaced revision waiting for its scale-down. */
  track?: Track;
}

/**
 * Labels Crescendo may set on a Deployment; relabelling compares these and ignores the rest
 * (another tool's labels are not ours to remove).
 */
const DEPLOYMENT_LABELS = [
  LABELS.managedBy,
  LABELS.name,
  LABELS.release,
  LABELS.backstageId,
  LABELS.squad,
  LABELS.tribe,
  LABELS.revision,
  LABELS.version,
  LABELS.track,
] as const;

/** Plans every object of the Release under `status`. Pure. */
export function planObjects(snapshot: ReleaseSnapshot, status: ReleaseStatus): ReleasePlan {
  const live = liveRevisions(snapshot, status);
  const current = revisionOf(snapshot.release.spec.template);
  const deployments = live.map((r) => plannedDeployment(snapshot, r, current));
  const liveNames = new Set(live.map((r) => r.revision));
  // One being deleted already is the serving finalizer's (below), not deleted again.
  const staleDeployments = Object.values(snapshot.deployments)
    .filter((d) => !liveNames.has(d.revision) && !d.deleting)
    .map((d): ObjectRef => ({
      ...DEPLOYMENT,
      name: d.name,
      ...(hasServingFinalizer(d) ? { finalizer: true as const } : {}),
    }));
  const services = servicesOf(snapshot, status);
  const wanted = new Set(services.map((s) => s.metadata.name));
  const staleServices = Object.values(serviceNames(nameOf(snapshot)))
    .filter((name) => !wanted.has(name))
    .map((name): ObjectRef => ({ ...SERVICE, name }));
  // Templates known this reconcile: each planned Deployment's (the current one's with the
  // spec.template it is rendered from, for `undo`), then every observed one's.
  const source = (revision: string) =>
    revision === current ? { source: snapshot.release.spec.template } : {};
  const known: KnownTemplate[] = [
    ...deployments.flatMap((d) =>
      d.template ? [{ revision: d.revision, template: d.template, ...source(d.revision) }] : [],
    ),
    ...Object.values(snapshot.deployments).flatMap((d) =>
      d.template ? [{ revision: d.revision, template: d.template }] : [],
    ),
  ];
  const revisions = planControllerRevisions(snapshot, status, known, {
    labels: objectLabels(snapshot),
    owner: ownerOf(snapshot),
  });
  return {
    objects: [
      ...revisions.objects,
      ...services,
      ...routeObjects(snapshot, status),
      ...deployments.flatMap((d) => (d.kind === "apply" ? [d.object] : [])),
    ],
    deletions: [
      ...staleDeployments,
      ...staleServices,
      ...revisions.deletions.map((name): ObjectRef => ({ ...CONTROLLER_REVISION, name })),
    ],
    missing: deployments.flatMap((d) => (d.kind === "missing" ? [d.revision] : [])),
    serving: servingWork(Object.values(snapshot.deployments), {
      live: liveNames,
      recreatable: (revision) =>
        revision === current || snapshot.revisions?.[revision]?.template !== undefined,
      recreating: snapshot.namespaceTerminating !== true,
    }),
  };
}

/** Stable, canary (or preview) and the replaced revisions whose scale-down time has not come. */
function liveRevisions(snap: ReleaseSnapshot, s: ReleaseStatus): LiveRevision[] {
  const out: LiveRevision[] = [];
  const bg = snap.release.spec.strategy.blueGreen !== undefined;
  if (s.stableRevision) {
    out.push({
      revision: s.stableRevision,
      version: s.stableVersion,
      replicas: snap.release.spec.replicas,
      track: "stable",
    });
  }
  if (s.canaryRevision && s.canaryRevision !== s.stableRevision) {
    const track = bg ? "preview" : "canary";
    out.push({
      revision: s.canaryRevision,
      version: s.canaryVersion,
      replicas: desiredCanaryReplicas(snap, s),
      track,
    });
  }
  for (const parked of s.scaleDown ?? []) {
    const due = Date.parse(parked.at) <= snap.now;
    if (due || out.some((r) => r.revision === parked.revision)) continue;
    out.push({
      revision: parked.revision,
      version: parked.version,
      replicas: parked.replicas ?? snap.release.spec.replicas,
    });
  }
  return out;
}

/**
 * Replicas of the canary (or preview) revision: zero once rolled back (unless the rollback holds
 * for an unready stable revision: then what it has), and while recorded but not started
 * (`spec.paused`); full size for the final scale-up; `previewReplicas` for a blue-green preview;
 * otherwise what the router needs for the current weight.
 */
export function desiredCanaryReplicas(snap: ReleaseSnapshot, s: ReleaseStatus): number {
  const spec = snap.release.spec;
  if (rollbackHolds(snap, s)) return heldCanaryReplicas(snap, s);
  if (!s.canaryRevision || rolledBack(s) || !rolloutStarted(s)) return 0;
  if (currentStage(spec, s).stage.kind === "scaleUp") return spec.replicas;
  const bg = spec.strategy.blueGreen;
  if (bg) return bg.previewReplicas ?? spec.replicas;
  return routerFor(spec).setWeight(trafficInput(snap, s), s.desiredWeight ?? 0).canaryReplicas;
}

/** The HTTPRoute with the weights of the current step, or all on stable when no canary splits traffic. */
function routeObjects(snap: ReleaseSnapshot, s: ReleaseStatus): KubeObject[] {
  const spec = snap.release.spec;
  if (!spec.strategy.canary?.trafficRouting) return [];
  const router = routerFor(spec);
  const input = trafficInput(snap, s);
  if (rollbackHolds(snap, s)) return router.setWeight(input, heldCanaryWeight(snap, s)).objects;
  const splitting = s.canaryRevision !== undefined && !rolledBack(s) && rolloutStarted(s);
  return splitting ? router.setWeight(input, s.desiredWeight ?? 0).objects : router.finalize(input).objects;
}

/** What the plan does with one live revision's Deployment, and the pod template it runs. */
type PlannedDeployment = { revision: string; template?: Record<string, unknown> } & (
  { kind: "apply"; object: KubeObject } | { kind: "unchanged" } | { kind: "missing" } | { kind: "deleted" }
);

/**
 * The Deployment of a live revision. The current revision is rendered from `spec.template` (and
 * `applyIfChanged` skips it when nothing changed). Any other runs the template observed on its
 * Deployment and is planned only when its size or labels must change: re-applying it unchanged
 * would still rewrite the applied-hash annotation (the observed template carries the apiserver's
 * defaults, the one first applied did not), and a Deployment's generation moves with its
 * annotations. Without an observed Deployment it is recreated from the template its
 * ControllerRevision keeps; without either it cannot be planned at all.
 */
function plannedDeployment(snap: ReleaseSnapshot, r: LiveRevision, current: string): PlannedDeployment {
  const observed = snap.deployments[r.revision];
  // Deleted, kept by the serving finalizer: handed over, then recreated once it is gone (an
  // apply now would only write to the object being deleted).
  if (observed?.deleting) return { kind: "deleted", revision: r.revision, template: observed.template };
  const version = labelValue(r.version);
  const labels = {
    ...objectLabels(snap),
    [LABELS.revision]: r.revision,
    ...(version ? { [LABELS.version]: version } : {}),
    ...(r.track ? { [LABELS.track]: r.track } : {}),
  };
  if (r.revision === current) {
    const template = podTemplate(snap, r.revision, version);
    return { kind: "apply", revision: r.revision, template, object: deployment(snap, r, labels, template) };
  }
  const template = observed?.template ?? snap.revisions?.[r.revision]?.template;
  if (!template) return { kind: "missing", revision: r.revision };
  // A Deployment from before the serving finalizer gets it with this apply.
  if (
    observed?.template &&
    observed.specReplicas === r.replicas &&
    sameLabels(labels, observed) &&
    hasServingFinalizer(observed)
  ) {
    return { kind: "unchanged", revision: r.revision, template };
  }
  return { kind: "apply", revision: r.revision, template, object: deployment(snap, r, labels, template) };
}

function deployment(
  snap: ReleaseSnapshot,
  r: LiveRevision,
  labels: Record<string, string>,
  template: Record<string, unknown>,
): KubeObject {
  const release = nameOf(snap);
  return {
    ...DEPLOYMENT,
    metadata: {
      name: deploymentName(release, r.revision),
      namespace: snap.release.metadata.namespace,
      labels,
      ownerReferences: [ownerOf(snap)],
      finalizers: [SERVING_FINALIZER],
    },
    spec: {
      replicas: r.replicas,
      selector: { matchLabels: { [LABELS.release]: release, [LABELS.revision]: r.revision } },
      template,
    },
  };
}

/** The Deployment of one revision of a Release: `<release>-<revision>`. */
export function deploymentName(release: string, revision: string): string {
  return `${release}-${revision}`;
}

/** Whether the observed Deployment carries exactly the planned values of Crescendo's labels. */
function sameLabels(planned: Record<string, string>, observed: ObservedDeployment): boolean {
  return DEPLOYMENT_LABELS.every((key) => planned[key] === observed.labels[key]);
}

/** The user's pod template with the pod labels added (theirs kept, ours win). */
function podTemplate(
  snap: ReleaseSnapshot,
  revision: string,
  version: string | undefined,
): Record<string, unknown> {
  const template = snap.release.spec.template;
  const metadata = asRecord(template["metadata"]);
  const release = nameOf(snap);
  const labels = {
    ...asStringRecord(metadata["labels"]),
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.name]: release,
    [LABELS.release]: release,
    [LABELS.revision]: revision,
    [LABELS.backstageId]: release,
    ...(version ? { [LABELS.version]: version } : {}),
  };
  return { ...template, metadata: { ...metadata, labels } };
}

/**
 * `<release>` selects every revision only while a replica-ratio canary splits traffic (that
 * Service *is* the split); otherwise only the stable revision: at rest, after a rollback (all
 * traffic on stable in the rollback's reconcile), during the scale-down delay after a promotion
 * (the replaced revision, still at full size, must get nothing), for blue-green (the active
 * revision) and with Gateway API (the HTTPRoute splits between `-stable` and `-canary`).
 * A selector change is instant and restarts no pod. `-stable` selects the stable revision;
 * `-canary`/`-preview` the canary, or the stable one when there is no live canary, so routers
 * and smoke tests always have endpoints.
 */
function servicesOf(snap: ReleaseSnapshot, s: ReleaseStatus): KubeObject[] {
  const ports = snap.release.spec.service?.ports;
  if (!ports || !s.stableRevision) return [];
  const release = nameOf(snap);
  const names = serviceNames(release);
  const bg = snap.release.spec.strategy.blueGreen !== undefined;
  const byRevision = (revision: string) => ({ [LABELS.release]: release, [LABELS.revision]: revision });
  // A holding rollback keeps its canary's pods in service (see stable-hold.ts).
  const holds = rollbackHolds(snap, s);
  const canary = s.canaryRevision && (!rolledBack(s) || holds) ? s.canaryRevision : s.stableRevision;
  const specPorts = ports.map((p) => ({
    name: p.name,
    port: p.port,
    targetPort: p.targetPort ?? p.port,
    protocol: p.protocol,
  }));
  const service = (name: string, selector: Record<string, string>): KubeObject => ({
    ...SERVICE,
    metadata: {
      name,
      namespace: snap.release.metadata.namespace,
      labels: objectLabels(snap),
      ownerReferences: [ownerOf(snap)],
    },
    spec: { selector, ports: specPorts },
  });
  return [
    service(
      names.all,
      replicaSplit(snap, s) || holds ? { [LABELS.release]: release } : byRevision(s.stableRevision),
    ),
    service(names.stable, byRevision(s.stableRevision)),
    service(bg ? names.preview : names.canary, byRevision(canary)),
  ];
}

/**
 * Whether the replica ratio splits traffic under `s`: a canary strategy with no router, and a
 * rollout that has started (not merely recorded while `spec.paused`) and not been rolled back.
 */
export function replicaSplit(snap: ReleaseSnapshot, s: ReleaseStatus): boolean {
  const strategy = snap.release.spec.strategy;
  if (!strategy.canary || strategy.canary.trafficRouting) return false;
  return s.canaryRevision !== undefined && !rolledBack(s) && rolloutStarted(s);
}

/** Labels of every object the operator creates for this Release. */
function objectLabels(snap: ReleaseSnapshot): Record<string, string> {
  const release = nameOf(snap);
  const squad = snap.squad;
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.name]: release,
    [LABELS.release]: release,
    [LABELS.backstageId]: release,
    ...(squad ? { [LABELS.squad]: squad.name } : {}),
    ...(squad?.tribe ? { [LABELS.tribe]: squad.tribe } : {}),
  };
}

function ownerOf(snap: ReleaseSnapshot): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: "Release",
    name: nameOf(snap),
    uid: snap.release.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

function nameOf(snap: ReleaseSnapshot): string {
  return snap.release.metadata.name ?? "";
}

function asStringRecord(v: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(asRecord(v)).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
}
