/**
 * What the state-machine tests (rollout, post-promotion, undo) share about their small world: one
 * Release `shop/web` with its spec, status, annotations and a clock, the Deployments a cluster
 * would show, and `reconcile`, which runs `step` as the controller would and checks, every time,
 * that the status satisfies the CRD schema and that the result is a fixpoint (a second step on
 * the same observation changes nothing and records no event). Each test's World says what its
 * snapshot holds besides (verdicts, a route, ControllerRevisions) and how the cluster catches up
 * (`settle`). Not a test file itself; excluded from the build (it asserts with vitest).
 */
import { expect } from "vitest";
import type { Release } from "../../api/kinds.js";
import { releaseSpec, releaseStatus, type ReleaseStatus } from "../../api/release.js";
import type { ObservedDeployment } from "./observed.js";
import { step, type StepResult } from "./rollout.js";
import type { ReleaseSnapshot } from "./snapshot.js";
import { T0 } from "./test-fixtures.js";

export abstract class ReleaseWorld {
  now = T0;
  spec: Record<string, unknown>;
  status: ReleaseStatus | undefined;
  deployments: Record<string, ObservedDeployment> = {};
  annotations: Record<string, string> = {};
  generation = 1;
  /** Every reconcile's result, in order. */
  results: StepResult[] = [];
  private actionIds = 0;

  constructor(spec: Record<string, unknown>) {
    this.spec = spec;
  }

  /** What the controller would observe: the Release and what this world adds to it. */
  abstract snapshot(): ReleaseSnapshot;

  /** The cluster catches up with the plan. */
  abstract settle(): this;

  release(): Release {
    return {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: {
        name: "web",
        namespace: "shop",
        uid: "uid-1",
        generation: this.generation,
        annotations: this.annotations,
      },
      spec: releaseSpec.parse(this.spec),
      ...(this.status ? { status: this.status } : {}),
    };
  }

  reconcile(): StepResult {
    const result = step(this.snapshot());
    expect(() => releaseStatus.parse(result.status)).not.toThrow();
    this.status = result.status;
    const again = step(this.snapshot());
    expect(again.status, "a second step on the same observation changes nothing").toEqual(result.status);
    expect(again.events, "and records no event").toEqual([]);
    this.results.push(result);
    return result;
  }

  /** settle, then reconcile. */
  advance(): StepResult {
    return this.settle().reconcile();
  }

  tick(ms: number): this {
    this.now += ms;
    return this;
  }

  setTemplate(t: Record<string, unknown>, version: string): this {
    this.spec = { ...this.spec, template: t, version };
    return this;
  }

  /** Asks for `action` by annotation, with a new action id each time. */
  act(action: string): this {
    this.annotations = {
      "crescendo.dev/action": action,
      "crescendo.dev/action-id": String(++this.actionIds),
    };
    return this;
  }

  get s(): ReleaseStatus {
    return this.status ?? {};
  }

  condition(type: string) {
    return this.s.conditions?.find((c) => c.type === type);
  }
}
