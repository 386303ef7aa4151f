/**
 * Two-phase finalizers, as kube-rs's `finalizer.rs` does them: a reconciler states what to do
 * while the object lives (`apply`) and what to undo when it is deleted (`cleanup`); this module
 * owns the bookkeeping of `metadata.finalizers` so no controller gets the ordering wrong.
 */
import { isNotFound, type KubeClient } from "./client.js";
import type { KubeObject, ReconcileResult, Resource } from "./types.js";

export interface FinalizerHandlers {
  /** The object is alive and carries the finalizer: reconcile it. */
  apply: () => Promise<ReconcileResult>;
  /**
   * The object is being deleted: release what `apply` created outside the object's ownership.
   * Resolving with `requeueAfterMs` means cleanup is still in progress: the finalizer stays and
   * the key is requeued. Resolving without it (or with `{}`) lets the finalizer go.
   */
  cleanup: () => Promise<ReconcileResult>;
}

/**
 * Runs `apply` or `cleanup` depending on the object's lifecycle:
 * - alive without the finalizer: add it first (so a deletion that races the first apply still
 *   waits for cleanup), then `apply`;
 * - alive with it: `apply`;
 * - deleting with it: `cleanup`, then remove it;
 * - deleting without it: nothing is left to do.
 * Every patch carries the observed resourceVersion, so concurrent edits of the finalizer list
 * fail with 409 (an immediate requeue) rather than dropping another controller's finalizer.
 */
export async function withFinalizer(
  client: Pick<KubeClient, "mergePatch">,
  res: Resource,
  obj: KubeObject,
  name: string,
  handlers: FinalizerHandlers,
): Promise<ReconcileResult> {
  const finalizers = obj.metadata.finalizers ?? [];
  const present = finalizers.includes(name);

  if (obj.metadata.deletionTimestamp) {
    if (!present) return {};
    const result = await handlers.cleanup();
    if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) return result;
    await patchFinalizers(
      client,
      res,
      obj,
      finalizers.filter((f) => f !== name),
    );
    return {};
  }

  if (!present) await patchFinalizers(client, res, obj, [...finalizers, name]);
  return handlers.apply();
}

async function patchFinalizers(
  client: Pick<KubeClient, "mergePatch">,
  res: Resource,
  obj: KubeObject,
  finalizers: string[],
): Promise<void> {
  const { name, namespace, resourceVersion } = obj.metadata;
  const metadata = { finalizers, ...(resourceVersion ? { resourceVersion } : {}) };
  try {
    await client.mergePatch(res, name ?? "", namespace, { metadata });
  } catch (err) {
    // Removing the last finalizer of a deleted object can race its disappearance: done either way.
    if (isNotFound(err) && obj.metadata.deletionTimestamp) return;
    throw err;
  }
}
