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
 */
import { API_VERSION, LABELS, MANAGED_BY } from "../../api/common.js";
import type { ReleaseStatus } from "../../api/release.js";
import type { KubeObject, OwnerReference } from "../../runtime/types.js";
import { currentStage, routerFor, trafficInput } from "./rollout.js";
import type { ReleaseSnapshot } from "./snapshot.js";
import { serviceNames } from "./traffic/router.js";

/** An object the plan no longer wants. Delete it only if it exists and the Release owns it. */
export interface ObjectRef {
  apiVersion: string;
  kind: "Deployment" | "Service";
  name: string;
}

export interface ReleasePlan {
  /**
   * Objects to server-side apply, in this order: Services (so a promotion moves the stable
   * selector first), the HTTPRoute (so a rollback moves traffic before the canary shrinks), then
   * the Deployments. `apiVersion` and `kind` are always set.
   */
  objects: KubeObject[];
  deletions: ObjectRef[];
}

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

/** Plans every object of the Release under `status`. Pure. */
export function planObjects(snapshot: ReleaseSnapshot, status: ReleaseStatus): ReleasePlan {
  const live = liveRevisions(snapshot, status);
  const liveNames = new Set(live.map((r) => r.revision));
  const staleDeployments = Object.values(snapshot.deployments)
    .filter((d) => !liveNames.has(d.revision))
    .map((d): ObjectRef => ({ ...DEPLOYMENT, name: d.name }));
  const services = servicesOf(snapshot, status);
  const wanted = new Set(services.map((s) => s.metadata.name));
  const staleServices = Object.values(serviceNames(nameOf(snapshot)))
    .filter((name) => !wanted.has(name))
    .map((name): ObjectRef => ({ ...SERVICE, name }));
  return {
    objects: [...services, ...routeObjects(snapshot, status), ...live.map((r) => deployment(snapshot, r))],
    deletions: [...staleDeployments, ...staleServices],
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
    out.push({ revision: parked.revision, version: parked.version, replicas: snap.release.spec.replicas });
  }
  return out;
}

/**
 * Replicas of the canary (or preview) revision: zero once rolled back; full size for the final
 * scale-up; `previewReplicas` for a blue-green preview; otherwise what the router needs for the
 * current weight.
 */
export function desiredCanaryReplicas(snap: ReleaseSnapshot, s: ReleaseStatus): number {
  const spec = snap.release.spec;
  if (!s.canaryRevision || s.phase === "RolledBack") return 0;
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
  const splitting = s.canaryRevision !== undefined && s.phase !== "RolledBack";
  return splitting ? router.setWeight(input, s.desiredWeight ?? 0).objects : router.finalize(input).objects;
}

function deployment(snap: ReleaseSnapshot, r: LiveRevision): KubeObject {
  const release = nameOf(snap);
  const version = labelValue(r.version);
  const selector = { [LABELS.release]: release, [LABELS.revision]: r.revision };
  return {
    ...DEPLOYMENT,
    metadata: {
      name: `${release}-${r.revision}`,
      namespace: snap.release.metadata.namespace,
      labels: {
        ...objectLabels(snap),
        [LABELS.revision]: r.revision,
        ...(version ? { [LABELS.version]: version } : {}),
        ...(r.track ? { [LABELS.track]: r.track } : {}),
      },
      ownerReferences: [ownerOf(snap)],
    },
    spec: {
      replicas: r.replicas,
      selector: { matchLabels: selector },
      template: podTemplate(snap, r.revision, version),
    },
  };
}

/** The user's pod template with the pod labels of DESIGN §3 added (theirs kept, ours win). */
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
 * `<release>` selects every revision (the replica-ratio split) for canary, only the active one
 * for blue-green; `-stable` the stable revision; `-canary`/`-preview` the canary, or the stable
 * one when there is no live canary, so routers and smoke tests always have endpoints.
 */
function servicesOf(snap: ReleaseSnapshot, s: ReleaseStatus): KubeObject[] {
  const ports = snap.release.spec.service?.ports;
  if (!ports || !s.stableRevision) return [];
  const release = nameOf(snap);
  const names = serviceNames(release);
  const bg = snap.release.spec.strategy.blueGreen !== undefined;
  const byRevision = (revision: string) => ({ [LABELS.release]: release, [LABELS.revision]: revision });
  const canary = s.canaryRevision && s.phase !== "RolledBack" ? s.canaryRevision : s.stableRevision;
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
    service(names.all, bg ? byRevision(s.stableRevision) : { [LABELS.release]: release }),
    service(names.stable, byRevision(s.stableRevision)),
    service(bg ? names.preview : names.canary, byRevision(canary)),
  ];
}

/** Labels of every object the operator creates for this Release (DESIGN §3). */
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

/**
 * `spec.version` as a label value: free text (`1.4.2+build.7`) becomes `[A-Za-z0-9._-]`, at
 * most 63 characters, starting and ending alphanumeric; undefined when nothing is left.
 */
export function labelValue(text: string | undefined): string | undefined {
  const value = (text ?? "")
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  return value === "" ? undefined : value;
}

function nameOf(snap: ReleaseSnapshot): string {
  return snap.release.metadata.name ?? "";
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function asStringRecord(v: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(asRecord(v)).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
}
