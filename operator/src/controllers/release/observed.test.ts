import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../runtime/types.js";
import { deploymentsByRevision, isReadyAt, observeDeployment, type ObservedDeployment } from "./observed.js";

const TEMPLATE = { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web" }] } };
const deployment = (status: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web-abc", generation: 2, labels: { "crescendo.dev/revision": "abc" } },
  spec: { replicas: 3, template: TEMPLATE },
  status,
  ...extra,
});

describe("observeDeployment", () => {
  it("reads the numbers readiness needs, the labels, and the pod template it runs", () => {
    expect(
      observeDeployment(
        deployment({
          observedGeneration: 2,
          replicas: 3,
          readyReplicas: 2,
          availableReplicas: 1,
          updatedReplicas: 3,
        }),
      ),
    ).toEqual({
      name: "web-abc",
      revision: "abc",
      labels: { "crescendo.dev/revision": "abc" },
      template: TEMPLATE,
      generation: 2,
      observedGeneration: 2,
      specReplicas: 3,
      replicas: 3,
      readyReplicas: 2,
      availableReplicas: 1,
      updatedReplicas: 3,
    });
  });

  it("defaults absent counts to 0 and an absent spec.replicas to 1, as the apiserver does", () => {
    const dep = observeDeployment({ metadata: { name: "x", labels: { "crescendo.dev/revision": "r" } } });
    expect(dep).toEqual({
      name: "x",
      revision: "r",
      labels: { "crescendo.dev/revision": "r" },
      specReplicas: 1,
      replicas: 0,
      readyReplicas: 0,
      availableReplicas: 0,
      updatedReplicas: 0,
    });
  });

  it("reads a count no apiserver would store (negative, fractional, text) as absent", () => {
    const dep = observeDeployment({
      metadata: { name: "x", labels: { "crescendo.dev/revision": "r" } },
      spec: { replicas: -2 },
      status: { replicas: 1.5, readyReplicas: -1, availableReplicas: "3", updatedReplicas: 2 },
    } as KubeObject);
    expect(dep).toMatchObject({
      specReplicas: 1,
      replicas: 0,
      readyReplicas: 0,
      availableReplicas: 0,
      updatedReplicas: 2,
    });
  });

  it("reads its uid, finalizers and whether it is being deleted", () => {
    const obj = {
      metadata: {
        name: "web-r",
        uid: "u1",
        labels: { "crescendo.dev/revision": "r" },
        finalizers: ["crescendo.dev/serving"],
        deletionTimestamp: "2030-01-01T00:00:00Z",
      },
    };
    expect(observeDeployment(obj)).toMatchObject({
      uid: "u1",
      deleting: true,
      finalizers: ["crescendo.dev/serving"],
    });
    const alive = observeDeployment({
      metadata: { name: "web-r", labels: { "crescendo.dev/revision": "r" } },
    });
    expect(alive?.deleting).toBeUndefined();
    expect(alive?.finalizers).toBeUndefined();
  });

  it("ignores a Deployment without a revision label", () => {
    expect(observeDeployment({ metadata: { name: "x" } })).toBeUndefined();
    expect(deploymentsByRevision([{ metadata: { name: "x" } }, deployment({})])).toEqual({
      abc: expect.objectContaining({ name: "web-abc" }),
    });
  });
});

describe("isReadyAt", () => {
  const dep = (n: number, over: Partial<ObservedDeployment> = {}): ObservedDeployment => ({
    name: "d",
    revision: "r",
    labels: {},
    generation: 1,
    observedGeneration: 1,
    specReplicas: n,
    replicas: n,
    readyReplicas: n,
    availableReplicas: n,
    updatedReplicas: n,
    ...over,
  });

  it("is true for zero replicas even without a Deployment", () => {
    expect(isReadyAt(undefined, 0)).toBe(true);
    expect(isReadyAt(undefined, 1)).toBe(false);
  });

  it("needs available, ready and updated pods at the count", () => {
    expect(isReadyAt(dep(3), 3)).toBe(true);
    expect(isReadyAt(dep(3), 2)).toBe(true);
    expect(isReadyAt(dep(3), 4)).toBe(false);
    expect(isReadyAt(dep(3, { availableReplicas: 2 }), 3)).toBe(false);
    expect(isReadyAt(dep(3, { readyReplicas: 2 }), 3)).toBe(false);
    expect(isReadyAt(dep(3, { updatedReplicas: 2 }), 3)).toBe(false);
  });

  it("does not count on a Deployment being deleted, whatever its pods", () => {
    expect(isReadyAt(dep(3, { deleting: true }), 3)).toBe(false);
    expect(isReadyAt(dep(3, { deleting: true }), 0)).toBe(true);
  });

  it("does not trust a status older than the spec", () => {
    expect(isReadyAt(dep(3, { generation: 2, observedGeneration: 1 }), 3)).toBe(false);
    expect(isReadyAt(dep(3, { generation: undefined, observedGeneration: undefined }), 3)).toBe(true);
  });
});
