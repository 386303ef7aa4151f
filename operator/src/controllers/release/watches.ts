/**
 * What brings a Release to reconcile besides its own changes and the objects it owns: the watch
 * maps from an HTTPRoute, a Squad or a Namespace to the Releases it concerns, and the index of
 * Releases by the HTTPRoute they name, which the route map reads.
 */
import { LABELS } from "../../api/common.js";
import { releaseHttpRoute } from "../../api/raw-spec.js";
import { objectKey, type KubeObject, type ObjectKey, type ReadStore } from "../../runtime/types.js";
import type { RawRelease, RawSquad } from "./reconciler.js";

/** The Release store's index: `namespace/httpRoute` → the Releases whose spec names that route. */
export const RELEASES_BY_HTTP_ROUTE = "release.httpRoute";

/** The index function of `RELEASES_BY_HTTP_ROUTE`: read from the unvalidated spec, never throws. */
export function httpRouteKeysOf(release: KubeObject): string[] {
  const route = releaseHttpRoute(release);
  return route ? [`${release.metadata.namespace ?? ""}/${route}`] : [];
}

/** An HTTPRoute concerns the Releases that name it (the index must be registered). */
export function releasesOfRoute(releases: ReadStore<RawRelease>): (route: KubeObject) => ObjectKey[] {
  return (route) => releases.byIndex(RELEASES_BY_HTTP_ROUTE, objectKey(route)).map(objectKey).sort();
}

/** A Namespace concerns the Releases in it: its squad label says which Squad they belong to. */
export function releasesOfNamespace(releases: ReadStore<RawRelease>): (ns: KubeObject) => ObjectKey[] {
  return (ns) => releases.list(ns.metadata.name ?? "").map(objectKey);
}

/**
 * A Squad concerns the Releases in the namespaces labelled as its own, but only when its spec
 * changed (delivery defaults, tribe) or it came or went: its status changes whenever one of its
 * Releases does, and mapping those would reconcile every Release of the squad each time.
 */
export function releasesOfSquad(
  squads: ReadStore<RawSquad>,
  namespaces: ReadStore,
  releases: ReadStore<RawRelease>,
): (squad: RawSquad) => ObjectKey[] {
  const seen = new Map<string, string>();
  return (squad) => {
    const name = squad.metadata.name ?? "";
    const current = squads.get(name);
    if (!current) seen.delete(name);
    else {
      const fingerprint = `${current.metadata.uid ?? ""}/${current.metadata.generation ?? ""}`;
      if (seen.get(name) === fingerprint) return [];
      seen.set(name, fingerprint);
    }
    return namespaces
      .byLabel(LABELS.squad, name)
      .flatMap((ns) => releases.list(ns.metadata.name ?? "").map(objectKey));
  };
}
