/**
 * What a Squad should look like in the cluster, computed from its spec and what the informers
 * observed, with no I/O. Everything the controller writes or deletes is decided
 * here, so every rule (ownership, adoption, isolation, clean-up) is covered by unit tests and
 * the controller only carries the decisions out.
 */
import { ANNOTATIONS, API_VERSION, LABELS, MANAGED_BY } from "../../api/common.js";
import type { Squad } from "../../api/kinds.js";
import type { SquadMember } from "../../api/squad.js";
import {
  LimitRangeResource,
  NamespaceResource,
  NetworkPolicyResource,
  ResourceQuotaResource,
  RoleBindingResource,
} from "../../runtime/resources.js";
import { APPLIED_HASH_ANNOTATION } from "../../runtime/apply.js";
import type { KubeObject, OwnerReference, Resource } from "../../runtime/types.js";

/** Names of the objects the operator creates in every squad namespace. */
export const OBJECT_NAMES = {
  lead: "crescendo-lead",
  member: "crescendo-member",
  viewer: "crescendo-viewer",
  quota: "crescendo-quota",
  limits: "crescendo-limits",
  isolation: "crescendo-isolation",
  secretReader: "crescendo-oncall-secret-reader",
} as const;

/**
 * The built-in ClusterRoles each squad role is bound to. Using the aggregated defaults means
 * CRD authors can extend them (`aggregate-to-edit`) and squads get the new kinds for free.
 */
export const CLUSTER_ROLES = { lead: "admin", member: "edit", viewer: "view" } as const;

type Role = keyof typeof CLUSTER_ROLES;
const ROLES: readonly Role[] = ["lead", "member", "viewer"];

const RBAC_GROUP = "rbac.authorization.k8s.io";

/**
 * The namespaced kinds a Squad owns through a controller ownerReference. They are what the
 * controller `.owns(...)`, and the only kinds `planSquad` ever deletes.
 */
export const OWNED_RESOURCES: readonly Resource[] = [
  RoleBindingResource,
  ResourceQuotaResource,
  LimitRangeResource,
  NetworkPolicyResource,
];

const RESOURCES_BY_KIND: ReadonlyMap<string, Resource> = new Map(
  [NamespaceResource, ...OWNED_RESOURCES].map((r) => [r.kind, r]),
);

/** The Resource of an object the squad plan produced, by its `kind`; undefined for foreign kinds. */
export function resourceOf(obj: KubeObject): Resource | undefined {
  return obj.kind === undefined ? undefined : RESOURCES_BY_KIND.get(obj.kind);
}

/** A Namespace as the informer holds it; only labels, deletionTimestamp and phase are read. */
export type Namespace = KubeObject & { status?: { phase?: string } };

export interface PlanInput {
  /** The Squad, its spec already parsed (and defaulted) by `squadSpec.parse`. */
  squad: Squad;
  /**
   * Every namespace the spec declares (including the default one) → the Namespace observed in
   * the informer, or undefined when it does not exist.
   */
  observedNamespaces: ReadonlyMap<string, Namespace | undefined>;
  /**
   * What the squad owns today: namespaced objects whose ownerReferences name the squad's uid
   * and Namespaces labelled `crescendo.dev/squad=<squad>`. Anything here that is no longer
   * desired is deleted (namespaced objects) or released (Namespaces).
   */
  owned?: readonly KubeObject[];
  /**
   * Whether a Squad of this name exists, so a conflict with a namespace left behind by a
   * deleted Squad says how to free it. Absent: every owner is assumed to exist.
   */
  squadExists?: (name: string) => boolean;
  /**
   * How the operator reads the on-call webhook Secret without a cluster-wide `get secrets`: a
   * RoleBinding of `clusterRole` (get secrets, which the operator may only `bind`) to its own
   * ServiceAccount, in the squad namespace holding the Secret. The operator's own namespace is
   * covered by the chart. Absent (a local run with a user's credentials): no RoleBinding, but
   * the Secret must still be in one of those namespaces.
   */
  secretReader?: SecretReader;
  /**
   * The tribes the platform declares (`--tribes`): a Squad may join only one of these. Empty or
   * absent: any tribe, as before tribes were declared.
   */
  declaredTribes?: readonly string[];
}

export interface SecretReader {
  clusterRole?: string;
  serviceAccount?: { name: string; namespace: string };
  /** The operator's namespace, where the chart lets it read Secrets. */
  operatorNamespace: string;
}

/**
 * Something that needs a human. `NamespaceConflict`: a declared namespace belongs to someone
 * else; nothing is written into it. `InvalidSpec`: the spec is valid for zod but cannot be
 * honoured as written (e.g. Tribe isolation without a tribe).
 */
export interface Conflict {
  /** The namespace concerned; absent for a problem of the whole spec. */
  namespace?: string;
  reason: "NamespaceConflict" | "InvalidSpec";
  message: string;
}

/**
 * What happens to one declared namespace. `Create`: it does not exist yet. `Adopt`: it exists
 * without an owner and the spec allows adoption. `Owned`: it already carries the squad label.
 * `Terminating`: it is being deleted; nothing can be created in it until it is gone, after
 * which the next reconcile creates it afresh. `Conflict`: someone else's; left alone.
 */
export type NamespaceDecision =
  | { name: string; action: "Create" | "Adopt" | "Owned" }
  | { name: string; action: "Terminating" }
  | { name: string; action: "Conflict"; message: string };

export interface PlanResult {
  /**
   * Objects to server-side apply, in order: each namespace first, then its RoleBindings,
   * ResourceQuota, LimitRange and NetworkPolicy. `apiVersion` and `kind` are always set.
   */
  objects: KubeObject[];
  /** Owned namespaced objects that are no longer desired: delete them. */
  deletions: KubeObject[];
  /**
   * Namespaces labelled as this squad's that the spec no longer declares, as observed: patch
   * each with `releasePatch` so it stays, with its data, but no longer belongs to the squad.
   * Namespaces are never deleted here: only the finalizer does that, and only with policy
   * `Delete`.
   */
  released: Namespace[];
  conflicts: Conflict[];
  /** Declared namespaces in spec order, with what happens to each. */
  decisions: NamespaceDecision[];
  /**
   * The namespaces the squad owns or is about to own (every declaration but conflicts), in
   * spec order: where its Releases and FeatureToggles are counted.
   */
  namespaces: string[];
}

/** A Kubernetes label value: at most 63 characters, alphanumeric at both ends. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Plans a Squad: the desired objects per namespace, what to delete or release, and what
 * blocks progress. Pure and deterministic: the same input gives deep-equal output.
 */
export function planSquad(input: PlanInput): PlanResult {
  const { squad, observedNamespaces } = input;
  const name = squad.metadata.name ?? "";
  const uid = squad.metadata.uid;
  if (!uid) throw new Error(`squad ${name} has no uid; plan only Squads read from the API`);

  const nameProblem = squadNameProblem(name, squad.spec.namespaces.length === 0);
  if (nameProblem) {
    return {
      objects: [],
      deletions: [],
      released: [],
      conflicts: [nameProblem],
      decisions: [],
      namespaces: [],
    };
  }

  const conflicts: Conflict[] = [];
  const tribe = tribeOf(squad, input.declaredTribes, conflicts);
  const labels = commonLabels(name, tribe);
  const owner = ownerReference(name, uid);
  const declarations = declaredNamespaces(squad, conflicts).filter(
    (d) => !isSystemNamespace(d.name, input.secretReader?.operatorNamespace, conflicts),
  );
  const isolation = isolationPeer(squad, tribe, conflicts);
  const members = squad.spec.members;
  // What the chart's admission policy reads on the namespace to hold members' own
  // NetworkPolicies to the isolation scope and to the namespaces the Squad lets in.
  const isolationLabels: Record<string, string> = isolation
    ? { [LABELS.networkIsolation]: LABELS.tribe in isolation ? "Tribe" : "Squad" }
    : {};
  const allowIngressFrom = squad.spec.allowIngressFrom ?? [];
  const isolationNotes: Record<string, string> =
    isolation && allowIngressFrom.length > 0
      ? { [ANNOTATIONS.allowIngressFrom]: [...allowIngressFrom].sort().join(",") }
      : {};

  const objects: KubeObject[] = [];
  const decisions: NamespaceDecision[] = [];
  for (const declared of declarations) {
    const observed = observedNamespaces.get(declared.name);
    const decision = decide(declared.name, declared.adopt, name, observed, input.squadExists);
    decisions.push(decision);
    if (decision.action === "Conflict") {
      conflicts.push({ namespace: declared.name, reason: "NamespaceConflict", message: decision.message });
      continue;
    }
    if (decision.action === "Terminating") continue;
    objects.push(
      namespaceObject(
        declared.name,
        declared.labels,
        { ...labels, ...isolationLabels, ...chapterLabels(members) },
        conflicts,
        isolationNotes,
      ),
    );
    const meta = (objectName: string, extra: Record<string, string> = {}) => ({
      name: objectName,
      namespace: declared.name,
      labels: { ...labels, ...extra },
      ownerReferences: [{ ...owner }],
    });
    objects.push(...roleBindings(members, meta));
    if (squad.spec.quota) objects.push(resourceQuota(squad.spec.quota.hard, meta));
    if (squad.spec.limits) objects.push(limitRange(squad.spec.limits, meta));
    if (isolation) objects.push(networkPolicy(isolation, squad.spec.allowIngressFrom ?? [], meta));
  }

  const secretBinding = webhookSecretBinding(squad, decisions, input.secretReader, owner, labels, conflicts);
  if (secretBinding) objects.push(secretBinding);

  const declaredNames = new Set(declarations.map((d) => d.name));
  const terminating = new Set(decisions.filter((d) => d.action === "Terminating").map((d) => d.name));
  const desired = new Set(objects.map(objectIdentity));
  return {
    objects,
    deletions: (input.owned ?? []).filter((obj) => isStaleOwned(obj, uid, desired, terminating)),
    released: (input.owned ?? []).filter((obj) => isReleased(obj, name, declaredNames)),
    conflicts,
    decisions,
    namespaces: decisions.filter((d) => d.action !== "Conflict").map((d) => d.name),
  };
}

/**
 * The tribe the squad is in: `spec.tribe` when the platform declares it (or declares none, which
 * allows any). A tribe it does not declare is refused, named with the field, and the squad is in
 * no tribe: its objects carry no tribe label, so no Tribe isolation, no tribe's NetworkPolicy and
 * no tribe's flag sharing admits it for naming one.
 */
export function tribeOf(
  squad: Squad,
  declared: readonly string[] | undefined,
  conflicts: Conflict[],
): string | undefined {
  const tribe = squad.spec.tribe;
  if (tribe === undefined || tribeAllowed(tribe, declared)) return tribe;
  conflicts.push({
    reason: "InvalidSpec",
    message: `spec.tribe: tribe "${tribe}" is not one the platform declares (${[...(declared ?? [])].sort().join(", ")}); the squad is in no tribe until spec.tribe names one of them`,
  });
  return undefined;
}

/** Whether a Squad may name `tribe`: the platform declares it, or declares no tribe at all. */
export function tribeAllowed(tribe: string, declared: readonly string[] | undefined): boolean {
  return declared === undefined || declared.length === 0 || declared.includes(tribe);
}

/** The label key prefix of a chapter: `chapter.crescendo.dev/<chapter>: "true"`. */
export const CHAPTER_LABEL_PREFIX = "chapter.crescendo.dev/";

/** A label name (the part after the prefix): at most 63 characters, alphanumeric at both ends. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/**
 * One label per chapter among `members`: an object may concern members of several chapters (a
 * RoleBinding binds every member of a role), so each chapter is a key of its own and
 * `-l chapter.crescendo.dev/backend` selects what concerns the backend chapter. A chapter that
 * is no label name (free text such as "Data Science") is left out: the field predates labels,
 * and refusing it would stall Squads that were valid.
 */
export function chapterLabels(members: readonly SquadMember[]): Record<string, string> {
  const chapters = members.flatMap((m) =>
    m.chapter !== undefined && LABEL_NAME.test(m.chapter) ? [m.chapter] : [],
  );
  return Object.fromEntries(
    [...new Set(chapters)].sort().map((c) => [`${CHAPTER_LABEL_PREFIX}${c}`, "true"]),
  );
}

/** The labels every object the squad creates carries. */
export function commonLabels(squad: string, tribe: string | undefined): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.squad]: squad,
    ...(tribe ? { [LABELS.tribe]: tribe } : {}),
    [LABELS.backstageId]: squad,
  };
}

/**
 * A Squad's name is a DNS subdomain (cluster-scoped objects allow dots and 253 characters), but
 * it becomes a label value everywhere and, by default, a namespace name; refuse what cannot.
 */
function squadNameProblem(name: string, defaultNamespace: boolean): Conflict | undefined {
  if (!LABEL_VALUE.test(name) || name.length > 63) {
    return {
      reason: "InvalidSpec",
      message: `squad name "${name}" is not a valid label value (at most 63 characters); rename the Squad`,
    };
  }
  if (defaultNamespace && !DNS_LABEL.test(name)) {
    return {
      reason: "InvalidSpec",
      message: `squad name "${name}" is not a valid namespace name; list spec.namespaces explicitly`,
    };
  }
  return undefined;
}

interface Declared {
  name: string;
  labels: Record<string, string>;
  adopt: boolean;
}

/** spec.namespaces, or the default namespace named after the squad; a repeated name counts once. */
function declaredNamespaces(squad: Squad, conflicts: Conflict[]): Declared[] {
  if (squad.spec.namespaces.length === 0) {
    return [{ name: squad.metadata.name ?? "", labels: {}, adopt: false }];
  }
  const seen = new Set<string>();
  const out: Declared[] = [];
  for (const ns of squad.spec.namespaces) {
    if (seen.has(ns.name)) {
      conflicts.push({
        namespace: ns.name,
        reason: "InvalidSpec",
        message: `namespace "${ns.name}" is listed more than once; the first entry is used`,
      });
      continue;
    }
    seen.add(ns.name);
    out.push({ name: ns.name, labels: ns.labels ?? {}, adopt: ns.adopt });
  }
  return out;
}

/**
 * Namespaces no Squad may own, adopt or create: Kubernetes' own (`kube-*`, `default`) and the
 * operator's. Owning one would make the squad's lead admin there. The CRD refuses the first two
 * in `spec.namespaces` at admission; this also covers a Squad named after one (its default
 * namespace) and the operator's namespace, which the CRD cannot know.
 */
function isSystemNamespace(
  name: string,
  operatorNamespace: string | undefined,
  conflicts: Conflict[],
): boolean {
  const system = name === "default" || name.startsWith("kube-") || name === operatorNamespace;
  if (system) {
    conflicts.push({
      namespace: name,
      reason: "InvalidSpec",
      message: `namespace "${name}" is a system namespace (kube-*, default, the operator's own); a Squad may not own it`,
    });
  }
  return system;
}

/**
 * Ownership is the `crescendo.dev/squad` label on the Namespace: a namespace is never taken from
 * another squad, and one nobody owns is taken only when the spec says `adopt: true`.
 */
function decide(
  name: string,
  adopt: boolean,
  squad: string,
  observed: Namespace | undefined,
  squadExists: ((name: string) => boolean) | undefined,
): NamespaceDecision {
  if (!observed) return { name, action: "Create" };
  const owner = observed.metadata.labels?.[LABELS.squad];
  if (owner !== undefined && owner !== squad) {
    const gone = squadExists && !squadExists(owner);
    const message = gone
      ? `namespace "${name}" belongs to squad "${owner}", which no longer exists; remove its ${LABELS.squad} label to free it`
      : `namespace "${name}" belongs to squad "${owner}"`;
    return { name, action: "Conflict", message };
  }
  if (owner === undefined && !adopt) {
    return {
      name,
      action: "Conflict",
      message: `namespace "${name}" already exists and belongs to no squad; set adopt: true on it in spec.namespaces to adopt it`,
    };
  }
  if (observed.metadata.deletionTimestamp) return { name, action: "Terminating" };
  return { name, action: owner === undefined ? "Adopt" : "Owned" };
}

/**
 * The namespace selector that isolation admits ingress from, or undefined for no policy.
 * Selecting by label rather than listing names lets the CNI follow squads joining or leaving
 * a tribe without reconciling every squad of it. Tribe isolation without a tribe falls back to
 * Squad isolation: never more open than asked, and the spec is reported as invalid.
 */
function isolationPeer(
  squad: Squad,
  tribe: string | undefined,
  conflicts: Conflict[],
): Record<string, string> | undefined {
  const name = squad.metadata.name ?? "";
  switch (squad.spec.networkIsolation) {
    case "None":
      return undefined;
    case "Squad":
      return { [LABELS.squad]: name };
    case "Tribe":
      if (tribe) return { [LABELS.tribe]: tribe };
      // A tribe the platform does not declare was reported by tribeOf: isolate to the squad.
      if (squad.spec.tribe) return { [LABELS.squad]: name };
      conflicts.push({
        reason: "InvalidSpec",
        message:
          "networkIsolation Tribe needs spec.tribe; isolating the squad's own namespaces until it is set",
      });
      return { [LABELS.squad]: name };
  }
}

/**
 * The Namespace itself: no ownerReference, so deleting the Squad can never garbage-collect a
 * namespace and its data. Ownership labels win over the spec's extra labels, which may not
 * set them (that is reported, since silently ignoring a label would surprise).
 */
function namespaceObject(
  name: string,
  extra: Record<string, string>,
  labels: Record<string, string>,
  conflicts: Conflict[],
  annotations: Record<string, string>,
): KubeObject {
  const reserved = Object.keys(extra)
    .filter(
      (k) =>
        k in labels ||
        k === LABELS.tribe ||
        k === LABELS.networkIsolation ||
        k.startsWith(CHAPTER_LABEL_PREFIX),
    )
    .sort();
  if (reserved.length > 0) {
    conflicts.push({
      namespace: name,
      reason: "InvalidSpec",
      message: `namespace "${name}" sets labels the operator manages: ${reserved.join(", ")}`,
    });
  }
  const kept = Object.fromEntries(Object.entries(extra).filter(([k]) => !reserved.includes(k)));
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: { ...sorted(kept), ...labels },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
  };
}

type Meta = (name: string, extraLabels?: Record<string, string>) => KubeObject["metadata"];

/**
 * Where the on-call webhook Secret may be read from: a namespace of the squad (then the operator
 * binds itself the secret reader there) or the operator's own. Any other namespace is refused:
 * a Squad must not make the operator read Secrets of namespaces it does not own.
 */
function webhookSecretBinding(
  squad: Squad,
  decisions: readonly NamespaceDecision[],
  reader: SecretReader | undefined,
  owner: OwnerReference,
  labels: Record<string, string>,
  conflicts: Conflict[],
): KubeObject | undefined {
  const ref = squad.spec.oncall?.webhookSecretRef;
  if (!ref) return undefined;
  const owned = decisions.filter((d) => d.action !== "Conflict").map((d) => d.name);
  const namespace = ref.namespace ?? decisions[0]?.name;
  if (namespace === undefined) return undefined;
  if (namespace === reader?.operatorNamespace && !owned.includes(namespace)) return undefined;
  if (!owned.includes(namespace)) {
    const operator = reader ? ` or the operator's namespace ${reader.operatorNamespace}` : "";
    conflicts.push({
      reason: "InvalidSpec",
      message: `spec.oncall.webhookSecretRef.namespace: ${namespace} is not a namespace of the squad${operator}; the operator reads the webhook Secret only there`,
    });
    return undefined;
  }
  const decision = decisions.find((d) => d.name === namespace);
  if (!reader?.clusterRole || !reader.serviceAccount || decision?.action === "Terminating") return undefined;
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: "RoleBinding",
    metadata: {
      name: OBJECT_NAMES.secretReader,
      namespace,
      labels: { ...labels },
      ownerReferences: [{ ...owner }],
    },
    roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: reader.clusterRole },
    subjects: [{ kind: "ServiceAccount", ...reader.serviceAccount }],
  };
}

/**
 * One RoleBinding per role that has members; subjects in spec order, each once. Each carries the
 * chapters of the members it binds.
 */
function roleBindings(members: readonly SquadMember[], meta: Meta): KubeObject[] {
  return ROLES.flatMap((role) => {
    const holders = members.filter((m) => m.role === role);
    const subjects = uniqueSubjects(holders);
    if (subjects.length === 0) return [];
    return [
      {
        apiVersion: `${RBAC_GROUP}/v1`,
        kind: "RoleBinding",
        metadata: meta(OBJECT_NAMES[role], chapterLabels(holders)),
        roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: CLUSTER_ROLES[role] },
        subjects,
      },
    ];
  });
}

function uniqueSubjects(members: readonly SquadMember[]): Record<string, string>[] {
  const seen = new Set<string>();
  const out: Record<string, string>[] = [];
  for (const m of members) {
    // ServiceAccounts are core-group and namespaced; Users and Groups are RBAC-group names.
    const subject: Record<string, string> =
      m.kind === "ServiceAccount"
        ? { kind: m.kind, name: m.name, namespace: m.namespace ?? "" }
        : { kind: m.kind, name: m.name, apiGroup: RBAC_GROUP };
    const key = JSON.stringify(subject);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(subject);
  }
  return out;
}

function resourceQuota(hard: Record<string, string | number>, meta: Meta): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: meta(OBJECT_NAMES.quota),
    spec: { hard: sorted(hard) },
  };
}

function limitRange(limits: NonNullable<Squad["spec"]["limits"]>, meta: Meta): KubeObject {
  const item: Record<string, unknown> = { type: "Container" };
  for (const key of ["default", "defaultRequest", "max", "min"] as const) {
    const list = limits[key];
    if (list) item[key] = sorted(list);
  }
  return {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: meta(OBJECT_NAMES.limits),
    spec: { limits: [item] },
  };
}

/**
 * Every pod of the namespace accepts ingress only from namespaces matching `peer`, plus the
 * namespaces named in `allowIngressFrom` (monitoring, ingress controllers), selected by the
 * `kubernetes.io/metadata.name` label the apiserver sets on every namespace.
 */
function networkPolicy(peer: Record<string, string>, allowed: string[], meta: Meta): KubeObject {
  const extra = allowed.map((name) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } },
  }));
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(OBJECT_NAMES.isolation),
    spec: {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ namespaceSelector: { matchLabels: peer } }, ...extra] }],
    },
  };
}

/**
 * Namespaced dependents may name a cluster-scoped owner. `controller: true` routes their
 * events to the Squad; `blockOwnerDeletion` keeps foreground deletion of the Squad waiting
 * for them.
 */
function ownerReference(name: string, uid: string): OwnerReference {
  return { apiVersion: API_VERSION, kind: "Squad", name, uid, controller: true, blockOwnerDeletion: true };
}

/** Kind, namespace and name: what makes a planned object the same object as an observed one. */
export function objectIdentity(obj: KubeObject): string {
  return JSON.stringify([obj.kind ?? "", obj.metadata.namespace ?? "", obj.metadata.name ?? ""]);
}

/**
 * An owned object to delete: of a kind the squad creates, controlled by this very Squad (its
 * uid, so a namesake Squad recreated later never deletes the old one's objects by accident),
 * and no longer desired. Objects in a terminating namespace go with it; deleting them is noise.
 */
function isStaleOwned(obj: KubeObject, uid: string, desired: Set<string>, terminating: Set<string>): boolean {
  const ns = obj.metadata.namespace;
  if (ns === undefined || terminating.has(ns) || obj.metadata.deletionTimestamp) return false;
  if (!OWNED_RESOURCES.some((r) => r.kind === obj.kind)) return false;
  const controlled = (obj.metadata.ownerReferences ?? []).some((ref) => ref.controller && ref.uid === uid);
  return controlled && !desired.has(objectIdentity(obj));
}

/** A Namespace labelled as this squad's that the spec no longer declares (and that still exists). */
function isReleased(obj: KubeObject, squad: string, declared: Set<string>): boolean {
  return (
    obj.kind === "Namespace" &&
    obj.metadata.labels?.[LABELS.squad] === squad &&
    !obj.metadata.deletionTimestamp &&
    !declared.has(obj.metadata.name ?? "")
  );
}

/**
 * The merge patch that releases a namespace: the ownership labels and the applied-hash
 * annotation go (null deletes a key whoever set it, which server-side apply of a smaller object
 * would not do for fields another manager shares), everything else stays. It carries the
 * observed resourceVersion, so a namespace changed meanwhile is re-examined (409) rather than
 * stripped on stale information.
 */
export function releasePatch(ns: Namespace): { metadata: Record<string, unknown> } {
  const ours = [LABELS.managedBy, LABELS.squad, LABELS.tribe, LABELS.backstageId, LABELS.networkIsolation];
  const present = [
    ...ours.filter((k) => ns.metadata.labels?.[k] !== undefined),
    ...Object.keys(ns.metadata.labels ?? {}).filter((k) => k.startsWith(CHAPTER_LABEL_PREFIX)),
  ];
  const notes = [APPLIED_HASH_ANNOTATION, ANNOTATIONS.allowIngressFrom].filter(
    (k) => ns.metadata.annotations?.[k] !== undefined,
  );
  return {
    metadata: {
      ...(ns.metadata.resourceVersion ? { resourceVersion: ns.metadata.resourceVersion } : {}),
      labels: Object.fromEntries(present.map((k) => [k, null])),
      ...(notes.length > 0 ? { annotations: Object.fromEntries(notes.map((k) => [k, null])) } : {}),
    },
  };
}

/**
 * The minimal Namespace that claims a name for the squad. The controller creates it (POST, not
 * apply) before applying the full object: a create fails when the name was taken meanwhile,
 * whereas a forced apply would silently relabel a namespace another squad has just claimed.
 */
export function namespaceClaim(name: string, squad: string): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { [LABELS.squad]: squad } } };
}

/** Keys in order, so equal specs give byte-equal objects and the applied hash never flaps. */
function sorted<V>(record: Record<string, V>): Record<string, V> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
