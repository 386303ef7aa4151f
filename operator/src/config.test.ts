import { describe, expect, it } from "vitest";
import { DEFAULT_REVERT_WINDOW_MS, HelpRequested, loadConfig, parseList } from "./config.js";
import { DEFAULT_REVERT_WINDOW_MS as DELIVERY_DEFAULT_REVERT_WINDOW_MS } from "./delivery/changes.js";

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
      eventsQps: 50,
      eventsBurst: 100,
    });
  });
  it("takes the Events client's rate limit apart from the reconcilers'", () => {
    const config = loadConfig(["--events-qps=5", "--kube-api-qps=300"], { EVENTS_BURST: "10" });
    expect(config).toMatchObject({ qps: 300, burst: 200, eventsQps: 5, eventsBurst: 10 });
    expect(() => loadConfig(["--events-burst=lots"], {})).toThrow(/--events-burst must be/);
  });
  it("takes the toggle debt periods in days, 14 by default, fractions allowed", () => {
    expect(loadConfig([], {})).toMatchObject({ toggleUnusedDays: 14, toggleRolledOutDays: 14 });
    const config = loadConfig(["--toggle-unused-days=0.001"], { TOGGLE_ROLLED_OUT_DAYS: "30" });
    expect(config).toMatchObject({ toggleUnusedDays: 0.001, toggleRolledOutDays: 30 });
    expect(() => loadConfig(["--toggle-unused-days=0"], {})).toThrow(
      /--toggle-unused-days must be a positive/,
    );
  });
  it("counts evaluations for toggle insight unless --toggle-insight=false", () => {
    expect(loadConfig([], {}).toggleInsight).toBe(true);
    expect(loadConfig(["--toggle-insight=false"], {}).toggleInsight).toBe(false);
    expect(loadConfig([], { TOGGLE_INSIGHT: "0" }).toggleInsight).toBe(false);
    expect(() => loadConfig(["--toggle-insight=off"], {})).toThrow(/--toggle-insight must be true or false/);
  });
  it("lets flags win over the environment", () => {
    const config = loadConfig(["--health-port", "9000", "--leader-elect=false"], {
      HEALTH_PORT: "7000",
      LEADER_ELECT: "true",
    });
    expect(config.healthPort).toBe(9000);
    expect(config.leaderElection).toBe(false);
  });
  it("leaves $KUBECONFIG to the loader, which merges a colon-separated list as kubectl does", () => {
    expect(loadConfig([], { KUBECONFIG: "/a:/b" }).kubeconfig).toBeUndefined();
    expect(loadConfig(["--kubeconfig", "/c"], { KUBECONFIG: "/a:/b" }).kubeconfig).toBe("/c");
  });
  it("reads the Prometheus allowlist from a flag or the environment, empty by default", () => {
    expect(loadConfig([], {}).allowedPrometheusAddresses).toEqual([]);
    expect(
      loadConfig([], { ALLOWED_PROMETHEUS_ADDRESSES: "http://a:9090, http://b:9090" })
        .allowedPrometheusAddresses,
    ).toEqual(["http://a:9090", "http://b:9090"]);
    expect(
      loadConfig(["--allowed-prometheus-addresses=http://c:9090"], {
        ALLOWED_PROMETHEUS_ADDRESSES: "http://a:9090",
      }).allowedPrometheusAddresses,
    ).toEqual(["http://c:9090"]);
  });
  it("authenticates OFREP with ServiceAccount tokens by default; none is explicit", () => {
    expect(loadConfig([], {})).toMatchObject({
      ofrepAuth: "serviceaccount",
      ofrepAudience: "crescendo-ofrep",
    });
    expect(loadConfig(["--ofrep-auth=none"], {}).ofrepAuth).toBe("none");
    expect(loadConfig([], { OFREP_AUTH: "token", OFREP_AUDIENCE: "flags" })).toMatchObject({
      ofrepAuth: "token",
      ofrepAudience: "flags",
    });
    expect(() => loadConfig(["--ofrep-auth=off"], {})).toThrow(
      /--ofrep-auth must be one of serviceaccount, token, none/,
    );
    expect(loadConfig([], {}).ofrepTokenNamespaces).toBeUndefined();
    expect(loadConfig(["--ofrep-token-namespaces=a, b"], {}).ofrepTokenNamespaces).toEqual(["a", "b"]);
    expect(loadConfig([], { OFREP_TOKEN_NAMESPACES: "*" }).ofrepTokenNamespaces).toBe("*");
  });
  it.each([
    [undefined, []],
    ["", []],
    ["http://a:1", ["http://a:1"]],
    ["http://a:1,http://b:2", ["http://a:1", "http://b:2"]],
    [" http://a:1 ,\n http://b:2,, ", ["http://a:1", "http://b:2"]],
  ])("parseList(%j)", (text, entries) => {
    expect(parseList(text)).toEqual(entries);
  });
  it("watches ask for 5-10 min by default; --watch-timeout or $WATCH_TIMEOUT changes it, at least 1s", () => {
    expect(loadConfig([], {}).watchTimeoutMs).toBe(300_000);
    expect(loadConfig(["--watch-timeout=20s"], { WATCH_TIMEOUT: "1m" }).watchTimeoutMs).toBe(20_000);
    expect(loadConfig([], { WATCH_TIMEOUT: "1m" }).watchTimeoutMs).toBe(60_000);
    expect(() => loadConfig(["--watch-timeout=0"], {})).toThrow(/--watch-timeout must be at least 1s/);
    expect(() => loadConfig(["--watch-timeout=500ms"], {})).toThrow(/--watch-timeout must be at least 1s/);
    expect(() => loadConfig(["--watch-timeout=20"], {})).toThrow(/--watch-timeout must be a duration/);
  });

  it("resyncs every 10 h by default; --sync-period or $SYNC_PERIOD changes it, 0 turns it off", () => {
    expect(loadConfig([], {}).syncPeriodMs).toBe(10 * 3_600_000);
    expect(loadConfig(["--sync-period=30m"], { SYNC_PERIOD: "2h" }).syncPeriodMs).toBe(1_800_000);
    expect(loadConfig([], { SYNC_PERIOD: "1h30m" }).syncPeriodMs).toBe(5_400_000);
    expect(loadConfig(["--sync-period", "0"], {}).syncPeriodMs).toBe(0);
    expect(() => loadConfig(["--sync-period=10"], {})).toThrow(/--sync-period must be a duration/);
    expect(() => loadConfig(["--sync-period=1d"], {})).toThrow(/--sync-period must be a duration/);
  });
  it("declares tribes with --tribes or $TRIBES, sorted and each once; none declared by default", () => {
    expect(loadConfig([], {}).tribes).toEqual([]);
    expect(loadConfig(["--tribes", "payments,discovery, payments"], {}).tribes).toEqual([
      "discovery",
      "payments",
    ]);
    expect(loadConfig([], { TRIBES: "core growth" }).tribes).toEqual(["core", "growth"]);
    expect(() => loadConfig(["--tribes=Payments,ok"], {})).toThrow(
      "--tribes must list DNS labels (lower case, digits, '-'), as spec.tribe is; got Payments",
    );
  });
  it("counts reverts within 24 h by default; --revert-window or $REVERT_WINDOW changes it", () => {
    expect(loadConfig([], {}).revertWindowMs).toBe(DELIVERY_DEFAULT_REVERT_WINDOW_MS);
    expect(DEFAULT_REVERT_WINDOW_MS).toBe(DELIVERY_DEFAULT_REVERT_WINDOW_MS);
    expect(loadConfig(["--revert-window=72h"], { REVERT_WINDOW: "1h" }).revertWindowMs).toBe(72 * 3_600_000);
    expect(loadConfig([], { REVERT_WINDOW: "30m" }).revertWindowMs).toBe(1_800_000);
    expect(() => loadConfig(["--revert-window=0"], {})).toThrow(
      '--revert-window must be more than zero, got "0"',
    );
    expect(() => loadConfig(["--revert-window=3d"], {})).toThrow(/--revert-window must be a duration/);
  });
  it("serves the Alertmanager receiver on 8017 with a token; alert labels are configurable", () => {
    const d = loadConfig([], {});
    expect(d.incidentPort).toBe(8017);
    expect(d.incidentToken).toBeUndefined();
    expect(d.incidentTokenFile).toBeUndefined();
    expect(d.incidentLabels).toEqual({
      namespace: "namespace",
      release: "crescendo_release",
      squad: "squad",
    });
    const c = loadConfig(
      ["--incident-port=9000", "--incident-token-file=/etc/t", "--incident-labels=squad=team"],
      {
        INCIDENT_TOKEN: "x",
      },
    );
    expect(c).toMatchObject({ incidentPort: 9000, incidentTokenFile: "/etc/t", incidentToken: "x" });
    expect(c.incidentLabels).toEqual({ namespace: "namespace", release: "crescendo_release", squad: "team" });
    expect(
      loadConfig([], { INCIDENT_LABELS: "namespace=kubernetes_namespace" }).incidentLabels.namespace,
    ).toBe("kubernetes_namespace");
    expect(() => loadConfig(["--incident-labels=team=x"], {})).toThrow(
      /--incident-labels takes namespace=NAME/,
    );
    expect(() => loadConfig(["--incident-labels=squad=my-team"], {})).toThrow(
      /Prometheus label names; got "squad=my-team"/,
    );
    expect(() => loadConfig(["--incident-labels=namespace=ns=kubernetes_namespace"], {})).toThrow(
      /got "namespace=ns=kubernetes_namespace"/,
    );
  });
  it("serves the receiver over TLS and with client certificates only when the flags agree", () => {
    const tls = ["--incident-tls-cert-file=/tls/tls.crt", "--incident-tls-key-file=/tls/tls.key"];
    const ca = "--incident-client-ca-file=/ca/ca.crt";
    // Off by default; the token alone as before; each mode the docs name.
    expect(loadConfig([], {})).toMatchObject({ incidentClientNames: [] });
    expect(loadConfig([], {}).incidentTlsCertFile).toBeUndefined();
    expect(loadConfig([...tls, "--incident-token-file=/t"], {})).toMatchObject({
      incidentTlsCertFile: "/tls/tls.crt",
      incidentTlsKeyFile: "/tls/tls.key",
    });
    expect(loadConfig([...tls, ca], {}).incidentClientCaFile).toBe("/ca/ca.crt");
    expect(loadConfig([...tls, ca], { INCIDENT_TOKEN: "x" }).incidentToken).toBe("x");
    expect(
      loadConfig([...tls, ca, "--incident-client-names= alertmanager.monitoring.svc ,Alert Manager,"], {})
        .incidentClientNames,
    ).toEqual(["alertmanager.monitoring.svc", "Alert Manager"]);
    expect(
      loadConfig([], {
        INCIDENT_TLS_CERT_FILE: "/c",
        INCIDENT_TLS_KEY_FILE: "/k",
        INCIDENT_CLIENT_CA_FILE: "/ca",
        INCIDENT_CLIENT_NAMES: "am",
      }),
    ).toMatchObject({ incidentTlsCertFile: "/c", incidentClientCaFile: "/ca", incidentClientNames: ["am"] });
    // Inconsistent: stop, naming what is missing.
    const refused: [string[], Record<string, string>, RegExp][] = [
      [["--incident-tls-cert-file=/c", "--incident-token-file=/t"], {}, /needs --incident-tls-key-file/],
      [["--incident-tls-key-file=/k", "--incident-token-file=/t"], {}, /needs --incident-tls-cert-file/],
      [[ca, "--incident-token-file=/t"], {}, /--incident-client-ca-file needs --incident-tls-cert-file/],
      [[ca], {}, /--incident-client-ca-file needs --incident-tls-cert-file/],
      [
        [...tls, "--incident-client-names=am", "--incident-token-file=/t"],
        {},
        /needs --incident-client-ca-file/,
      ],
      [tls, {}, /TLS but no authentication/],
      [[...tls, ca, "--incident-client-names=a,b\u0007c"], {}, /--incident-client-names takes/],
    ];
    for (const [argv, env, why] of refused) expect(() => loadConfig(argv, env), argv.join(" ")).toThrow(why);
    // The token from the environment counts as a token.
    expect(() => loadConfig(tls, { INCIDENT_TOKEN: "x" })).not.toThrow();
  });
  it("refuses bad values with a clear message", () => {
    expect(() => loadConfig(["--workers", "many"], {})).toThrow(/--workers must be a non-negative integer/);
    expect(() => loadConfig(["--leader-elect", "perhaps"], {})).toThrow(/true or false/);
    expect(() => loadConfig(["--no-such-flag"], {})).toThrow(/Usage/);
  });
  it("answers --help and -h with the usage as HelpRequested, not as an error", () => {
    for (const flag of ["--help", "-h"]) {
      expect(() => loadConfig([flag], {})).toThrow(HelpRequested);
      expect(() => loadConfig([flag], {})).toThrow(/Usage: crescendo/);
    }
    expect(() => loadConfig(["--no-such-flag"], {})).not.toThrow(HelpRequested);
  });
});
