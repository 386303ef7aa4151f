import { describe, expect, it } from "vitest";
import { releaseSpec } from "../../../api/release.js";
import { routerFor } from "../rollout.js";
import { serviceNames } from "./router.js";

describe("serviceNames", () => {
  it("names the per-revision Services routers point at", () => {
    expect(serviceNames("web")).toEqual({
      all: "web",
      stable: "web-stable",
      canary: "web-canary",
      preview: "web-preview",
    });
  });
});

describe("routerFor", () => {
  const spec = (strategy: Record<string, unknown>) =>
    releaseSpec.parse({ version: "1", template: {}, strategy });

  it("uses the HTTPRoute when gatewayAPI is configured, the replica ratio otherwise", () => {
    const gw = routerFor(
      spec({ canary: { steps: [{ setWeight: 10 }], trafficRouting: { gatewayAPI: { httpRoute: "r" } } } }),
    );
    expect(gw.name).toBe("HTTPRoute r");
    expect(routerFor(spec({ canary: { steps: [{ setWeight: 10 }] } })).name).toBe("replica ratio");
    expect(routerFor(spec({ blueGreen: {} })).name).toBe("replica ratio");
  });
});
