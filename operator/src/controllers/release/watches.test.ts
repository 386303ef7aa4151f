import { describe, expect, it } from "vitest";
import { Store } from "../../runtime/store.js";
import type { KubeObject } from "../../runtime/types.js";
import { httpRouteKeysOf, RELEASES_BY_HTTP_ROUTE, releasesOfRoute, releasesOfSquad } from "./watches.js";

describe("watch mappings", () => {
  function stores() {
    const make = () => {
      const s = new Store<KubeObject>();
      s.replace([], "1");
      return s;
    };
    return { squads: make(), namespaces: make(), releases: make() };
  }
  const squadObj = (generation: number) => ({
    metadata: { name: "payments", uid: "sq", generation, resourceVersion: String(generation) },
    spec: {},
  });

  it("maps a Squad to the Releases of its namespaces only when its spec changed or it went", () => {
    const s = stores();
    s.namespaces.upsert({ metadata: { name: "shop", labels: { "crescendo.dev/squad": "payments" } } });
    s.namespaces.upsert({ metadata: { name: "other" } });
    s.releases.upsert({ metadata: { name: "web", namespace: "shop" } });
    s.releases.upsert({ metadata: { name: "api", namespace: "other" } });
    const map = releasesOfSquad(s.squads, s.namespaces, s.releases);
    s.squads.upsert(squadObj(1));
    expect(map(squadObj(1))).toEqual(["shop/web"]);
    expect(map(squadObj(1))).toEqual([]); // a status update
    s.squads.upsert(squadObj(2));
    expect(map(squadObj(2))).toEqual(["shop/web"]);
    s.squads.delete(squadObj(2));
    expect(map(squadObj(2))).toEqual(["shop/web"]);
  });

  const rel = (name: string, route?: unknown) => ({
    metadata: { name, namespace: "shop" },
    spec:
      route === undefined
        ? {}
        : { strategy: { canary: { trafficRouting: { gatewayAPI: { httpRoute: route } } } } },
  });

  it("files a Release under the HTTPRoute its unvalidated spec names, in its own namespace", () => {
    expect(httpRouteKeysOf(rel("a", "front"))).toEqual(["shop/front"]);
    expect(httpRouteKeysOf(rel("c"))).toEqual([]);
    expect(httpRouteKeysOf(rel("d", ""))).toEqual([]);
    expect(httpRouteKeysOf(rel("e", 42))).toEqual([]);
    expect(
      httpRouteKeysOf({ metadata: { name: "f", namespace: "shop" }, spec: { strategy: "canary" } }),
    ).toEqual([]);
    expect(httpRouteKeysOf({ metadata: { name: "g" } })).toEqual([]);
  });

  it("maps an HTTPRoute to the Releases naming it, through the store's index, as Releases come, change and go", () => {
    const releases = new Store<KubeObject>();
    releases.replace([], "1");
    releases.addIndex(RELEASES_BY_HTTP_ROUTE, httpRouteKeysOf);
    const map = releasesOfRoute(releases);
    releases.upsert(rel("b", "front"));
    releases.upsert(rel("a", "front"));
    releases.upsert(rel("c"));
    const route = { metadata: { name: "front", namespace: "shop" } };
    expect(map(route)).toEqual(["shop/a", "shop/b"]);
    releases.upsert(rel("a", "back"));
    releases.delete(rel("b", "front"));
    expect(map(route)).toEqual([]);
    releases.replace([rel("b", "front")], "2");
    expect(map(route)).toEqual(["shop/b"]);
    expect(map({ metadata: { name: "back", namespace: "shop" } })).toEqual([]);
    expect(map({ metadata: { name: "front", namespace: "other" } })).toEqual([]);
  });
});
