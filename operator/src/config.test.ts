import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";

describe("loadConfig", () => {
  it("has defaults that work in-cluster", () => {
    const config = loadConfig([], { POD_NAMESPACE: "crescendo-system", POD_NAME: "crescendo-abc" });
    expect(config).toMatchObject({
      leaderElection: true,
      leaseNamespace: "crescendo-system",
      identity: "crescendo-abc",
      healthPort: 8081,
      ofrepPort: 8016,
      qps: 100,
      burst: 200,
    });
  });
  it("lets flags win over the environment", () => {
    const config = loadConfig(["--health-port", "9000", "--leader-elect=false"], {
      HEALTH_PORT: "7000",
      LEADER_ELECT: "true",
    });
    expect(config.healthPort).toBe(9000);
    expect(config.leaderElection).toBe(false);
  });
  it("refuses bad values with a clear message", () => {
    expect(() => loadConfig(["--workers", "many"], {})).toThrow(/--workers must be a non-negative integer/);
    expect(() => loadConfig(["--leader-elect", "perhaps"], {})).toThrow(/true or false/);
    expect(() => loadConfig(["--no-such-flag"], {})).toThrow(/Usage/);
  });
});
