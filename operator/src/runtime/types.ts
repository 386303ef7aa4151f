/**
 * The contracts the generic runtime is built from. They are written down once, here, so
 * the reflector, the store, the controller builder and the manager can be developed and
 * tested independently and still fit together. Nothing in this folder knows about squads.
 */

/** The parts of ObjectMeta the runtime reads. Objects are otherwise opaque JSON. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
  managedFields?: unknown[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Any Kubernetes object: apiVersion, kind, metadata, and whatever else the kind carries. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/**
 * Identifies a REST resource. Group "" is the core group. `plural` is the URL segment.
 * Resources are values, not classes, so a controller names what it watches in one line.
 */
export interface Resource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /**
   * The informer cache keeps `kubectl apply`'s last-applied annotation for this kind (it drops it
   * for every other): Squads, whose incident rules are checked against it for null label values
   * kubectl dropped before sending (api/incident.ts `droppedNullLabels`). Squads are few.
   */
  keepLastApplied?: boolean;
}

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones. */
export type ObjectKey = string;

/** A watch event as the apiserver sends it, after decoding. */
export type WatchEvent<T extends KubeObject = KubeObject> =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: T }
  | { type: "BOOKMARK"; object: { metadata: { resourceVersion: string } } }
  | { type: "ERROR"; object: { code?: number; reason?: string; message?: string } };

/** What a store tells its subscribers. Handlers must not throw; the store guards them anyway. */
export type StoreEvent<T extends KubeObject = KubeObject> =
  | { type: "upsert"; object: T; previous?: T }
  | { type: "delete"; object: T }
  /** The store was replaced wholesale after a (re)list: every object may have changed. */
  | { type: "resync"; objects: T[] };

/** What an index files an object under; pure and cheap, it runs on every cache write. */
export type IndexFunc<T extends KubeObject = KubeObject> = (obj: T) => readonly string[];

/** Read-only view of a reflector's cache, shared by every controller that watches the kind. */
export interface ReadStore<T extends KubeObject = KubeObject> {
  get(key: ObjectKey): T | undefined;
  list(namespace?: string): T[];
  /** Objects whose ownerReferences contain this uid. */
  byOwner(uid: string): T[];
  /** Objects carrying label `key=value`. */
  byLabel(key: string, value: string): T[];
  /**
   * Registers an index on the shared cache (client-go's AddIndexers): `valuesOf` names the
   * values an object is filed under. Each name is registered once per store.
   */
  addIndex(name: string, valuesOf: IndexFunc<T>): void;
  /** Objects an index files under `value`. */
  byIndex(name: string, value: string): T[];
  /** True once the first LIST has completed. */
  hasSynced(): boolean;
  subscribe(handler: (event: StoreEvent<T>) => void): () => void;
}

/** The result of one reconcile. Absent `requeueAfterMs` means "done until something changes". */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** Per-reconcile context handed to a reconciler. */
export interface ReconcileContext {
  /** Unique id for log correlation. */
  reconcileId: string;
  /** Aborted when the manager shuts down or loses leadership. */
  signal: AbortSignal;
}

/**
 * Reconciliation is level-based: the reconciler receives a key, never the event that caused
 * it, and must drive the world toward the desired state from what it observes now.
 */
export type Reconciler = (key: ObjectKey, ctx: ReconcileContext) => Promise<ReconcileResult>;

/** Thrown by a reconciler for an error that retrying cannot fix (e.g. invalid spec). */
export class TerminalError extends Error {
  constructor(
    message: string,
    readonly reason = "TerminalError",
  ) {
    super(message);
    this.name = "TerminalError";
  }
}

/** Time and randomness are injected so state machines are tested without real waiting. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    }),
};

/** Key of an object: `namespace/name`, or `name` when cluster-scoped. */
export function objectKey(obj: { metadata: ObjectMeta }): ObjectKey {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name ?? ""}` : (name ?? "");
}

/** Splits a key into namespace (undefined for cluster-scoped) and name. */
export function splitKey(key: ObjectKey): { namespace?: string; name: string } {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
