/**
 * The in-memory cache a reflector fills and every controller reads. Reconcilers read from
 * here, never from the API, so lookups must be cheap: the namespace, owner and label indexes
 * are maintained on every write rather than computed by scanning.
 */
import { objectKey, type KubeObject, type ObjectKey, type ReadStore, type StoreEvent } from "./types.js";

export interface StoreOptions {
  /** Told about a subscriber that threw; the store itself carries on. */
  onHandlerError?: (err: unknown) => void;
}

/** Index name → index value → keys. Keys, not objects: each object is held exactly once. */
class Index {
  private readonly entries = new Map<string, Set<ObjectKey>>();

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
  private readonly byNamespace = new Index();
  private readonly byOwnerUid = new Index();
  private readonly byLabelPair = new Index();
  private readonly handlers = new Set<(event: StoreEvent<T>) => void>();
  private synced = false;
  private lastResourceVersion = "";

  constructor(private readonly opts: StoreOptions = {}) {}

  get(key: ObjectKey): T | undefined {
    return this.objects.get(key);
  }

  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.objects.values()];
    return this.resolve(this.byNamespace.keys(namespace));
  }

  byOwner(uid: string): T[] {
    return this.resolve(this.byOwnerUid.keys(uid));
  }

  byLabel(key: string, value: string): T[] {
    return this.resolve(this.byLabelPair.keys(`${key}=${value}`));
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
    for (const obj of objects) incoming.set(objectKey(obj), stripManagedFields(obj));
    const vanished = [...this.objects].filter(([key]) => !incoming.has(key)).map(([, obj]) => obj);

    this.objects.clear();
    this.byNamespace.clear();
    this.byOwnerUid.clear();
    this.byLabelPair.clear();
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
    const object = stripManagedFields(obj);
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
    this.byNamespace.add(obj.metadata.namespace ?? "", key);
    for (const ref of obj.metadata.ownerReferences ?? []) this.byOwnerUid.add(ref.uid, key);
    for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) this.byLabelPair.add(`${k}=${v}`, key);
  }

  private unindex(key: ObjectKey, obj: T): void {
    this.byNamespace.remove(obj.metadata.namespace ?? "", key);
    for (const ref of obj.metadata.ownerReferences ?? []) this.byOwnerUid.remove(ref.uid, key);
    for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) this.byLabelPair.remove(`${k}=${v}`, key);
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
function stripManagedFields<T extends KubeObject>(obj: T): T {
  const annotations = obj.metadata.annotations;
  const lastApplied = annotations !== undefined && LAST_APPLIED_ANNOTATION in annotations;
  if (!("managedFields" in obj.metadata) && !lastApplied) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  if (lastApplied) {
    const { [LAST_APPLIED_ANNOTATION]: _copy, ...rest } = annotations;
    metadata.annotations = rest;
  }
  return { ...obj, metadata };
}
