/**
 * Crescendo objects in every state the controllers report, with what Argo CD (through the Lua
 * health checks in charts/crescendo/argocd/) and kstatus (what Flux, kpt and cli-utils read)
 * should make of each. hack/argocd-health.test.ts and hack/kstatus.test.ts run the same table,
 * so the two readings documented in docs/gitops.md are checked against the same objects.
 *
 * The conditions come from the controllers' own pure functions: the Release's `conditionsFor`
 * (operator/src/controllers/release/conditions.ts, the kstatus table per phase) over statuses
 * shaped like the rollout's, the runtime's `readyConditions` for a Release the controller
 * refuses (as its `stalled` does), the Squad's plan and status, the FeatureToggle's status plan
 * and invalid-spec status. Every status is checked against the CRD's zod schema.
 */
import { featureToggleSpec, featureToggleStatus } from "../../operator/src/api/featuretoggle.js";
import type { FeatureToggle, Release, Squad } from "../../operator/src/api/kinds.js";
import {
  releaseSpec,
  releaseStatus,
  type PauseReason,
  type ReleaseStatus,
} from "../../operator/src/api/release.js";
import { squadSpec, squadStatus as squadStatusSchema } from "../../operator/src/api/squad.js";
import {
  invalidSpecStatus as invalidToggleStatus,
  planToggleStatus,
  type GuardRelease,
} from "../../operator/src/controllers/featuretoggle/plan.js";
import { planSquad, type Namespace } from "../../operator/src/controllers/squad/plan.js";
import {
  invalidSpecStatus as invalidSquadStatus,
  squadStatus,
} from "../../operator/src/controllers/squad/status.js";
import { conditionsFor } from "../../operator/src/controllers/release/conditions.js";
import type { ReleaseSnapshot } from "../../operator/src/controllers/release/snapshot.js";
import { contextOf } from "../../operator/src/controllers/release/state.js";
import { readyConditions, type Condition } from "../../operator/src/runtime/conditions.js";

export type ArgoHealth = "Healthy" | "Progressing" | "Degraded" | "Suspended" | "Missing";
export type KStatusResult = "InProgress" | "Failed" | "Current" | "Terminating" | "NotFound" | "Unknown";

export interface Sample {
  /** What the object is in, in words (the test's name). */
  name: string;
  kind: "Release" | "Squad" | "FeatureToggle";
  object: Record<string, unknown> & { metadata: Record<string, unknown> };
  argo: { status: ArgoHealth; message?: string | RegExp };
  kstatus: { status: KStatusResult; message?: string | RegExp };
}

/** The object as the apiserver would serve it: JSON, nothing undefined. */
function plain(object: object): Sample["object"] {
  return JSON.parse(JSON.stringify(object)) as Sample["object"];
}

const NOW = Date.parse("2030-01-01T12:00:00Z");
const CREATED = "2030-01-01T00:00:00Z";
const API_VERSION = "crescendo.dev/v1alpha1";

// ---------------------------------------------------------------------------------------------
// Release

interface ReleaseState {
  phase: NonNullable<ReleaseStatus["phase"]>;
  message: string;
  pauseReason?: PauseReason;
  generation?: number;
  observedGeneration?: number;
}

const RELEASE_SPEC = releaseSpec.parse({
  version: "1.5.0",
  replicas: 4,
  template: {
    metadata: { labels: { app: "web" } },
    spec: { containers: [{ name: "web", image: "web:1.5.0" }] },
  },
  strategy: { canary: { steps: [{ setWeight: 20 }, { analysis: {} }, { setWeight: 50 }, { pause: {} }] } },
});

function releaseObject(generation: number, status?: ReleaseStatus): Release {
  return {
    apiVersion: API_VERSION,
    kind: "Release",
    metadata: { name: "web", namespace: "shop", uid: "uid-web", generation, creationTimestamp: CREATED },
    spec: RELEASE_SPEC,
    ...(status ? { status } : {}),
  };
}

/** Ready/Reconciling/Stalled (and RolledBack) exactly as the rollout writes them (`conditionsFor`). */
function releaseConditions(status: ReleaseStatus, generation: number): Condition[] {
  const snapshot: ReleaseSnapshot = {
    release: releaseObject(generation, status),
    deployments: {},
    analysis: {},
    now: NOW,
  };
  return conditionsFor(status, contextOf(snapshot));
}

function release(s: ReleaseState, extra: Partial<ReleaseStatus> = {}): Sample["object"] {
  const generation = s.generation ?? 3;
  const base: ReleaseStatus = {
    observedGeneration: s.observedGeneration ?? generation,
    phase: s.phase,
    message: s.message,
    stableRevision: "6f7c9d",
    stableVersion: "1.4.0",
    ...(s.pauseReason ? { pauseReason: s.pauseReason, pausedAt: CREATED } : {}),
    canaryWeight: 0,
    desiredWeight: 0,
    ...extra,
  };
  const status = releaseStatus.parse({ ...base, conditions: releaseConditions(base, generation) });
  return plain(releaseObject(generation, status));
}

/** A Release the controller refused: Stalled InvalidSpec over its last status (controller `stalled`). */
function invalidRelease(): Sample["object"] {
  const before = release({ phase: "Healthy", message: "1.4.0 is available with 4 replicas", generation: 3 });
  const status = before.status as ReleaseStatus;
  const generation = 4;
  return {
    ...before,
    metadata: { ...before.metadata, generation },
    status: releaseStatus.parse({
      ...status,
      observedGeneration: generation,
      conditions: readyConditions(
        status.conditions,
        {
          state: "Stalled",
          reason: "InvalidSpec",
          message: "spec.strategy: set exactly one of canary or blueGreen",
        },
        { observedGeneration: generation, now: NOW },
      ),
    }),
  };
}

const rolledBackMessage =
  "rolled back 1.5.0 (revision 8a1b2c): error-rate: 0.12 > max 0.05 (3 failed measurements, failureLimit 2)";

export const releaseSamples: Sample[] = [
  {
    name: "Healthy",
    kind: "Release",
    object: release({ phase: "Healthy", message: "1.4.0 is available with 4 replicas" }),
    argo: { status: "Healthy", message: "1.4.0 is available with 4 replicas" },
    kstatus: { status: "Current" },
  },
  {
    name: "Progressing (a canary step)",
    kind: "Release",
    object: release(
      { phase: "Progressing", message: "step 2: analysing (no measurement yet)" },
      { canaryRevision: "8a1b2c", canaryVersion: "1.5.0", canaryWeight: 20, desiredWeight: 20 },
    ),
    argo: { status: "Progressing", message: "step 2: analysing (no measurement yet)" },
    kstatus: { status: "InProgress", message: "step 2: analysing (no measurement yet)" },
  },
  {
    name: "Paused at a pause step (deliberate)",
    kind: "Release",
    object: release({ phase: "Paused", pauseReason: "PauseStep", message: "step 4: paused until promote" }),
    argo: { status: "Suspended", message: "step 4: paused until promote" },
    kstatus: { status: "InProgress", message: "step 4: paused until promote" },
  },
  {
    name: "Paused by spec.paused (deliberate)",
    kind: "Release",
    object: release({ phase: "Paused", pauseReason: "Paused", message: "spec.paused is set" }),
    argo: { status: "Suspended", message: "spec.paused is set" },
    kstatus: { status: "InProgress" },
  },
  {
    name: "Paused awaiting blue-green promotion (deliberate)",
    kind: "Release",
    object: release({
      phase: "Paused",
      pauseReason: "AwaitingPromotion",
      message: "preview ready: waiting for promote",
    }),
    argo: { status: "Suspended", message: "preview ready: waiting for promote" },
    kstatus: { status: "InProgress" },
  },
  {
    name: "Paused on failed analysis (onFailure: Pause, Stalled)",
    kind: "Release",
    object: release({
      phase: "Paused",
      pauseReason: "AnalysisFailed",
      message: "error-rate: 0.12 > max 0.05",
    }),
    argo: { status: "Degraded", message: "AnalysisFailed: error-rate: 0.12 > max 0.05" },
    kstatus: { status: "Failed", message: "error-rate: 0.12 > max 0.05" },
  },
  {
    name: "Paused on inconclusive analysis (Stalled)",
    kind: "Release",
    object: release({
      phase: "Paused",
      pauseReason: "InconclusiveAnalysis",
      message: "error-rate: 3 inconclusive measurements (Prometheus unreachable)",
    }),
    argo: { status: "Degraded", message: /^InconclusiveAnalysis: / },
    kstatus: { status: "Failed" },
  },
  {
    name: "Paused past the progress deadline (Stalled)",
    kind: "Release",
    object: release({
      phase: "Paused",
      pauseReason: "ProgressDeadlineExceeded",
      message: "step 0 made no progress for 600s",
    }),
    argo: { status: "Degraded", message: "ProgressDeadlineExceeded: step 0 made no progress for 600s" },
    kstatus: { status: "Failed" },
  },
  {
    name: "Degraded (stable pods unavailable)",
    kind: "Release",
    object: release({ phase: "Degraded", message: "2/4 replicas of 1.4.0 available" }),
    argo: { status: "Degraded", message: "2/4 replicas of 1.4.0 available" },
    kstatus: { status: "InProgress", message: "2/4 replicas of 1.4.0 available" },
  },
  {
    name: "RolledBack on failed analysis (Stalled)",
    kind: "Release",
    object: release(
      { phase: "RolledBack", message: rolledBackMessage },
      {
        canaryRevision: "8a1b2c",
        canaryVersion: "1.5.0",
        abortedAt: CREATED,
        history: [
          {
            revision: "8a1b2c",
            version: "1.5.0",
            startedAt: CREATED,
            finishedAt: CREATED,
            outcome: "RolledBack",
            reason: "AnalysisFailed",
          },
        ],
      },
    ),
    // Stalled=True too, but Argo CD's check names the cause from the RolledBack condition.
    argo: { status: "Degraded", message: `AnalysisFailed: ${rolledBackMessage}` },
    kstatus: { status: "Failed", message: rolledBackMessage },
  },
  {
    name: "InvalidSpec (Stalled over a Healthy phase)",
    kind: "Release",
    object: invalidRelease(),
    argo: {
      status: "Degraded",
      message: "InvalidSpec: spec.strategy: set exactly one of canary or blueGreen",
    },
    kstatus: { status: "Failed", message: "spec.strategy: set exactly one of canary or blueGreen" },
  },
  {
    name: "Healthy but a newer generation not yet observed",
    kind: "Release",
    object: release({
      phase: "Healthy",
      message: "1.4.0 is available with 4 replicas",
      generation: 5,
      observedGeneration: 4,
    }),
    argo: { status: "Progressing", message: /observe generation 5/ },
    kstatus: {
      status: "InProgress",
      message: "Release generation is 5, but latest observed generation is 4",
    },
  },
  {
    name: "just created, no status yet",
    kind: "Release",
    object: {
      apiVersion: API_VERSION,
      kind: "Release",
      metadata: { name: "web", namespace: "shop", generation: 1, creationTimestamp: CREATED },
      spec: { version: "1.5.0", replicas: 4 },
    },
    argo: { status: "Progressing", message: /reconcile the Release/ },
    // kstatus cannot tell: no observedGeneration and no conditions read as Current (docs/gitops.md).
    kstatus: { status: "Current" },
  },
];

// ---------------------------------------------------------------------------------------------
// Squad

function squadObject(spec: Record<string, unknown>, generation = 2): Squad {
  return {
    apiVersion: API_VERSION,
    kind: "Squad",
    metadata: { name: "payments", uid: "uid-payments", generation, creationTimestamp: CREATED },
    spec: squadSpec.parse(spec),
  };
}

/** The Squad's status from plan + status with the given namespaces observed. */
function squadSample(
  spec: Record<string, unknown>,
  observed: "none" | "all" | Map<string, Namespace>,
  generation = 2,
): Sample["object"] {
  const squad = squadObject(spec, generation);
  const observedNamespaces = observed instanceof Map ? observed : new Map<string, Namespace>();
  const plan = planSquad({ squad, observedNamespaces });
  const caughtUp = observed === "all";
  const namespaces = new Map<string, Namespace | undefined>();
  if (caughtUp) {
    for (const o of plan.objects) {
      if (o.kind === "Namespace")
        namespaces.set(o.metadata.name ?? "", { ...o, status: { phase: "Active" } });
    }
  }
  const status = squadStatus({
    squad,
    plan,
    observed: {
      namespaces,
      objects: caughtUp ? plan.objects.filter((o) => o.kind !== "Namespace") : [],
      releases: [],
      toggles: [],
    },
    now: NOW,
  });
  return plain({ ...squad, status: squadStatusSchema.parse(status) });
}

const foreignNamespace: Namespace = {
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name: "payments", labels: { "crescendo.dev/squad": "billing" } },
  status: { phase: "Active" },
};

function staleSquad(): Sample["object"] {
  const ready = squadSample({ tribe: "money" }, "all", 2);
  return { ...ready, metadata: { ...ready.metadata, generation: 3 } };
}

function invalidSquad(): Sample["object"] {
  const ready = squadSample({ tribe: "money" }, "all", 2);
  const squad = { ...(ready as unknown as Squad), metadata: { ...ready.metadata, generation: 3 } };
  const status = invalidSquadStatus({
    squad,
    message: "spec.members[0].namespace: a ServiceAccount member needs a namespace",
    now: NOW,
  });
  return plain({ ...squad, status });
}

export const squadSamples: Sample[] = [
  {
    name: "Ready",
    kind: "Squad",
    object: squadSample({ tribe: "money" }, "all"),
    argo: { status: "Healthy", message: "1 namespace ready" },
    kstatus: { status: "Current" },
  },
  {
    name: "Reconciling (namespace not created yet)",
    kind: "Squad",
    object: squadSample({ tribe: "money" }, "none"),
    argo: { status: "Progressing", message: "Progressing: payments: namespace not created yet" },
    kstatus: { status: "InProgress", message: "payments: namespace not created yet" },
  },
  {
    name: "Stalled (NamespaceConflict)",
    kind: "Squad",
    object: squadSample({ tribe: "money" }, new Map([["payments", foreignNamespace]])),
    argo: {
      status: "Degraded",
      message: /^NamespaceConflict: namespace "payments" belongs to squad "billing"/,
    },
    kstatus: { status: "Failed", message: /belongs to squad "billing"/ },
  },
  {
    name: "Stalled (InvalidSpec)",
    kind: "Squad",
    object: invalidSquad(),
    argo: { status: "Degraded", message: /^InvalidSpec: spec\.members\[0\]\.namespace/ },
    kstatus: { status: "Failed" },
  },
  {
    name: "Ready but a newer generation not yet observed",
    kind: "Squad",
    object: staleSquad(),
    argo: { status: "Progressing", message: /observe generation 3/ },
    kstatus: { status: "InProgress", message: /generation is 3, but latest observed generation is 2/ },
  },
];

// ---------------------------------------------------------------------------------------------
// FeatureToggle

function toggleObject(spec: Record<string, unknown> = {}, generation = 1): FeatureToggle {
  return {
    apiVersion: API_VERSION,
    kind: "FeatureToggle",
    metadata: { name: "checkout", namespace: "shop", uid: "uid-ft", generation, creationTimestamp: CREATED },
    spec: featureToggleSpec.parse({ variants: { on: true, off: false }, defaultVariant: "on", ...spec }),
  };
}

type PlanInput = Omit<Parameters<typeof planToggleStatus>[0], "toggle" | "now">;

function toggleSample(spec: Record<string, unknown>, input: PlanInput = {}): Sample["object"] {
  const toggle = toggleObject(spec);
  const { status } = planToggleStatus({ ...input, toggle, now: NOW });
  return plain({ ...toggle, status: featureToggleStatus.parse(status) });
}

const rolledBackGuard: GuardRelease = {
  name: "web",
  phase: "RolledBack",
  stableRevision: "6f7c9d",
  canaryRevision: "8a1b2c",
  history: [
    {
      revision: "8a1b2c",
      version: "1.5.0",
      startedAt: CREATED,
      finishedAt: CREATED,
      outcome: "RolledBack",
      reason: "AnalysisFailed",
    },
  ],
};

function invalidToggle(): Sample["object"] {
  const toggle = toggleObject({}, 2);
  const status = invalidToggleStatus(toggle, "spec.defaultVariant: must name a variant", NOW);
  return plain({ ...toggle, status });
}

function staleGenerationToggle(): Sample["object"] {
  const served = toggleSample({});
  return { ...served, metadata: { ...served.metadata, generation: 2 } };
}

export const toggleSamples: Sample[] = [
  {
    name: "Enabled (served)",
    kind: "FeatureToggle",
    object: toggleSample({}),
    argo: { status: "Healthy", message: 'Serving "checkout".' },
    kstatus: { status: "Current" },
  },
  {
    name: "Disabled (served, default variant for everyone)",
    kind: "FeatureToggle",
    object: toggleSample({ state: "Disabled" }),
    argo: { status: "Healthy", message: /^Serving "checkout": disabled/ },
    kstatus: { status: "Current" },
  },
  {
    name: "Stale (past expiresAt, still served)",
    kind: "FeatureToggle",
    object: toggleSample({ expiresAt: "2030-01-01T06:00:00Z" }),
    argo: { status: "Healthy", message: /^Serving "checkout"\. Stale: Past spec\.expiresAt/ },
    kstatus: { status: "Current" },
  },
  {
    name: "KilledByRollback (guard Release rolled back)",
    kind: "FeatureToggle",
    object: toggleSample({ guard: { release: "web" } }, { guardRelease: rolledBackGuard }),
    argo: { status: "Suspended", message: /^Killed by the rollback of Release web/ },
    kstatus: { status: "Current" },
  },
  {
    name: "Stalled (KeyConflict)",
    kind: "FeatureToggle",
    object: toggleSample({}, { conflict: { toggle: "checkout", key: "checkout", winner: "checkout-old" } }),
    argo: { status: "Degraded", message: /^KeyConflict: Flag key "checkout" is already served/ },
    kstatus: { status: "Failed" },
  },
  {
    name: "Stalled (InvalidFlag)",
    kind: "FeatureToggle",
    object: toggleSample(
      {},
      { invalid: { toggle: "checkout", key: "checkout", reason: "bad targeting", served: "omitted" } },
    ),
    argo: { status: "Degraded", message: /^InvalidFlag: flagd refuses this flag \(bad targeting\)/ },
    kstatus: { status: "Failed" },
  },
  {
    name: "Stalled (InvalidSpec)",
    kind: "FeatureToggle",
    object: invalidToggle(),
    argo: { status: "Degraded", message: /^InvalidSpec: spec\.defaultVariant: must name a variant/ },
    kstatus: { status: "Failed" },
  },
  {
    name: "Served but a newer generation not yet observed",
    kind: "FeatureToggle",
    object: staleGenerationToggle(),
    argo: { status: "Progressing", message: /observe generation 2/ },
    kstatus: { status: "InProgress" },
  },
];

export const samples: Sample[] = [...releaseSamples, ...squadSamples, ...toggleSamples];
