/**
 * The check every on-call notification attempt makes before it sends, for Releases, FeatureToggles
 * and Squads alike. Reconciles start attempts from the status they hold, which may be older than
 * the apiserver's: a cache behind a watch, or a reconcile that began before the previous attempt's
 * outcome was written (`recordAttempts` writes it as the attempt ends and then forgets it, so that
 * reconcile no longer sees it in flight). Reading the object first, and sending only while its
 * entry is still pending at the same attempt count, is what keeps one message from being sent twice.
 */
import type { KubeClient } from "../../runtime/client.js";
import type { KubeObject, Resource } from "../../runtime/types.js";
import type { DeliveryEntry, WithNotifications } from "./delivery.js";
import { isPending } from "./delivery.js";

type WithStatus = KubeObject & { status?: WithNotifications<DeliveryEntry> };

/**
 * Whether the apiserver (a GET, not the cache) still shows notification `id` of `object` pending
 * after `attempts` attempts. A recreated object (another uid) is not the one the entry belongs to.
 * A failed read throws: the attempt then counts as failed and is retried after the backoff.
 */
export async function stillDue(
  client: Pick<KubeClient, "get">,
  resource: Resource,
  object: KubeObject,
  id: string,
  attempts: number,
): Promise<boolean> {
  let fresh: WithStatus | undefined;
  try {
    fresh = await client.get<WithStatus>(resource, object.metadata.name ?? "", object.metadata.namespace);
  } catch (err) {
    throw new Error(
      `reading the ${resource.kind} before notifying failed: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (!fresh || fresh.metadata.uid !== object.metadata.uid) return false;
  const entry = fresh.status?.notifications?.find((e) => e.id === id);
  return entry !== undefined && isPending(entry) && entry.attempts === attempts;
}
