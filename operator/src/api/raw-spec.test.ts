import { describe, expect, it } from "vitest";
import type { KubeObject } from "../runtime/types.js";
import {
  releaseHttpRoute,
  releaseTemplate,
  squadNamespaceDeletionPolicy,
  squadNamespaceNames,
  squadToggles,
  toggleGuardRelease,
} from "./raw-spec.js";

const obj = (spec: unknown): KubeObject => ({ metadata: { name: "x" }, spec });

describe("lenient raw-spec readers", () => {
  it("read squad namespaces, skipping malformed entries", () => {
    expect(
      squadNamespaceNames(
        obj({ namespaces: [{ name: "a" }, null, { name: "" }, "b", { name: 3 }, { name: "c" }] }),
      ),
    ).toEqual(["a", "c"]);
    expect(squadNamespaceNames(obj({ namespaces: "nope" }))).toEqual([]);
    expect(squadNamespaceNames(obj(undefined))).toEqual([]);
    expect(squadNamespaceNames({ metadata: {} })).toEqual([]);
  });

  it("read the squad's deletion policy and toggle policy as written", () => {
    expect(squadNamespaceDeletionPolicy(obj({ namespaceDeletionPolicy: "Delete", members: "invalid" }))).toBe(
      "Delete",
    );
    expect(squadNamespaceDeletionPolicy(obj([]))).toBeUndefined();
    expect(squadToggles(obj({ toggles: { maxLifetimeDays: 7 } }))).toEqual({ maxLifetimeDays: 7 });
    expect(squadToggles(undefined)).toBeUndefined();
  });

  it("read a release's HTTPRoute only when it names one", () => {
    const route = (httpRoute: unknown) =>
      obj({ strategy: { canary: { trafficRouting: { gatewayAPI: { httpRoute } } } } });
    expect(releaseHttpRoute(route("web"))).toBe("web");
    expect(releaseHttpRoute(route(""))).toBeUndefined();
    expect(releaseHttpRoute(route(7))).toBeUndefined();
    expect(releaseHttpRoute(obj({ strategy: { canary: "broken" } }))).toBeUndefined();
    expect(releaseHttpRoute(obj(null))).toBeUndefined();
  });

  it("read a release's template and a toggle's guard", () => {
    expect(releaseTemplate(obj({ template: { spec: {} } }))).toEqual({ spec: {} });
    expect(releaseTemplate(obj("nope"))).toBeUndefined();
    expect(toggleGuardRelease(obj({ guard: { release: "web" } }))).toBe("web");
    expect(toggleGuardRelease(obj({ guard: { release: ["web"] } }))).toBeUndefined();
    expect(toggleGuardRelease(obj({ guard: "web" }))).toBeUndefined();
  });
});
