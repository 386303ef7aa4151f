/**
 * A cluster for unit tests of the Release state machine: `reconcile` runs `step`, then applies
 * the plan as the apiserver and the Deployment controller would (ControllerRevisions kept,
 * Services replaced, Deployments at their planned size and ready at once unless told not to).
 * Pure and in memory; the e2e suite does the same against a real control plane.
 */
import type { Release } from "../../api/kinds.js";
import { releaseSpec, releaseStatus, type ReleaseStatus } from "../../api/release.js";
import type { KubeObject } from "../../runtime/types.js";
import {
  observeControllerRevision,
  observeDeployment,
  type ObservedDeployment,
  type ObservedRevision,
} from "./observed.js";
import { planObjects } from "./plan.js";
import { step } from "./rollout.js";
import type { ReleaseSnapshot } from "./snapshot.js";

export const T0 = Date.parse("2030-01-01T00:00:00.000Z");
export const template = (image: string) => ({ spec: { containers: [{ name: "web", image }] } });
export const V1 = template("web:1");
export const V2 = template("web:2");

/** The cluster as the plan leaves it, with every planned Deployment ready unless told otherwise. */
export class Cluster {
  deployments: Record<string, ObservedDeployment> = {};
  revisions: Record<string, ObservedRevision> = {};
  services: Record<string, KubeObject> = {};
  status: ReleaseStatus = {};
  now = T0;
  spec: Record<string, unknown>;
  annotations: Record<string, string> = {};
  notReady = new Set<string>();

  constructor(spec: Record<string, unknown> = {}) {
    this.spec = {
      version: "1.0.0",
      replicas: 4,
      template: V1,
      service: { ports: [{ name: "http", port: 80 }] },
      strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }] } },
      ...spec,
    };
  }

  snapshot(): ReleaseSnapshot {
    const release: Release = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: {
        name: "web",
        namespace: "shop",
        uid: "uid-1",
        generation: 1,
        annotations: this.annotations,
      },
      spec: releaseSpec.parse(this.spec),
      status: this.status,
    };
    const id = this.annotations["crescendo.dev/action-id"];
    const action =
      id && id !== this.status.lastAction?.id
        ? { id, action: this.annotations["crescendo.dev/action"] ?? "" }
        : undefined;
    return {
      release,
      deployments: this.deployments,
      revisions: this.revisions,
      analysis: {},
      now: this.now,
      ...(action ? { action } : {}),
    };
  }

  /** One reconcile: step, then the plan applied (Deployments ready at once unless not ready). */
  reconcile() {
    const result = step(this.snapshot());
    releaseStatus.parse(result.status); // throws on a status the CRD would refuse
    this.status = result.status;
    const plan = planObjects(this.snapshot(), result.status);
    for (const ref of plan.deletions) {
      if (ref.kind === "Deployment") {
        for (const [rev, d] of Object.entries(this.deployments))
          if (d.name === ref.name) delete this.deployments[rev];
      }
      if (ref.kind === "ControllerRevision") {
        for (const [rev, r] of Object.entries(this.revisions))
          if (r.name === ref.name) delete this.revisions[rev];
      }
    }
    for (const obj of plan.objects) {
      if (obj.kind === "ControllerRevision") {
        const observed = observeControllerRevision(obj)!;
        if (this.revisions[observed.revision]) throw new Error("a ControllerRevision is written once");
        this.revisions[observed.revision] = observed;
      }
      if (obj.kind === "Service") this.services[obj.metadata.name ?? ""] = obj;
      if (obj.kind === "Deployment") {
        const observed = observeDeployment({ ...obj, metadata: { ...obj.metadata, generation: 1 } })!;
        const n = this.notReady.has(observed.revision) ? 0 : observed.specReplicas;
        this.deployments[observed.revision] = {
          ...observed,
          observedGeneration: 1,
          replicas: observed.specReplicas,
          readyReplicas: n,
          availableReplicas: n,
          updatedReplicas: n,
        };
      }
    }
    return { result, plan };
  }

  act(action: string, id: string): this {
    this.annotations = { "crescendo.dev/action": action, "crescendo.dev/action-id": id };
    return this;
  }

  /** The pods the Release's main Service sends traffic to: ready pods of the revisions it selects. */
  servingPods(): number {
    const selector = (this.services["web"]?.["spec"] as { selector: Record<string, string> }).selector;
    return Object.values(this.deployments)
      .filter(
        (d) =>
          selector["crescendo.dev/revision"] === undefined ||
          selector["crescendo.dev/revision"] === d.revision,
      )
      .reduce((n, d) => n + d.readyReplicas, 0);
  }

  condition(type: string) {
    return this.status.conditions?.find((c) => c.type === type);
  }
}
