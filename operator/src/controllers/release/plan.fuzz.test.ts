/**
 * Fuzzing the Release decisions (`step`, `planObjects`) with mutated specs and arbitrary
 * observed states: statuses the CRD would accept but no rollout ever produced, Deployments with
 * negative or missing numbers, HTTPRoutes with odd weights, verdicts and actions at any moment.
 * Whatever comes in: no throw, a status the CRD accepts, no Deployment with a negative or
 * fractional replica count, no traffic moved to a revision without ready pods, and no
 * ControllerRevision rewritten (its data is immutable), misnumbered or pruned while kept.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Release } from "../../api/kinds.js";
import {
  PAUSE_REASONS,
  type Measurement,
  RELEASE_PHASES,
  releaseSpec,
  releaseStatus,
  type ReleaseSpec,
  type ReleaseStatus,
} from "../../api/release.js";
import type { KubeObject } from "../../runtime/types.js";
import { mutatedFrom } from "../../api/fuzz/test-fixtures.js";
import { zodMessage } from "../../api/zod-message.js";
import { planObjects } from "./plan.js";
import { revisionOf } from "./revision.js";
import { step } from "./rollout.js";
import { keptRevisions } from "./controller-revisions.js";
import { observeDeployment, type ObservedDeployment, type ObservedRevision } from "./observed.js";
import type { ReleaseSnapshot } from "./snapshot.js";
import type { HTTPRoute } from "./traffic/http-route.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");
const DAY = 86_400_000;
const template = (image: string) => ({ spec: { containers: [{ name: "web", image }] } });
const TEMPLATES = [template("web:1"), template("web:2"), template("web:3")];
const REVISIONS = TEMPLATES.map(revisionOf);
const METRIC = { name: "errors", prometheus: { query: "up" }, thresholdRange: { max: 1 } };
const PORTS = { ports: [{ name: "http", port: 80 }] };

const SPECS: Record<string, unknown>[] = [
  {
    version: "1",
    replicas: 4,
    template: TEMPLATES[1],
    service: PORTS,
    strategy: {
      canary: {
        steps: [
          { setWeight: 20 },
          { pause: { duration: "1m" } },
          { analysis: {} },
          { setWeight: 60 },
          { pause: {} },
        ],
        backgroundAnalysis: {},
      },
    },
    analysis: { interval: "10s", metrics: [METRIC] },
  },
  {
    version: "1",
    replicas: 3,
    template: TEMPLATES[1],
    service: PORTS,
    strategy: {
      canary: {
        steps: [{ setWeight: 30 }, { analysis: {} }],
        trafficRouting: { gatewayAPI: { httpRoute: "web" } },
      },
    },
    analysis: { metrics: [METRIC] },
    rollback: { onFailure: "Pause" },
    progressDeadlineSeconds: 30,
  },
  {
    version: "1",
    replicas: 2,
    template: TEMPLATES[1],
    service: PORTS,
    strategy: { blueGreen: { autoPromotionSeconds: 10, previewReplicas: 1 } },
    analysis: { metrics: [METRIC] },
  },
  { version: "1", template: TEMPLATES[2], strategy: { canary: { steps: [{ analysis: {} }] } }, paused: true },
];

const time = fc.integer({ min: T0 - 3 * DAY, max: T0 + 3 * DAY }).map((ms) => new Date(ms).toISOString());
const revision = fc.constantFrom(...REVISIONS);
const metricResult = fc.record({
  name: fc.constantFrom("errors", "other"),
  successful: fc.integer({ min: 0, max: 5 }),
  failed: fc.integer({ min: 0, max: 5 }),
  inconclusive: fc.integer({ min: 0, max: 5 }),
  consecutiveInconclusive: fc.integer({ min: 0, max: 5 }),
  measurements: fc.constant([] as Measurement[]),
});

/** Statuses the CRD accepts, most of which no rollout would ever write. */
const status: fc.Arbitrary<ReleaseStatus> = fc
  .record(
    {
      phase: fc.constantFrom(...RELEASE_PHASES),
      message: fc.string({ maxLength: 10 }),
      stableRevision: revision,
      stableVersion: fc.constantFrom("1", "2", ""),
      canaryRevision: revision,
      canaryVersion: fc.constantFrom("2", "3"),
      currentStepIndex: fc.integer({ min: -3, max: 60 }),
      desiredWeight: fc.integer({ min: -20, max: 150 }),
      canaryWeight: fc.integer({ min: -20, max: 150 }),
      rolloutStartedAt: time,
      stepStartedAt: time,
      pausedAt: time,
      pauseReason: fc.constantFrom(...PAUSE_REASONS),
      abortedAt: time,
      scaleDown: fc.array(fc.record({ revision, at: time }), { maxLength: 3 }),
      analysis: fc.record(
        {
          startedAt: time,
          step: fc.integer({ min: -1, max: 8 }),
          metrics: fc.array(metricResult, { maxLength: 2 }),
        },
        { requiredKeys: ["startedAt", "metrics"] },
      ),
      backgroundAnalysis: fc.record({ startedAt: time, metrics: fc.array(metricResult, { maxLength: 2 }) }),
      history: fc.array(
        fc.record({
          revision,
          version: fc.constant("1"),
          startedAt: time,
          outcome: fc.constantFrom("Promoted" as const, "RolledBack" as const, "Superseded" as const),
        }),
        { maxLength: 3 },
      ),
      lastAction: fc.record({
        id: fc.constantFrom("1", "2"),
        action: fc.constant("pause"),
        acceptedAt: time,
      }),
    },
    { requiredKeys: [] },
  )
  .filter((s) => releaseStatus.safeParse(s).success);

/** A count as a Deployment's status could hold it: an int32 (the apiserver allows no other number), or absent or mangled. */
const count = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -3, max: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, "3", {}, []) },
);

/** A Deployment as the informer could hold it, read the way the controller reads it. */
const deployment = (rev: string): fc.Arbitrary<ObservedDeployment | undefined> =>
  fc
    .record(
      {
        replicas: count,
        status: fc.record(
          {
            replicas: count,
            readyReplicas: count,
            availableReplicas: count,
            updatedReplicas: count,
            observedGeneration: fc.integer({ min: 0, max: 4 }),
          },
          { requiredKeys: [] },
        ),
        generation: fc.integer({ min: 1, max: 4 }),
      },
      { requiredKeys: [] },
    )
    .map(({ replicas, status: st, generation }) =>
      observeDeployment({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: {
          name: `web-${rev}`,
          labels: { "crescendo.dev/revision": rev },
          ...(generation === undefined ? {} : { generation }),
        },
        spec: { ...(replicas === undefined ? {} : { replicas }), template: { spec: {} } },
        status: st,
      } as KubeObject),
    );

const backendRef = fc.record(
  {
    name: fc.constantFrom("web-stable", "web-canary", "elsewhere"),
    port: fc.constant(80),
    weight: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.constant(undefined)),
  },
  { requiredKeys: ["name"] },
);
const route: fc.Arbitrary<HTTPRoute | undefined> = fc.option(
  fc
    .array(fc.record({ backendRefs: fc.array(backendRef, { maxLength: 3 }) }), { maxLength: 2 })
    .map((rules): HTTPRoute => ({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "web", namespace: "shop" },
      spec: { rules },
    })),
  { nil: undefined },
);

const verdict = fc.option(
  fc.record({
    phase: fc.constantFrom(
      "Running" as const,
      "Successful" as const,
      "Failed" as const,
      "Inconclusive" as const,
    ),
    message: fc.constant("fuzzed verdict"),
  }),
  { nil: undefined },
);

interface World {
  spec: ReleaseSpec;
  status: ReleaseStatus | undefined;
  deployments: (ObservedDeployment | undefined)[];
  route: HTTPRoute | undefined;
  verdicts: {
    step?: { phase: "Running" | "Successful" | "Failed" | "Inconclusive"; message: string };
    background?: { phase: "Running" | "Successful" | "Failed" | "Inconclusive"; message: string };
  };
  now: number;
  action: string | undefined;
}

const parsedSpec = mutatedFrom(SPECS, 2)
  .map((raw) => releaseSpec.safeParse(raw))
  .filter((r) => r.success)
  .map((r) => r.data as ReleaseSpec);

const world: fc.Arbitrary<World> = fc.record({
  spec: parsedSpec,
  status: fc.option(status, { nil: undefined }),
  deployments: fc.tuple(...REVISIONS.map((r) => fc.option(deployment(r), { nil: undefined }))),
  route,
  verdicts: fc.record({ step: verdict, background: verdict }),
  now: fc.integer({ min: T0 - DAY, max: T0 + 2 * DAY }),
  action: fc.option(
    fc.constantFrom("promote", "promote-full", "abort", "retry", "pause", "resume", "rearm", "bogus"),
    {
      nil: undefined,
    },
  ),
});

function snapshotOf(w: World, status = w.status): ReleaseSnapshot {
  const release: Release = {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name: "web", namespace: "shop", uid: "uid-web", generation: 3 },
    spec: w.spec,
    ...(status ? { status } : {}),
  };
  const deployments: Record<string, ObservedDeployment> = {};
  for (const d of w.deployments) if (d) deployments[d.revision] = d;
  return {
    release,
    deployments,
    ...(w.route ? { route: w.route } : {}),
    analysis: {
      ...(w.verdicts.step ? { step: w.verdicts.step } : {}),
      ...(w.verdicts.background ? { background: w.verdicts.background } : {}),
    },
    now: w.now,
    ...(w.action ? { action: { id: "fuzz", action: w.action } } : {}),
    squad: { name: "shop", tribe: "retail" },
  };
}

const hasReadyPods = (snap: ReleaseSnapshot, rev: string | undefined) =>
  rev !== undefined && (snap.deployments[rev]?.availableReplicas ?? 0) > 0;

const RUNS = 400;

describe("Release decisions under arbitrary specs and observed states", () => {
  it("a spec that does not parse is reported by field, never thrown", () => {
    fc.assert(
      fc.property(mutatedFrom(SPECS, 4), (raw) => {
        const parsed = releaseSpec.safeParse(raw);
        if (!parsed.success) expect(zodMessage(parsed.error)).toMatch(/^spec/);
      }),
      { numRuns: RUNS },
    );
  }, 60_000);

  it("step and planObjects never throw, and keep to the CRD and to non-negative whole replicas", () => {
    fc.assert(
      fc.property(world, (w) => {
        const snap = snapshotOf(w);
        const result = step(snap);
        expect(releaseStatus.safeParse(result.status).success).toBe(true);
        const weight = result.status.canaryWeight ?? 0;
        expect(weight >= 0 && weight <= 100, `canaryWeight ${weight}`).toBe(true);
        if (result.requeueAfterMs !== undefined) {
          expect(Number.isFinite(result.requeueAfterMs) && result.requeueAfterMs > 0).toBe(true);
        }
        const plan = planObjects(snapshotOf(w, result.status), result.status);
        for (const obj of plan.objects.filter((o) => o.kind === "Deployment")) {
          const replicas = (obj["spec"] as { replicas: unknown }).replicas;
          expect(
            Number.isInteger(replicas) && (replicas as number) >= 0,
            `replicas ${String(replicas)}`,
          ).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  }, 60_000);

  it("never rewrites a kept ControllerRevision, numbers new ones after all, prunes only what is not kept", () => {
    /** A ControllerRevision as the informer (or a read by name) could hold it. */
    const observedRevision = (rev: string): fc.Arbitrary<ObservedRevision> =>
      fc
        .record({ number: fc.integer({ min: 0, max: 9 }), labelled: fc.boolean() })
        .map(({ number, labelled }) => ({
          name: `web-${rev}`,
          revision: rev,
          number,
          template: template(`kept:${rev}`),
          labels: labelled ? { "app.kubernetes.io/managed-by": "crescendo" } : ({} as Record<string, string>),
          data: { spec: { template: template(`kept:${rev}`) }, stored: number },
        }));
    const revisions = fc.tuple(...REVISIONS.map((r) => fc.option(observedRevision(r), { nil: undefined })));
    fc.assert(
      fc.property(world, revisions, (w, observedList) => {
        const observed: Record<string, ObservedRevision> = {};
        for (const r of observedList) if (r) observed[r.revision] = r;
        const result = step({ ...snapshotOf(w), revisions: observed });
        const plan = planObjects({ ...snapshotOf(w, result.status), revisions: observed }, result.status);
        const kept = keptRevisions(result.status);
        const highest = Math.max(0, ...Object.values(observed).map((r) => r.number));
        const numbers = new Set<number>();
        for (const obj of plan.objects.filter((o) => o.kind === "ControllerRevision")) {
          const rev = obj.metadata.labels?.["crescendo.dev/revision"] ?? "";
          const number = obj["revision"] as number;
          expect(kept.has(rev), `a ControllerRevision planned for ${rev}, not kept`).toBe(true);
          const seen = observed[rev];
          if (seen) {
            // Only a relabelling: the apiserver refuses any change of data.
            expect(obj["data"]).toEqual(seen.data);
            expect(number).toBe(seen.number);
          } else {
            expect(number).toBeGreaterThan(highest);
            expect(numbers.has(number), `revision number ${number} given twice`).toBe(false);
            numbers.add(number);
          }
        }
        for (const ref of plan.deletions.filter((d) => d.kind === "ControllerRevision")) {
          const rev = ref.name.slice("web-".length);
          expect(observed[rev], `deleting ${ref.name}, never observed`).toBeDefined();
          expect(kept.has(rev), `deleting kept ${ref.name}`).toBe(false);
        }
        // A live revision whose template is kept is never reported missing.
        for (const rev of plan.missing) expect(observed[rev]?.template).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  }, 60_000);

  it("never routes traffic to a revision with no ready pods", () => {
    fc.assert(
      fc.property(world, (w) => {
        const snap = snapshotOf(w);
        const result = step(snap);
        const canary = result.status.canaryRevision;
        // Promotion moves every request to the promoted revision: it must be serving already.
        if (result.promoted && w.spec.replicas > 0 && w.action === undefined) {
          expect(hasReadyPods(snap, result.promoted.revision), "promoted a revision without ready pods").toBe(
            true,
          );
        }
        // A routed canary gets a share of the requests only once it has pods to answer them.
        const plan = planObjects(snapshotOf(w, result.status), result.status);
        for (const obj of plan.objects.filter((o) => o.kind === "HTTPRoute")) {
          for (const rule of (obj as HTTPRoute).spec?.rules ?? []) {
            for (const ref of rule.backendRefs ?? []) {
              if (ref.name !== "web-stable" && ref.name !== "web-canary") continue;
              expect(Number.isInteger(ref.weight) && (ref.weight ?? 0) >= 0 && (ref.weight ?? 0) <= 100).toBe(
                true,
              );
              // With replicas 0 no revision is meant to have pods (stable neither): nothing to protect.
              if (ref.name === "web-canary" && (ref.weight ?? 0) > 0 && w.spec.replicas > 0) {
                expect(
                  hasReadyPods(snap, canary),
                  `canary weight ${String(ref.weight)} without ready pods`,
                ).toBe(true);
              }
            }
          }
        }
      }),
      { numRuns: RUNS },
    );
  }, 60_000);
});
