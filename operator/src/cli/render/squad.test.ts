import { stripVTControlCharacters } from "node:util";
import { describe, expect, it } from "vitest";
import type { FeatureToggle, Release, Squad } from "../../api/kinds.js";
import type { SquadSpec, SquadStatus } from "../../api/squad.js";
import { renderSquad, type SquadRenderOptions } from "./squad.js";

const NOW = Date.parse("2025-03-01T12:00:00Z");
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");

const spec = {
  tribe: "payments",
  mission: "Customers pay in one click.",
  members: [
    { kind: "User", name: "alice", role: "lead" },
    { kind: "User", name: "bob", role: "member" },
    { kind: "ServiceAccount", name: "deployer", namespace: "checkout", role: "member" },
    { kind: "Group", name: "sre", role: "viewer" },
  ],
  namespaces: [{ name: "checkout" }, { name: "checkout-staging" }],
  networkIsolation: "Squad",
  toggles: { maxActive: 20 },
} as unknown as SquadSpec;

const status: SquadStatus = {
  observedGeneration: 1,
  namespaceCount: 2,
  namespaces: [
    { name: "checkout", ready: true },
    { name: "checkout-staging", ready: false, message: "ResourceQuota not applied: forbidden" },
  ],
  releases: { total: 5, progressing: 1, paused: 0, healthy: 3, degraded: 0, rolledBack: 1 },
  toggles: { total: 7, active: 4, stale: 2, killed: 1 },
  delivery: {
    deploymentsLast7d: 12,
    changeFailureRate: "8.3%",
    last7d: {
      deployments: 12,
      changes: 12,
      failedChanges: 1,
      changeFailRate: "8.3%",
      changeLeadTimeSeconds: 840,
      leadTimeFrom: "Commit",
      failedDeploymentRecoveryTimeSeconds: 200,
      recoveries: 1,
      openFailures: 0,
    },
    last30d: {
      deployments: 40,
      changes: 44,
      failedChanges: 4,
      changeFailRate: "9.1%",
      changeLeadTimeSeconds: 2 * 86400,
      leadTimeFrom: "Mixed",
      failedDeploymentRecoveryTimeSeconds: 7200,
      recoveries: 4,
      openFailures: 1,
    },
  },
  conditions: [
    {
      type: "Ready",
      status: "False",
      reason: "NamespacesNotReady",
      message: "1 of 2 namespaces not ready",
      lastTransitionTime: ago(300),
    },
  ],
};

function squad(s: SquadStatus | undefined): Squad {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Squad",
    metadata: { name: "checkout", generation: 1 },
    spec,
    ...(s ? { status: s } : {}),
  } as Squad;
}

const release = (name: string, namespace: string, s: Release["status"]) =>
  ({ metadata: { name, namespace }, spec: {}, status: s }) as unknown as Release;
const toggle = (name: string, s: FeatureToggle["status"], guard?: string) =>
  ({
    metadata: { name, namespace: "checkout" },
    spec: guard ? { guard: { release: guard } } : {},
    status: s,
  }) as unknown as FeatureToggle;

const extras: SquadRenderOptions = {
  releases: [
    release("web", "checkout", {
      phase: "Progressing",
      stableVersion: "1.4.2",
      canaryVersion: "1.5.0",
      canaryRevision: "7f9c2a",
      canaryWeight: 20,
    }),
    release("api", "checkout", { phase: "RolledBack", stableVersion: "3.1.0", canaryVersion: "3.2.0" }),
  ],
  toggles: [
    toggle("new-cart", { effectiveState: "Enabled" }),
    toggle("one-click", { effectiveState: "KilledByRollback", killedAt: ago(600) }, "api"),
    toggle("old-banner", { effectiveState: "Enabled", stale: true, staleSince: ago(86_400 * 3) }),
  ],
};

const cases: {
  name: string;
  squad: Squad;
  options?: SquadRenderOptions;
  contains: (string | RegExp)[];
  excludes?: string[];
}[] = [
  {
    name: "the squad's status: namespaces, counts, delivery metrics, conditions",
    squad: squad(status),
    contains: [
      "Squad       checkout (tribe payments)",
      "Mission     Customers pay in one click.",
      "Ready       False (NamespacesNotReady): 1 of 2 namespaces not ready",
      "Members     4 (1 lead, 2 members, 1 viewer)",
      "Namespaces  2",
      /checkout\s+ready\n/,
      /checkout-staging\s+not ready\s+ResourceQuota not applied: forbidden/,
      "Releases    5: 1 progressing, 0 paused, 3 healthy, 0 degraded, 1 rolled back",
      "Toggles     7: 4 active (max 20), 2 stale, 1 killed",
      /KEY\s+7 DAYS\s+30 DAYS\s+LEVEL \(30 DAYS\)/,
      /Deployment frequency\s+12 \(1\.71\/day\)\s+40 \(1\.33\/day\)\s+Elite\n/,
      /Change lead time\s+14m median, from commit\s+2d median, from commit or rollout start\s+High\n/,
      /Change failure rate\s+8\.3% \(1 of 12 changes\)\s+9\.1% \(4 of 44 changes\)\s+High\n/,
      /Failed deployment recovery time\s+3m20s median \(1 restored\)\s+2h median \(4 restored\)\s+High\n/,
      "1 failed change not restored yet",
      /Ready\s+False\s+NamespacesNotReady\s+5m ago\s+1 of 2 namespaces not ready/,
    ],
    excludes: ["NAMESPACE"],
  },
  {
    name: "with the squad's Releases and the toggles needing a person",
    squad: squad(status),
    options: extras,
    contains: [
      /NAMESPACE\s+NAME\s+PHASE\s+STABLE\s+CANARY\s+WEIGHT\n\s+checkout\s+api\s+RolledBack\s+3\.1\.0\s+3\.2\.0\n\s+checkout\s+web\s+Progressing\s+1\.4\.2\s+1\.5\.0\s+20%/,
      /one-click\s+killed\s+by api's rollback 10m ago; kubectl crescendo rearm one-click -n checkout/,
      /old-banner\s+stale\s+since 3d ago/,
    ],
    excludes: ["new-cart"],
  },
  {
    name: "a squad the controller has not reported on",
    squad: squad(undefined),
    contains: ["Releases    not reported yet", "Toggles     not reported yet", "Namespaces  0"],
    excludes: ["Delivery", "Conditions", "Incidents"],
  },
  {
    name: "delivery with no deployment, change or recovery in the window",
    squad: squad({
      ...status,
      delivery: {
        deploymentsLast7d: 0,
        changeFailureRate: "0%",
        last7d: { deployments: 0, changes: 0, failedChanges: 0, recoveries: 0, openFailures: 0 },
        last30d: { deployments: 0, changes: 0, failedChanges: 0, recoveries: 0, openFailures: 0 },
      },
    }),
    contains: [
      /Deployment frequency\s+0 \(0\.00\/day\)\s+0 \(0\.00\/day\)\s+Low\n/,
      /Change lead time\s+no deployment\s+no deployment\n/,
      /Change failure rate\s+no change\s+no change\n/,
      /Failed deployment recovery time\s+no recovery\s+no recovery\n/,
    ],
    excludes: ["not restored"],
  },
  {
    name: "an incident policy the operator refused, on its own line: the squad is Ready all the same",
    squad: squad({
      ...status,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Succeeded",
          message: "2 namespaces ready",
          lastTransitionTime: ago(300),
        },
        {
          type: "IncidentResponseValid",
          status: "False",
          reason: "InvalidSpec",
          message:
            "spec.incidentResponse.correlationWindow: correlationWindow must be between 1m and 24h; alerts of this squad are only notified (recorded and paged; nothing is reverted or killed) until it is fixed",
          lastTransitionTime: ago(60),
        },
      ],
    }),
    contains: [
      "Ready       True (Succeeded): 2 namespaces ready",
      "Incidents   policy refused (InvalidSpec): spec.incidentResponse.correlationWindow: correlationWindow must be between 1m and 24h; alerts of this squad are only notified",
      /IncidentResponseValid\s+False\s+InvalidSpec\s+1m ago\s+spec\.incidentResponse/,
    ],
  },
  {
    name: "an incident policy the operator accepted",
    squad: squad({
      ...status,
      conditions: [
        {
          type: "IncidentResponseValid",
          status: "True",
          reason: "Valid",
          message: "2 rules, correlationWindow 30m",
          lastTransitionTime: ago(60),
        },
      ],
    }),
    contains: ["Incidents   policy valid: 2 rules, correlationWindow 30m"],
  },
  {
    name: "delivery from an operator that has not computed the windows yet",
    squad: squad({ ...status, delivery: { deploymentsLast7d: 0, changeFailureRate: "0%" } }),
    contains: [/Delivery .*\n\s+not reported yet/],
  },
];

describe("renderSquad", () => {
  it.each(cases)("$name", ({ squad: s, options, contains, excludes }) => {
    const text = renderSquad(s, { now: NOW, ...options });
    for (const want of contains) {
      if (typeof want === "string") expect(text).toContain(want);
      else expect(text).toMatch(want);
    }
    for (const unwanted of excludes ?? []) expect(text).not.toContain(unwanted);
    expect(text).not.toContain("\x1b[");
  });

  it("colours only when asked", () => {
    const colored = renderSquad(squad(status), { now: NOW, color: true, ...extras });
    expect(colored).toContain("\x1b[31mnot ready\x1b[39m");
    expect(stripVTControlCharacters(colored)).toBe(renderSquad(squad(status), { now: NOW, ...extras }));
  });
});
