import { describe, expect, it } from "vitest";
import type { AnalysisMetric } from "../api/analysis.js";
import type { SquadSpec } from "../api/squad.js";
import {
  PrometheusAllowlist,
  refusedAddressesMessage,
  refusedPrometheusAddresses,
  squadDeliveryAddresses,
} from "./allowlist.js";

const list = PrometheusAllowlist.of([
  "http://prometheus.monitoring:9090",
  "https://thanos.example.com/tenant-a/",
  "http://[::1]:9090",
  "http://127.0.0.1:9090",
]);

describe("PrometheusAllowlist.allows", () => {
  it.each([
    "http://prometheus.monitoring:9090",
    "http://prometheus.monitoring:9090/",
    "HTTP://Prometheus.Monitoring:9090",
    "https://thanos.example.com/tenant-a",
    "https://thanos.example.com:443/tenant-a//",
    "http://[0:0:0:0:0:0:0:1]:9090",
    "http://2130706433:9090", // 127.0.0.1 spelled as one number, as fetch reads it
    "http://0x7f.0.0.1:9090",
  ])("allows %s", (address) => {
    expect(list.allows(address)).toBe(true);
  });

  it.each([
    // other host, port, scheme or path
    "http://prometheus.monitoring:9091",
    "https://prometheus.monitoring:9090",
    "http://prometheus.monitoring",
    "http://prometheus.monitoring.evil.com:9090",
    "http://evil.com/prometheus.monitoring:9090",
    "https://thanos.example.com/tenant-b",
    "https://thanos.example.com/tenant-a/../tenant-b",
    "https://thanos.example.com/tenant-a/sub",
    "https://thanos.example.com",
    "http://127.0.0.2:9090",
    // the tricks, refused outright even when they "contain" an allowed address
    "http://prometheus.monitoring:9090@169.254.169.254",
    "http://prometheus.monitoring:9090#",
    "http://prometheus.monitoring:9090/?x=",
    "http://169.254.169.254/#http://prometheus.monitoring:9090",
    "http://prometheus.monitoring:9090\\@evil",
    "http://[::ffff:127.0.0.1]:9090", // the same host to some stacks, not the address allowed
    "",
    "prometheus.monitoring:9090",
  ])("refuses %s", (address) => {
    expect(list.allows(address)).toBe(false);
  });

  it("allows a Squad's addresses, compared in canonical form too", () => {
    const empty = PrometheusAllowlist.of([]);
    expect(empty.allows("http://prom.team:9090")).toBe(false);
    expect(empty.allows("HTTP://prom.team:9090/", ["http://prom.team:9090"])).toBe(true);
    expect(empty.allows("http://prom.team:9091", ["http://prom.team:9090"])).toBe(false);
    // A malformed squad address allows nothing (the CRD refuses it anyway).
    expect(empty.allows("http://x/#", ["http://x/#"])).toBe(false);
  });

  it("refuses to be built from an entry that is not an address, naming it", () => {
    expect(() => PrometheusAllowlist.of(["http://ok:9090", "http://x:9090/?q"])).toThrow(
      /"http:\/\/x:9090\/\?q" must not contain a query/,
    );
    expect(() => PrometheusAllowlist.of(["prometheus:9090"])).toThrow(/prometheus:9090/);
  });

  it("keeps the entries as configured for the start-up log", () => {
    expect(PrometheusAllowlist.of(["HTTP://A:1/"]).entries).toEqual(["HTTP://A:1/"]);
  });
});

function metric(name: string, address?: string): AnalysisMetric {
  return {
    name,
    prometheus: { ...(address === undefined ? {} : { address }), query: "up" },
    thresholdRange: { max: 1 },
    failureLimit: 0,
    inconclusiveLimit: 3,
    onNoData: "Inconclusive",
  };
}

describe("refusedPrometheusAddresses", () => {
  const squad: SquadSpec = {
    members: [],
    namespaces: [],
    networkIsolation: "None",
    namespaceDeletionPolicy: "Retain",
    delivery: {
      prometheus: { address: "http://prom.squad:9090" },
      metrics: [metric("squad-default", "http://other.squad:9090")],
    },
  };

  it("collects the squad's delivery addresses", () => {
    expect(squadDeliveryAddresses(squad)).toEqual(["http://prom.squad:9090", "http://other.squad:9090"]);
    expect(squadDeliveryAddresses(undefined)).toEqual([]);
    expect(squadDeliveryAddresses({ ...squad, delivery: {} })).toEqual([]);
  });

  it("names each refused field by its index in the Release's own metrics", () => {
    const metrics = [
      metric("allowed", "http://prometheus.monitoring:9090"),
      metric("default"), // the squad's default address
      metric("ssrf", "http://169.254.169.254/latest"),
      metric("squad-own", "http://prom.squad:9090/"),
      metric("loopback", "http://127.0.0.1:8080"),
      metric("squad-default", "http://other.squad:9090"), // appended from the squad
    ];
    const refused = refusedPrometheusAddresses(metrics, squad, list);
    expect(refused).toEqual([
      { field: "spec.analysis.metrics[2].prometheus.address", address: "http://169.254.169.254/latest" },
      { field: "spec.analysis.metrics[4].prometheus.address", address: "http://127.0.0.1:8080" },
    ]);
    expect(refusedAddressesMessage(refused)).toMatch(
      /^spec\.analysis\.metrics\[2\]\.prometheus\.address "http:\/\/169\.254\.169\.254\/latest", spec\.analysis\.metrics\[4\].*not an allowed Prometheus address; no query was sent/,
    );
  });

  it("without a squad, only the operator's allowlist counts", () => {
    expect(refusedPrometheusAddresses([metric("a", "http://prom.squad:9090")], undefined, list)).toHaveLength(
      1,
    );
    expect(refusedPrometheusAddresses([metric("a")], undefined, list)).toEqual([]);
  });
});
