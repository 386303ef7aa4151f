/**
 * Follows one object through a watch until told to stop: what `status --watch` redraws from
 * and what `--wait` waits on. A watch ends now and then (server timeout, dropped connection),
 * so it resumes from the last resourceVersion, relists on 410 Gone, and retries other failures
 * with backoff; only a refusal (401, 403) ends it with an error.
 */
import { ApiError, isGone, type KubeClient } from "../../runtime/client.js";
import { systemClock, type KubeObject, type Resource } from "../../runtime/types.js";
import { explain } from "../errors.js";

export interface FollowOptions<T extends KubeObject> {
  client: KubeClient;
  resource: Resource;
  name: string;
  namespace?: string;
  /** Where to start: the resourceVersion of the state already shown. */
  resourceVersion: string;
  /** Ends the follow (Ctrl-C, a timeout); `follow` then returns normally. */
  signal: AbortSignal;
  /** Each new state of the object, undefined once deleted. Return true to stop following. */
  onChange(obj: T | undefined): boolean | void;
  /** Told about a transient failure before waiting `delayMs` to retry. */
  onRetry?(err: unknown, delayMs: number): void;
  /** The apiserver URL, for error messages. */
  server?: string;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A watch ERROR event carrying a code, turned into an error so one path handles both. */
class WatchEventError extends ApiError {}

const MAX_DELAY_MS = 15_000;

export async function follow<T extends KubeObject>(opts: FollowOptions<T>): Promise<void> {
  const sleep = opts.sleep ?? ((ms, signal) => systemClock.sleep(ms, signal));
  const fieldSelector = `metadata.name=${opts.name}`;
  let resourceVersion = opts.resourceVersion;
  let failures = 0;
  while (!opts.signal.aborted) {
    try {
      const events = opts.client.watch<T>(
        opts.resource,
        {
          namespace: opts.namespace,
          fieldSelector,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: 300,
        },
        opts.signal,
      );
      for await (const event of events) {
        if (event.type === "ERROR") {
          const { code = 500, reason = "Unknown", message = "watch error" } = event.object;
          throw new WatchEventError(code, reason, message, undefined, event.object, "watch");
        }
        resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
        failures = 0;
        if (event.type === "BOOKMARK") continue;
        if (opts.onChange(event.type === "DELETED" ? undefined : event.object)) return;
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      if (isGone(err)) {
        // Too old to resume: read the current state and watch on from there.
        const list = await opts.client
          .list<T>(opts.resource, { namespace: opts.namespace, fieldSelector })
          .catch((e: unknown) => {
            throw explain(e, { verb: "list", resource: opts.resource, namespace: opts.namespace });
          });
        resourceVersion = list.metadata.resourceVersion;
        if (opts.onChange(list.items[0])) return;
        continue;
      }
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        throw explain(err, {
          verb: "watch",
          resource: opts.resource,
          namespace: opts.namespace,
          server: opts.server,
        });
      }
      const delay = Math.min(1000 * 2 ** failures, MAX_DELAY_MS);
      failures++;
      opts.onRetry?.(err, delay);
      await sleep(delay, opts.signal);
    }
  }
}
