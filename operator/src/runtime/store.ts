/**
 * The in-memory cache a reflector fills and every controller reads. Reconcilers read from
 * here, never from the API, so lookups must be cheap: indexes (client-go's Indexers,
 * controller-runtime's IndexField) are maintained on every write rather than computed by
 * scanning. The namespace, owner and label indexes are built in; a controller adds its own
 * with `addIndex` (e.g. "the Releases naming this HTTPRoute").
 */
import {
  objectKey,
  type IndexFunc,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type StoreEvent,
} from "./types.js";

export interface StoreOptions {
  /** Told about a subscriber that threw; the store itself carries on. */
  onHandlerError?: (err: unknown) => void;
  /** Keep `kubectl apply`'s last-applied annotation rather than drop it (`Resource.keepLastApplied`). */
  keepLastApplied?: boolean;
}

/** Built-in index names; a controller's own index must not reuse them. */
export const NAMESPACE_INDEX = "namespace";
export const OWNER_INDEX = "owner";
export const LABEL_INDEX = "label";

/** Index value → keys. Keys, not objects: each object is held exactly once. */
class Index<T extends KubeObject> {
  private readonly entries = new Map<string, Set<ObjectKey>>();

  constructor(readonly valuesOf: IndexFunc<T>) {}

  /** The function's values for one object; a throwing function indexes the object nowhere. */
  values(obj: T): readonly string[] {
    try {
      return this.valuesOf(obj);
    } catch {
      return [];
    }
  }

  add(value: string, key: ObjectKey): void {
    let keys = this.entries.get(value);
    if (!keys) this.entries.set(value, (keys = new Set()));
    keys.add(key);
  }

  remove(value: string, key: ObjectKey): void {
    const keys = this.entries.get(value);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) this.entries.delete(value);
  }

  keys(value: string): Iterable<ObjectKey> {
    return this.entries.get(value) ?? [];
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * A `ReadStore` plus the writes a reflector makes. Objects handed out are the cached objects
 * themselves, shared by every reader: treat them as read-only.
 */
export class Store<T extends KubeObject> implements ReadStore<T> {
  private readonly objects = new Map<ObjectKey, T>();
  private readonly indexes = new Map<string, Index<T>>([
    [NAMESPACE_INDEX, new Index<T>((obj) => [obj.metadata.namespace ?? ""])],
    [OWNER_INDEX, new Index<T>((obj) => (obj.metadata.ownerReferences ?? []).map((ref) => ref.uid))],
    [
      LABEL_INDEX,
      new Index<T>((obj) => Object.entries(obj.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`)),
    ],
  ]);
  private readonly handlers = new Set<(event: StoreEvent<T>) => void>();
  private synced = false;
  private lastResourceVersion = "";

  constructor(private readonly opts: StoreOptions = {}) {}

  get(key: ObjectKey): T | undefined {
    return this.objects.get(key);
  }

  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.objects.values()];
    return this.byIndex(NAMESPACE_INDEX, namespace);
  }

  byOwner(uid: string): T[] {
    return this.byIndex(OWNER_INDEX, uid);
  }

  byLabel(key: string, value: string): T[] {
    return this.byIndex(LABEL_INDEX, `${key}=${value}`);
  }

  /**
   * Adds an index: `valuesOf` maps an object to the values it is found under (none, one or
   * several). Objects already cached are indexed at once, so it may be called after sync.
   * The function must be pure and cheap; it runs on every write. A name is taken once.
   */
  addIndex(name: string, valuesOf: IndexFunc<T>): void {
    if (this.indexes.has(name)) throw new Error(`store index ${JSON.stringify(name)} already exists`);
    const index = new Index<T>(valuesOf);
    for (const [key, obj] of this.objects) for (const value of index.values(obj)) index.add(value, key);
    this.indexes.set(name, index);
  }

  /** The objects an index files under `value`, in no particular order. Unknown index: throws. */
  byIndex(name: string, value: string): T[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`store index ${JSON.stringify(name)} does not exist`);
    return this.resolve(index.keys(value));
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion of the last full list. */
  resourceVersion(): string {
    return this.lastResourceVersion;
  }

  size(): number {
    return this.objects.size;
  }

  subscribe(handler: (event: StoreEvent<T>) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /**
   * Swaps in the result of a (re)list. Objects that vanished while the watch was down get a
   * `delete` event each (their owners must hear of it, as client-go's DeletedFinalStateUnknown),
   * then one `resync` carries everything that is now present.
   */
  replace(objects: T[], resourceVersion: string): void {
    const incoming = new Map<ObjectKey, T>();
    for (const obj of objects)
      incoming.set(objectKey(obj), stripManagedFields(obj, this.opts.keepLastApplied));
    const vanished = [...this.objects].filter(([key]) => !incoming.has(key)).map(([, obj]) => obj);

    this.objects.clear();
    for (const index of this.indexes.values()) index.clear();
    for (const [key, obj] of incoming) this.insert(key, obj);
    this.synced = true;
    this.lastResourceVersion = resourceVersion;

    for (const object of vanished) this.emit({ type: "delete", object });
    this.emit({ type: "resync", objects: [...incoming.values()] });
  }

  /** Adds or updates one object; an unchanged resourceVersion means nothing happened, so nothing is emitted. */
  upsert(obj: T): void {
    const key = objectKey(obj);
    const previous = this.objects.get(key);
    if (
      previous &&
      obj.metadata.resourceVersion &&
      previous.metadata.resourceVersion === obj.metadata.resourceVersion
    ) {
      return;
    }
    const object = stripManagedFields(obj, this.opts.keepLastApplied);
    if (previous) this.unindex(key, previous);
    this.insert(key, object);
    this.emit(previous ? { type: "upsert", object, previous } : { type: "upsert", object });
  }

  /** Removes an object; emits with the final state the watch reported, if the object was known. */
  delete(obj: T): void {
    const key = objectKey(obj);
    const previous = this.objects.get(key);
    if (!previous) return;
    this.unindex(key, previous);
    this.objects.delete(key);
    this.emit({ type: "delete", object: stripManagedFields(obj) });
  }

  private insert(key: ObjectKey, obj: T): void {
    this.objects.set(key, obj);
    for (const index of this.indexes.values()) for (const value of index.values(obj)) index.add(value, key);
  }

  private unindex(key: ObjectKey, obj: T): void {
    for (const index of this.indexes.values())
      for (const value of index.values(obj)) index.remove(value, key);
  }

  private resolve(keys: Iterable<ObjectKey>): T[] {
    const out: T[] = [];
    for (const key of keys) {
      const obj = this.objects.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  private emit(event: StoreEvent<T>): void {
    for (const handler of [...this.handlers]) {
      try {
        handler(event);
      } catch (err) {
        try {
          this.opts.onHandlerError?.(err);
        } catch {
          // the error reporter failed too; there is nobody left to tell
        }
      }
    }
  }
}

/** What `kubectl apply` (client-side) keeps on every object it applies: a full copy of it, as JSON. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * managedFields is often the largest part of an object and no controller here reads it;
 * dropping it roughly halves the cache. `kubectl apply`'s last-applied annotation is a second
 * copy of the whole object (a Release applied with kubectl carries its spec twice); nothing
 * here reads it either. A shallow copy, so the caller's object is untouched and only the
 * stripped copy stays referenced.
 */
function stripManagedFields<T extends KubeObject>(obj: T, keepLastApplied = false): T {
  const annotations = obj.metadata.annotations;
  const lastApplied = !keepLastApplied && annotations !== undefined && LAST_APPLIED_ANNOTATION in annotations;
  if (!("managedFields" in obj.metadata) && !lastApplied) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  if (lastApplied) {
    const { [LAST_APPLIED_ANNOTATION]: _copy, ...rest } = annotations;
    metadata.annotations = rest;
  }
  return { ...obj, metadata };
}
