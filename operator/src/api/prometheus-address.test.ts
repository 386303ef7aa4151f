import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { prometheusQuery } from "./analysis.js";
import {
  canonicalPrometheusAddress,
  PROMETHEUS_ADDRESS_PATTERN,
  prometheusAddressProblem,
  prometheusAddressValidation,
} from "./prometheus-address.js";

const pattern = new RegExp(PROMETHEUS_ADDRESS_PATTERN);

describe("prometheusAddressProblem accepts base URLs", () => {
  it.each([
    "http://prometheus.monitoring:9090",
    "http://prometheus.monitoring.svc.cluster.local:9090/",
    "https://thanos.example.com/tenant-a/prometheus",
    "http://127.0.0.1:9090",
    "http://[::1]:9090",
    "http://[2001:db8::1]/prom",
    "HTTP://Prometheus.Monitoring:9090", // schemes and hosts are case-insensitive
    "hTtPs://prom",
    "http://prom:9090/a;b=c/d,e+f~g",
  ])("%s", (address) => {
    expect(prometheusAddressProblem(address)).toBeUndefined();
    // The CRD's CEL rule agrees.
    expect(pattern.test(address)).toBe(true);
  });
});

describe("prometheusAddressProblem refuses every bypass trick", () => {
  it.each([
    // fragment and query: they would cut off the appended /api/v1/query
    ["http://169.254.169.254/latest/meta-data/iam/security-credentials/#", "fragment"],
    ["http://prom:9090#", "fragment"],
    ["http://prom:9090/#/api", "fragment"],
    ["http://169.254.169.254/latest/meta-data/?x=", "query"],
    ["http://prom:9090?", "query"],
    ["http://prom:9090/api/v1/query?query=up", "query"],
    // userinfo and @ tricks hiding the real host behind a trusted-looking name
    ["http://user:pass@prom:9090", "userinfo"],
    ["http://prometheus.monitoring:9090@169.254.169.254", "userinfo"],
    ["http://prometheus.monitoring@169.254.169.254/", "userinfo"],
    ["http://@prom", "userinfo"],
    ["http://prom/@evil", "userinfo"],
    ["http://evil\\@prom.monitoring", "backslash"],
    ["http://prom.monitoring\\.evil.com", "backslash"],
    // schemes
    ["file:///etc/passwd", 'not "file"'],
    ["gopher://prom:70/_x", 'not "gopher"'],
    ["ftp://prom", 'not "ftp"'],
    ["javascript:alert(1)", 'not "javascript"'],
    ["httpx://prom", 'not "httpx"'],
    ["http:prom:9090", "must start with http://"],
    ["http:/prom", "must start with http://"],
    ["HTTP:/\\prom", "must start with http://"],
    ["//prom:9090", "must start with http:// or https://"],
    ["prom:9090", 'not "prom"'],
    ["prometheus.monitoring", "must start with http:// or https://"],
    ["", "empty"],
    // encodings parsers read differently
    ["http://%31%36%39.254.169.254/", "percent"],
    ["http://prom/%2e%2e/admin", "percent"],
    ["http://[fe80::1%25eth0]/", "percent"],
    // whitespace, control and non-ASCII characters (WHATWG strips some of them silently)
    [" http://prom", "whitespace"],
    ["http://prom\t.evil", "whitespace"],
    ["http://prom\n", "whitespace"],
    ["http://pröm", "non-ASCII"],
    ["http://prom\u0000", "control"],
    // hosts and ports
    ["http://", "scheme://host"],
    ["http:///path", "scheme://host"],
    ["http://prom:port", "scheme://host"],
    ["http://prom:123456", "scheme://host"],
    ["http://prom:99999", "not a valid URL"],
    ["http://[::1", "scheme://host"],
    ["http://::1/", "scheme://host"],
    ["http://[not:ipv6]/", "scheme://host"],
    ["http://[::1]]/", "scheme://host"],
    ["http://prom_9090/", "scheme://host"],
    ["http://prom/<script>", "scheme://host"],
    ["http://" + "a".repeat(2100), "at most 2048"],
  ])("%j", (address, why) => {
    const problem = prometheusAddressProblem(address);
    expect(problem).toBeDefined();
    expect(problem).toContain(why);
    expect(canonicalPrometheusAddress(address)).toBeUndefined();
  });

  it("the CEL pattern refuses what the function refuses, except port range (zod checks it)", () => {
    for (const address of [
      "http://prom:9090#",
      "http://prom?x=",
      "http://a@b",
      "http://prom/@x",
      "file:///etc/passwd",
      "http://%31/",
      "http://prom\\@x",
      " http://prom",
      "http:prom",
    ]) {
      expect(pattern.test(address), address).toBe(false);
    }
  });

  it("whatever the input, the function answers and agrees with the pattern on acceptance", () => {
    const chars = fc.constantFrom(..."hHtTpPsS:/@?#%\\[]. -_09aZ~!$&'()*+,;=\t\u00e9".split(""));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: chars }), fc.webUrl()), (text) => {
        const problem = prometheusAddressProblem(text);
        if (problem === undefined) {
          expect(pattern.test(text)).toBe(true);
          const url = new URL(text);
          expect(["http:", "https:"]).toContain(url.protocol);
          expect(url.username + url.password + url.search + url.hash).toBe("");
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe("canonicalPrometheusAddress", () => {
  it.each([
    ["HTTP://Prom.Monitoring:9090/", "http://prom.monitoring:9090"],
    ["http://prom:80/", "http://prom"],
    ["https://prom:443/x//", "https://prom/x"],
    ["http://2852039166/", "http://169.254.169.254"],
    ["http://0xa9.0xfe.0xa9.0xfe", "http://169.254.169.254"],
    ["http://0251.0376.0251.0376", "http://169.254.169.254"],
    ["http://[0:0:0:0:0:0:0:1]:9090", "http://[::1]:9090"],
    ["http://[::ffff:169.254.169.254]", "http://[::ffff:a9fe:a9fe]"],
    ["http://prom/a/./b/../c", "http://prom/a/c"],
  ])("%s is %s", (address, canonical) => {
    expect(canonicalPrometheusAddress(address)).toBe(canonical);
  });
});

describe("the zod schema names the field", () => {
  it("refuses a fragment with the rule's words", () => {
    const parsed = prometheusQuery.safeParse({ address: "http://x/#", query: "up" });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["address"]);
    expect(parsed.error?.issues[0]?.message).toContain("fragment");
  });

  it("the CRD carries the same pattern as a CEL rule", () => {
    expect(prometheusAddressValidation.rule).toBe(
      `self.matches(${JSON.stringify(PROMETHEUS_ADDRESS_PATTERN)})`,
    );
  });
});
