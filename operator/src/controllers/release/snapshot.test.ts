import { describe, expect, it } from "vitest";
import type { Release } from "../../api/kinds.js";
import { releaseSpec } from "../../api/release.js";
import {
  deploymentsByRevision,
  isReadyAt,
  observeDeployment,
  pendingAction,
  type ObservedDeployment,
} from "./snapshot.js";

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

  it("does not trust a status older than the spec", () => {
    expect(isReadyAt(dep(3, { generation: 2, observedGeneration: 1 }), 3)).toBe(false);
    expect(isReadyAt(dep(3, { generation: undefined, observedGeneration: undefined }), 3)).toBe(true);
  });
});

describe("pendingAction", () => {
  const release = (annotations: Record<string, string>, lastId?: string): Release => ({
    metadata: { name: "web", annotations },
    spec: releaseSpec.parse({ version: "1", template: {}, strategy: { blueGreen: {} } }),
    ...(lastId
      ? { status: { lastAction: { id: lastId, action: "promote", acceptedAt: "2030-01-01T00:00:00Z" } } }
      : {}),
  });

  it("returns the action when its id has not been acted on", () => {
    expect(
      pendingAction(release({ "crescendo.dev/action": "promote", "crescendo.dev/action-id": "7" })),
    ).toEqual({
      id: "7",
      action: "promote",
    });
    expect(
      pendingAction(release({ "crescendo.dev/action": "abort", "crescendo.dev/action-id": "8" }, "7")),
    ).toEqual({
      id: "8",
      action: "abort",
    });
  });

  it("acts once per id", () => {
    expect(
      pendingAction(release({ "crescendo.dev/action": "promote", "crescendo.dev/action-id": "7" }, "7")),
    ).toBeUndefined();
  });

  it("needs both annotations", () => {
    expect(pendingAction(release({ "crescendo.dev/action": "promote" }))).toBeUndefined();
    expect(pendingAction(release({ "crescendo.dev/action-id": "7" }))).toBeUndefined();
    expect(
      pendingAction(release({ "crescendo.dev/action": " ", "crescendo.dev/action-id": "7" })),
    ).toBeUndefined();
  });
});
