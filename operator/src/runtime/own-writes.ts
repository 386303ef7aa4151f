/**
 * Read-your-own-writes over an informer cache. A controller's status write reaches its informer
 * only when the watch delivers it, so a reconcile that runs sooner (another event, a requeue, a
 * settled measurement) reads the object as it was before. Acting on that would compare with a
 * status that is no longer there (a needless write) and patch with a resourceVersion the server
 * has moved past (a 409 and a retry), and could undo what the write recorded (re-apply a canary
 * just rolled back). `OwnWrites` remembers each key's latest status write until the cache shows
 * it, and answers the freshest view: the cached object, with that write laid over it.
 *
 * resourceVersions are opaque (only equality means anything), so "newer" is never computed from
 * them. A status patch carries the resourceVersion it was based on as a precondition, so when it
 * succeeds the server held exactly that version: the versions older than our write that the cache
 * can still show are the one it was based on and those of our earlier writes not yet seen. Any
 * other version in the cache (ours, or someone's later change, or a recreated object) is at
 * least as new, and the cache wins again. A status write changes nothing but `status` and
 * `resourceVersion` (the status subresource ignores spec and metadata), so those two are all
 * that is kept: no spec, no managedFields.
 */
import { patchStatusIfChanged, type StatusWrite } from "./apply.js";
import { isConflict, isNotFound, type KubeClient } from "./client.js";
import {
  objectKey,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type Resource,
  type StoreEvent,
} from "./types.js";

/**
 * Bound on the versions one write supersedes (a run of writes the watch has not delivered).
 * Forgetting the oldest is safe: a cache still showing it is then read as it is, and a write
 * based on it fails with 409 and is retried.
 */
const MAX_SUPERSEDED = 16;

/** Our latest status write of one object, until the cache shows it. */
interface OwnWrite {
  /** The versions the cache may still hold that this write replaces, oldest first. */
  readonly supersedes: readonly string[];
  /** The version the write produced. */
  readonly resourceVersion: string;
  readonly status: unknown;
}

/**
 * Remembers a controller's status writes per object key until its informer catches up. Create
 * it with `trackOwnWrites(store)`, which keeps it in step with the store's events so memory is
 * bounded by the writes the watch has not delivered yet. One per controller: a new process
 * starts empty and reads the cache, which is merely older, never wrong.
 */
export class OwnWrites<T extends KubeObject> {
  private readonly writes = new Map<ObjectKey, OwnWrite>();

  constructor(private readonly store: Pick<ReadStore<T>, "get">) {}

  /** The freshest view of `key`: the cached object, with our newer status write over it. */
  get(key: ObjectKey): T | undefined {
    const observed = this.store.get(key);
    if (!observed) {
      this.writes.delete(key);
      return undefined;
    }
    return this.view(observed);
  }

  /**
   * `observed` (the cached object, or one derived from it such as a parsed spec) with our newer
   * status write over it, or `observed` itself once the cache has caught up.
   */
  view<U extends KubeObject>(observed: U): U {
    const key = objectKey(observed);
    const mine = this.writes.get(key);
    if (!mine) return observed;
    if (!mine.supersedes.includes(observed.metadata.resourceVersion ?? "")) {
      this.writes.delete(key);
      return observed;
    }
    return {
      ...observed,
      metadata: { ...observed.metadata, resourceVersion: mine.resourceVersion },
      status: mine.status,
    };
  }

  /**
   * `applyStatusIfChanged` (`patchStatusIfChanged`) on the freshest view `primary`, remembering what was written. A 409
   * means someone else changed the object after what we know of it, and a 404 that it is gone:
   * either way neither our write nor the cache is current, so the write is forgotten and the
   * cache (whose next event brings the newer object) is read again. The error is rethrown.
   */
  async patchStatus(
    client: Pick<KubeClient, "mergePatch">,
    primary: KubeObject,
    res: Resource,
    status: unknown,
  ): Promise<boolean> {
    let write: StatusWrite;
    try {
      write = await patchStatusIfChanged(client, primary, res, status);
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) this.forget(objectKey(primary));
      throw err;
    }
    if (!write.written) return false;
    // The server's answer is what the cache will show; a client that answers with no body
    // stored what was sent.
    const { response } = write;
    this.remember(primary, response?.metadata?.resourceVersion, response?.["status"] ?? status);
    return true;
  }

  /**
   * Records a status write based on `basedOn` that produced `resourceVersion`. Without both
   * versions (or if they are equal: nothing changed) there is nothing to bridge, and none either
   * when the watch delivered the write (or a later change) before the response came back.
   */
  remember(basedOn: KubeObject, resourceVersion: string | undefined, status: unknown): void {
    const key = objectKey(basedOn);
    const from = basedOn.metadata.resourceVersion;
    const earlier = this.writes.get(key);
    this.writes.delete(key);
    if (!from || !resourceVersion || resourceVersion === from) return;
    const chain = earlier?.resourceVersion === from ? earlier.supersedes : [];
    const write: OwnWrite = {
      supersedes: [...chain, from].slice(-MAX_SUPERSEDED),
      resourceVersion,
      status,
    };
    const cached = this.store.get(key)?.metadata.resourceVersion;
    if (cached !== undefined && write.supersedes.includes(cached)) this.writes.set(key, write);
  }

  /** Drops what is remembered of `key` (the object is gone, or our write failed). */
  forget(key: ObjectKey): void {
    this.writes.delete(key);
  }

  /** Keys with a write the cache has not shown yet. */
  size(): number {
    return this.writes.size;
  }

  /**
   * Follows the store: an event for a key whose cached version our write does not supersede
   * (our write arrived, someone's later change did, the object went) ends what is remembered
   * of it; a relist checks every key.
   */
  observe(event: StoreEvent<T>): void {
    if (event.type === "resync") {
      for (const key of [...this.writes.keys()]) this.prune(key);
    } else {
      this.prune(objectKey(event.object));
    }
  }

  private prune(key: ObjectKey): void {
    const mine = this.writes.get(key);
    if (!mine) return;
    const cached = this.store.get(key)?.metadata.resourceVersion;
    if (cached === undefined || !mine.supersedes.includes(cached)) this.writes.delete(key);
  }
}

/** An `OwnWrites` over `store`, kept in step with its events. */
export function trackOwnWrites<T extends KubeObject>(store: ReadStore<T>): OwnWrites<T> {
  const writes = new OwnWrites(store);
  store.subscribe((event) => writes.observe(event));
  return writes;
}
