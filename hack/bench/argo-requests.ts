/**
 * Argo Rollouts' API requests by `verb resource`, read from its own
 * `controller_clientset_k8s_request_total`. That counter's labels come from argoproj/pkg's
 * kubeclientmetrics, which guesses them from the request path: for Get, Update, Patch and Delete
 * the last path segment is `name` and the one before it `kind`. On a subresource
 * (`…/rollouts/rel-0/status`) that makes `kind` the OBJECT's name and `name` the subresource, so
 * grouping by `kind` alone printed "Patch rel-0" — one row per Rollout instead of "Patch
 * rollouts/status". A Create whose body it cannot read as JSON gets no kind at all. Here each
 * series is keyed by what was actually requested; the counts (and so every total) are unchanged.
 */
import { counterDelta, type Scrape } from "./prom.js";

export const ARGO_REQUESTS = "controller_clientset_k8s_request_total";

/** Subresources the Kubernetes API serves; `name` is one of these on a subresource request. */
const SUBRESOURCES = new Set([
  "status",
  "scale",
  "eviction",
  "binding",
  "ephemeralcontainers",
  "resize",
  "approval",
  "finalize",
  "token",
]);

const PATH_VERBS = new Set(["Get", "Update", "Patch", "Delete"]);

/**
 * The resource of an object the bench created, from its name: the bench's Rollouts are named
 * `rel-<i>` (their ReplicaSets and Pods carry hash suffixes, and the bench creates nothing else
 * under that name), so a subresource request on `rel-<i>` is on a Rollout.
 */
export const benchResourceOf = (objectName: string): string | undefined =>
  /^rel-\d+$/.test(objectName) ? "rollouts" : undefined;

/**
 * `verb resource` (or `verb resource/subresource`) for one series of Argo's request counter.
 * `resourceOf` names the resource of an object by its name, since the counter does not record
 * it on a subresource request; an object it does not know shows as `?`.
 */
export function argoRequestKey(
  labels: { verb: string; kind: string; name: string },
  resourceOf: (objectName: string) => string | undefined = benchResourceOf,
): string {
  const { verb, kind, name } = labels;
  if (PATH_VERBS.has(verb) && SUBRESOURCES.has(name)) return `${verb} ${resourceOf(kind) ?? "?"}/${name}`;
  if (kind === "") return `${verb} (kind not recorded)`;
  return `${verb} ${kind}`;
}

/** Requests by `verb resource` between two scrapes, largest first; zero rows left out. */
export function argoRequestsBy(
  before: Scrape | undefined,
  after: Scrape,
  resourceOf: (objectName: string) => string | undefined = benchResourceOf,
): Record<string, number> {
  const sums = new Map<string, number>();
  for (const [k, v] of counterDelta(before, after, ARGO_REQUESTS, ["verb", "kind", "name"])) {
    const [verb = "", kind = "", name = ""] = k.split("|");
    const key = argoRequestKey({ verb, kind, name }, resourceOf);
    sums.set(key, (sums.get(key) ?? 0) + v);
  }
  const out: Record<string, number> = {};
  for (const [k, v] of [...sums].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])))
    if (v > 0) out[k] = v;
  return out;
}

/**
 * The requests a figure counts: not watches (Argo counts one when a watch opens, a stream not a
 * request) and not the leader-election Lease (the designed heartbeat, left out on both sides).
 */
export const countedRequests = (rec: Record<string, number>): number =>
  Object.entries(rec)
    .filter(([k]) => !/^watch /i.test(k) && !/ leases$/i.test(k))
    .reduce((a, [, v]) => a + v, 0);
