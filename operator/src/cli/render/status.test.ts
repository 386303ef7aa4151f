import { stripVTControlCharacters } from "node:util";
import { describe, expect, it } from "vitest";
import type { AnalysisMetric } from "../../api/analysis.js";
import type { Release } from "../../api/kinds.js";
import type { ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { thresholdText } from "./analysis.js";
import { describeStage, renderStatus } from "./status.js";

const NOW = Date.parse("2025-03-01T12:00:00Z");
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");

const errorRate = {
  name: "error-rate",
  prometheus: { query: 'sum(rate(http_errors{revision="{{revision}}"}[1m]))' },
  thresholdRange: { max: 0.05 },
  failureLimit: 0,
  inconclusiveLimit: 3,
  onNoData: "Inconclusive",
} as AnalysisMetric;
const latency = {
  name: "latency-p99",
  prometheus: { query: "histogram_quantile(0.99, ...)" },
  compareToStable: { maxIncrease: 0.1, maxRatio: 1.2 },
  failureLimit: 1,
  inconclusiveLimit: 3,
  onNoData: "Inconclusive",
} as AnalysisMetric;

const canarySpec = {
  version: "1.5.0",
  replicas: 5,
  template: { spec: { containers: [{ name: "app", image: "shop:1.5.0" }] } },
  strategy: {
    canary: {
      steps: [
        { setWeight: 10 },
        { pause: { duration: "1m" } },
        { analysis: { metrics: ["error-rate", "latency-p99"] } },
        { setWeight: 50 },
        { pause: {} },
      ],
    },
  },
  analysis: { interval: "30s", metrics: [errorRate, latency] },
} as unknown as ReleaseSpec;

const blueGreenSpec = {
  version: "2.0.0",
  replicas: 3,
  template: { spec: { containers: [{ name: "app", image: "shop:2.0.0" }] } },
  strategy: { blueGreen: { previewReplicas: 1, scaleDownDelaySeconds: 30 } },
} as unknown as ReleaseSpec;

function release(spec: ReleaseSpec, status: ReleaseStatus | undefined, annotations?: Record<string, string>) {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name: "checkout", namespace: "shop", generation: 3, ...(annotations ? { annotations } : {}) },
    spec,
    ...(status ? { status } : {}),
  } as Release;
}

const ready = (status: "True" | "False", reason: string, message: string, since = 120) => ({
  type: "Ready",
  status,
  reason,
  message,
  lastTransitionTime: ago(since),
  observedGeneration: 3,
});

const rolledBackMessage =
  "rolled back 1.5.0 (revision 7f9c2a): error-rate 0.12 > max 0.05 (1 failed, failureLimit 0)";

const rolledBack: ReleaseStatus = {
  observedGeneration: 3,
  phase: "RolledBack",
  message: rolledBackMessage,
  stableRevision: "6b8d1e",
  stableVersion: "1.4.2",
  canaryRevision: "7f9c2a",
  canaryVersion: "1.5.0",
  canaryWeight: 0,
  desiredWeight: 0,
  abortedAt: ago(90),
  analysis: {
    startedAt: ago(300),
    step: 2,
    metrics: [
      {
        name: "error-rate",
        successful: 1,
        failed: 1,
        inconclusive: 0,
        consecutiveInconclusive: 0,
        measurements: [
          {
            at: ago(150),
            phase: "Successful",
            value: "0.01",
            message: "error-rate 0.01 <= max 0.05",
          },
          { at: ago(120), phase: "Failed", value: "0.12", message: "error-rate 0.12 > max 0.05" },
        ],
      },
      {
        name: "latency-p99",
        successful: 2,
        failed: 0,
        inconclusive: 0,
        consecutiveInconclusive: 0,
        measurements: [
          {
            at: ago(120),
            phase: "Successful",
            value: "0.31",
            stableValue: "0.3",
            message: "latency-p99 canary 0.31 vs stable 0.3: increase 0.01 <= maxIncrease 0.1",
          },
        ],
      },
    ],
  },
  conditions: [
    ready("False", "RolledBack", rolledBackMessage, 90),
    {
      type: "RolledBack",
      status: "True",
      reason: "AnalysisFailed",
      message: rolledBackMessage,
      lastTransitionTime: ago(90),
    },
  ],
  history: [
    {
      revision: "7f9c2a",
      version: "1.5.0",
      startedAt: ago(600),
      finishedAt: ago(90),
      outcome: "RolledBack",
      reason: "AnalysisFailed",
    },
    {
      revision: "6b8d1e",
      version: "1.4.2",
      startedAt: ago(86_400),
      finishedAt: ago(86_000),
      outcome: "Promoted",
      reason: "all steps passed",
    },
  ],
};

const paused: ReleaseStatus = {
  observedGeneration: 3,
  phase: "Paused",
  pauseReason: "ManualPause",
  pausedAt: ago(30),
  message: "paused by action 20250301T115930Z-0a1b2c3d",
  stableRevision: "6b8d1e",
  stableVersion: "1.4.2",
  canaryRevision: "7f9c2a",
  canaryVersion: "1.5.0",
  currentStepIndex: 3,
  stepStartedAt: ago(45),
  desiredWeight: 50,
  canaryWeight: 40,
  replicas: 10,
  readyReplicas: 9,
  lastAction: {
    id: "20250301T115930Z-0a1b2c3d",
    action: "pause",
    acceptedAt: ago(30),
    result: "paused",
  },
  conditions: [ready("False", "ManualPause", "paused by action 20250301T115930Z-0a1b2c3d", 30)],
};

const blueGreen: ReleaseStatus = {
  observedGeneration: 3,
  phase: "Paused",
  pauseReason: "AwaitingPromotion",
  pausedAt: ago(10),
  message: "preview ready: waiting for promote",
  stableRevision: "11aa22",
  stableVersion: "1.9.0",
  canaryRevision: "33bb44",
  canaryVersion: "2.0.0",
  currentStepIndex: 1,
  stepStartedAt: ago(10),
  canaryWeight: 0,
  desiredWeight: 0,
  replicas: 3,
  readyReplicas: 4,
};

const healthy: ReleaseStatus = {
  observedGeneration: 3,
  phase: "Healthy",
  message: "1.5.0 (revision 7f9c2a) is stable",
  stableRevision: "7f9c2a",
  stableVersion: "1.5.0",
  canaryWeight: 0,
  desiredWeight: 0,
  replicas: 5,
  readyReplicas: 5,
  conditions: [ready("True", "Healthy", "1.5.0 (revision 7f9c2a) is stable", 3600)],
};

interface Case {
  name: string;
  release: Release;
  contains: (string | RegExp)[];
  excludes?: (string | RegExp)[];
}

const cases: Case[] = [
  {
    name: "an undone release says which revision runs instead of spec.template's",
    release: release(canarySpec, {
      ...healthy,
      override: {
        revision: "7f9c2a",
        version: "1.5.0",
        specRevision: "8a0d3b",
        at: ago(60),
        actionId: "u-1",
      },
    }),
    contains: [
      "Override     undone to revision 7f9c2a 1m ago (action u-1); spec.template (revision 8a0d3b) waits until it changes",
    ],
    excludes: [],
  },
  {
    name: "a RolledBack release names the metric, its values and the threshold",
    release: release(canarySpec, rolledBack),
    contains: [
      "Release      shop/checkout",
      /Phase\s+RolledBack {2}since 1m30s ago/,
      `Message      ${rolledBackMessage}`,
      "Ready        False (RolledBack)\n",
      "kubectl crescendo retry checkout -n shop to roll out 1.5.0 again",
      "Stable       1.4.2 (revision 6b8d1e)",
      "Canary       1.5.0 (revision 7f9c2a)",
      "Step         none (rolled back)",
      "Traffic      100% to stable\n",
      "Analysis of step 2, started 5m ago",
      "error-rate: value <= 0.05; failureLimit 0, inconclusiveLimit 3",
      "1 successful, 1 failed, 0 inconclusive",
      /2m ago\s+Failed\s+0\.12\s+error-rate 0\.12 > max 0\.05/,
      "latency-p99: canary - stable <= 0.1 and canary / stable <= 1.2; failureLimit 1",
      /0\.31 vs stable 0\.3/,
      /RolledBack\s+True\s+AnalysisFailed\s+1m30s ago\s+\(as Message above\)/,
      /1\.5\.0\s+7f9c2a\s+RolledBack\s+10m ago\s+8m30s\s+AnalysisFailed/,
      /1\.4\.2\s+6b8d1e\s+Promoted\s+1d ago\s+6m40s/,
    ],
    excludes: ["Steps", "Pending"],
  },
  {
    name: "a paused release says why and what to type to continue",
    release: release(canarySpec, paused),
    contains: [
      /Phase\s+Paused \(ManualPause\) {2}since 30s ago/,
      "Next         kubectl crescendo resume checkout -n shop to continue, or kubectl crescendo abort checkout -n shop to roll back",
      "Step         3/6  setWeight 50%, started 45s ago",
      "Traffic      canary desired 50%, achieved 40% (shifting)",
      "Replicas     5 desired, 10 pods, 9 ready across revisions",
      /Last action\s+pause 30s ago: paused {2}\(id 20250301T115930Z-0a1b2c3d\)/,
      "Strategy     canary, 5 steps, traffic by replica ratio, roll back on failure",
      /Steps\n {4}0 {2}setWeight 10% +done\n {4}1 {2}pause 1m +done\n {4}2 {2}analysis of error-rate, latency-p99 +done\n {2}> 3 {2}setWeight 50% +paused \(ManualPause\)\n {4}4 {2}pause until promoted\n {4}5 {2}scale up and promote/,
    ],
    excludes: ["Analysis", "History", "Pending"],
  },
  {
    name: "a blue-green release awaiting promotion shows its preview and the promote command",
    release: release(blueGreenSpec, blueGreen),
    contains: [
      /Phase\s+Paused \(AwaitingPromotion\)/,
      "Next         kubectl crescendo promote checkout -n shop to switch traffic to the preview",
      "Strategy     blue-green, preview 1 replica, switches on promote, roll back on failure",
      "Step         1/3  await promotion, started 10s ago",
      "Traffic      100% to stable; the preview is reached through Service checkout-preview",
      "Preview      2.0.0 (revision 33bb44)",
      /Steps\n {4}0 {2}preview at 1 replica +done\n {2}> 1 {2}await promotion +paused \(AwaitingPromotion\)\n {4}2 {2}scale up and promote/,
    ],
    excludes: ["Canary ", "canary desired"],
  },
  {
    name: "a healthy release is short",
    release: release(canarySpec, healthy),
    contains: [
      /Phase\s+Healthy {2}since 1h ago/,
      "Ready        True (Healthy)\n",
      "Traffic      100% to stable\n",
    ],
    excludes: ["Next", "Steps", "Analysis", "History", "(shifting)"],
  },
  {
    name: "a release the controller has not seen yet",
    release: release(canarySpec, undefined),
    contains: ["Phase        unknown (the controller has not reported a status yet)"],
    excludes: ["Conditions"],
  },
  {
    name: "an action the controller has not acted on yet is shown as pending",
    release: release(canarySpec, paused, {
      "crescendo.dev/action": "resume",
      "crescendo.dev/action-id": "20250301T120000Z-ffff0000",
    }),
    contains: ["Pending      resume (id 20250301T120000Z-ffff0000) requested, not acted on yet"],
  },
  {
    name: "a spec change the controller has not observed is flagged",
    release: { ...release(canarySpec, { ...healthy, observedGeneration: 2 }) },
    contains: ["(spec generation 3 not yet observed; status is from 2)"],
  },
  {
    name: "an invalid spec still renders the status",
    release: release({ version: "1" } as unknown as ReleaseSpec, healthy),
    contains: ["Strategy     (spec does not validate; see the Stalled condition)", "Phase        Healthy"],
  },
];

describe("renderStatus", () => {
  it.each(cases)("$name", ({ release: r, contains, excludes }) => {
    const text = renderStatus(r, { now: NOW });
    for (const want of contains) {
      if (typeof want === "string") expect(text).toContain(want);
      else expect(text).toMatch(want);
    }
    for (const unwanted of excludes ?? []) {
      if (typeof unwanted === "string") expect(text).not.toContain(unwanted);
      else expect(text).not.toMatch(unwanted);
    }
    expect(text.endsWith("\n")).toBe(true);
  });

  it("has no escape codes without color, and colours the phase and failures with it", () => {
    const r = release(canarySpec, rolledBack);
    expect(renderStatus(r, { now: NOW })).not.toContain("\x1b[");
    const colored = renderStatus(r, { now: NOW, color: true });
    expect(colored).toContain("\x1b[31mRolledBack\x1b[39m");
    expect(colored).toContain("\x1b[31mFailed\x1b[39m");
    // Colour codes never break the alignment of the columns that follow them.
    expect(stripVTControlCharacters(colored)).toBe(renderStatus(r, { now: NOW }));
  });

  it("takes thresholds of metrics the Release does not define from the squad's defaults", () => {
    const spec = { ...canarySpec, analysis: { interval: "30s", metrics: [] } } as unknown as ReleaseSpec;
    const r = release(spec, rolledBack);
    expect(renderStatus(r, { now: NOW })).toContain("error-rate: threshold unknown");
    expect(renderStatus(r, { now: NOW, defaultMetrics: [errorRate] })).toContain("error-rate: value <= 0.05");
  });

  it("bounds measurements and history, saying how many are hidden", () => {
    const many = {
      ...rolledBack,
      history: Array.from({ length: 8 }, (_, i) => ({
        revision: `r${i}`,
        version: `1.${i}.0`,
        startedAt: ago(1000 * (i + 1)),
        outcome: "Promoted" as const,
      })),
    };
    const text = renderStatus(release(canarySpec, many), { now: NOW, historyLimit: 3, measurementLimit: 1 });
    expect(text).toContain("(5 older rollouts not shown)");
    expect(text).toContain("(1 earlier measurement not shown)");
    expect(text).not.toContain("r3 ");
  });
});

describe("thresholdText", () => {
  it.each([
    [{ thresholdRange: { max: 0.05 } }, "value <= 0.05"],
    [{ thresholdRange: { min: 0.99 } }, "value >= 0.99"],
    [{ thresholdRange: { min: 0.9, max: 1 } }, "0.9 <= value <= 1"],
    [{ compareToStable: { maxIncrease: 0.02 } }, "canary - stable <= 0.02"],
    [{ compareToStable: { maxRatio: 1.2 } }, "canary / stable <= 1.2"],
    [
      { compareToStable: { maxIncrease: 0, maxRatio: 1.5 } },
      "canary - stable <= 0 and canary / stable <= 1.5",
    ],
  ])("%j → %s", (def, want) => {
    expect(thresholdText({ ...errorRate, thresholdRange: undefined, ...def } as AnalysisMetric)).toBe(want);
  });
});

describe("describeStage", () => {
  it.each([
    [{ kind: "setWeight", weight: 20 }, "setWeight 20%"],
    [{ kind: "pause", durationMs: 90_000 }, "pause 1m30s"],
    [{ kind: "pause" }, "pause until promoted"],
    [{ kind: "analysis" }, "analysis of all metrics"],
    [{ kind: "awaitPromotion", afterMs: 60_000 }, "await promotion (automatic after 1m)"],
    [{ kind: "scaleUp" }, "scale up and promote"],
  ] as const)("%j → %s", (stage, want) => {
    expect(describeStage(stage)).toBe(want);
  });
});
