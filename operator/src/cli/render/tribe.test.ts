import { describe, expect, it } from "vitest";
import type { FeatureToggle, Release, Squad } from "../../api/kinds.js";
import type { HistoryEntry } from "../../api/release.js";
import { squadDelivery } from "../../delivery/squad-delivery.js";
import { renderTribe, tribeRecords } from "./tribe.js";

const NOW = Date.parse("2025-03-01T12:00:00Z");
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** A Release whose history the Squad's delivery computation reads, as the state machine writes it. */
function release(
  namespace: string,
  name: string,
  history: HistoryEntry[],
  status: Release["status"] = {},
): Release {
  return {
    metadata: { name, namespace },
    spec: {} as Release["spec"],
    status: { phase: "Healthy", stableRevision: history[0]?.revision, ...status, history },
  };
}

const promoted = (revision: string, startMin: number, minutes: number): HistoryEntry => ({
  revision,
  version: revision,
  startedAt: iso(NOW - startMin * MIN),
  finishedAt: iso(NOW - (startMin - minutes) * MIN),
  outcome: "Promoted",
});
const rolledBack = (revision: string, startMin: number, minutes: number): HistoryEntry => ({
  ...promoted(revision, startMin, minutes),
  outcome: "RolledBack",
});

/** A Squad whose status.delivery is what the Squad controller computes from these Releases. */
function squad(
  name: string,
  namespaces: string[],
  releases: Release[],
  extra: Partial<Squad["spec"]> = {},
): Squad {
  return {
    metadata: { name },
    spec: { tribe: "payments", namespaces: namespaces.map((n) => ({ name: n })), ...extra } as Squad["spec"],
    status: {
      conditions: [
        { type: "Ready", status: "True", reason: "Succeeded", message: "", lastTransitionTime: iso(NOW) },
      ],
      namespaces: namespaces.map((n) => ({ name: n, ready: true })),
      toggles: { total: 2, active: 1, stale: 1, killed: 0 },
      delivery: squadDelivery(undefined, releases, NOW),
    },
  };
}

// checkout: two deployments (10 and 30 min) and one rollback; search: one deployment of 20 min.
const checkoutReleases = [
  release("checkout", "web", [promoted("c", 100, 30), promoted("b", 300, 10)]),
  release("checkout", "api", [rolledBack("x", 200, 5), promoted("a", 400, 5)]),
];
const searchReleases = [release("search", "index", [promoted("s", 50, 20)])];
const checkout = squad("checkout", ["checkout"], checkoutReleases);
const search = squad("search", ["search"], searchReleases);

const inFlight: Release = {
  metadata: { name: "web", namespace: "checkout" },
  spec: {} as Release["spec"],
  status: {
    phase: "Paused",
    pauseReason: "PauseStep",
    stableVersion: "1.0.0",
    canaryVersion: "1.1.0",
    canaryWeight: 20,
    rolloutStartedAt: iso(NOW - 5 * MIN),
  },
};
const toggle = (namespace: string, name: string, status: FeatureToggle["status"]): FeatureToggle => ({
  metadata: { name, namespace },
  spec: {} as FeatureToggle["spec"],
  status,
});
const toggles = [
  toggle("checkout", "one-click", { effectiveState: "Enabled" }),
  toggle("search", "old-banner", {
    effectiveState: "Enabled",
    stale: true,
    staleSince: iso(NOW - 3 * 86400_000),
  }),
  toggle("search", "off", { effectiveState: "Disabled" }),
];

describe("renderTribe", () => {
  const out = renderTribe("payments", [search, checkout], { now: NOW, releases: [inFlight], toggles });
  const lines = out.split("\n");

  it("heads with the squads, Releases in flight and toggles", () => {
    expect(lines.slice(0, 4)).toEqual([
      "Tribe     payments",
      "Squads    2 (2 ready)",
      "Releases  1 in the squads' namespaces, 1 in flight",
      "Toggles   3: 2 active, 1 stale",
    ]);
  });

  it("gives each squad its 30-day keys from its own status, sorted by name", () => {
    const rows = lines.filter((l) => /^ {2}(checkout|search) /.test(l));
    expect(rows[0]).toMatch(
      /^ {2}checkout\s+True\s+3 \(0\.10\/day\)\s+10m\s+25%\s+5m\s+1\s+1 active, 1 stale$/,
    );
    expect(rows[1]).toMatch(/^ {2}search\s+True\s+1 \(0\.03\/day\)\s+20m\s+0%\s+-\s+0\s+1 active, 1 stale$/);
  });

  it("computes the tribe's keys from its squads' changes together, each change once", () => {
    expect(tribeRecords([checkout, search, checkout])).toHaveLength(5);
    const section = out.slice(out.indexOf("Delivery of the tribe"));
    // 4 deployments (5, 10, 20, 30 min: median 15 min), 1 failed of 5 changes.
    expect(section).toMatch(/Deployment frequency\s+4 \(0\.57\/day\)\s+4 \(0\.13\/day\)\s+Medium/);
    expect(section).toMatch(/Change lead time\s+15m median, from rollout start/);
    expect(section).toMatch(/Change failure rate\s+20% \(1 of 5 changes\)/);
  });

  it("lists the Releases in flight with their squad, and the stale toggles", () => {
    expect(out).toMatch(
      /Releases in flight\n.*\n {2}checkout\s+checkout\s+web\s+Paused \(PauseStep\)\s+1\.0\.0\s+1\.1\.0\s+20%\s+5m ago/,
    );
    expect(out).toMatch(/Stale toggles.*\n.*\n {2}search\s+search\s+old-banner\s+3d ago/);
  });

  it("says when nothing is in flight, and has no colour unless asked", () => {
    const quiet = renderTribe("payments", [checkout], { now: NOW });
    expect(quiet).toContain("Releases in flight  none");
    expect(quiet).not.toContain("Stale toggles");
    expect(quiet).not.toContain("\u001b[");
  });
});
