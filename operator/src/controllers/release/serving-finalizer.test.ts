import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../runtime/types.js";
import {
  abandonedDeployments,
  hasServingFinalizer,
  orphaning,
  releaseOfUnowned,
  SERVING_FINALIZER,
  servingWork,
  withoutServingFinalizer,
} from "./serving-finalizer.js";
import { ready } from "./test-fixtures.js";

const F = SERVING_FINALIZER;

describe("servingWork", () => {
  const deleted = (revision: string, finalizers = [F]) => ({
    ...ready(revision, 2),
    uid: `uid-${revision}`,
    deleting: true,
    finalizers,
  });
  const all = { live: new Set(["a", "b"]), recreatable: () => true, recreating: true };

  it("hands over a deleted Deployment of a live, recreatable revision", () => {
    expect(servingWork([deleted("a")], all)).toEqual({
      handOver: [{ name: "web-a", uid: "uid-a", revision: "a" }],
      release: [],
    });
  });

  it("waits (keeps the finalizer) while a live revision cannot be recreated yet", () => {
    expect(servingWork([deleted("a")], { ...all, recreatable: () => false })).toEqual({
      handOver: [],
      release: [],
    });
  });

  it("lets go of a revision not live, and of every one when nothing may be recreated", () => {
    expect(servingWork([deleted("c")], all)).toEqual({ handOver: [], release: ["web-c"] });
    expect(servingWork([deleted("a"), deleted("c")], { ...all, recreating: false })).toEqual({
      handOver: [],
      release: ["web-a", "web-c"],
    });
  });

  it("leaves alone what is not being deleted, or has no serving finalizer (another's, or already removed)", () => {
    const alive = { ...ready("a", 2), uid: "u", finalizers: [F] };
    expect(servingWork([alive, deleted("b", ["example.com/other"]), deleted("c", [])], all)).toEqual({
      handOver: [],
      release: [],
    });
  });

  it("cannot hand over what it cannot name as owner (no uid observed), so it waits", () => {
    const { uid: _uid, ...noUid } = deleted("a");
    expect(servingWork([noUid], all)).toEqual({ handOver: [], release: [] });
  });
});

describe("abandonedDeployments", () => {
  const dep = (name: string, meta: Partial<KubeObject["metadata"]>): KubeObject => ({
    metadata: {
      name,
      namespace: "shop",
      deletionTimestamp: "2030-01-01T00:00:00Z",
      finalizers: [F],
      ownerReferences: [
        { apiVersion: "crescendo.dev/v1alpha1", kind: "Release", name: "web", uid: "old", controller: true },
      ],
      ...meta,
    },
  });

  it("finds the deleted Deployments of a Release gone (any uid) or of an earlier one (another uid)", () => {
    const objects = [dep("a", {}), dep("b", { namespace: "other" })];
    expect(
      abandonedDeployments(objects, { namespace: "shop", name: "web" }).map((o) => o.metadata.name),
    ).toEqual(["a"]);
    expect(abandonedDeployments(objects, { namespace: "shop", name: "web", uid: "new" })).toHaveLength(1);
    expect(abandonedDeployments(objects, { namespace: "shop", name: "web", uid: "old" })).toEqual([]);
  });

  it("ignores what is not being deleted, carries no serving finalizer, or another owner's", () => {
    const objects = [
      dep("alive", { deletionTimestamp: undefined }),
      dep("other-finalizer", { finalizers: ["x"] }),
      dep("other-release", {
        ownerReferences: [
          { apiVersion: "crescendo.dev/v1alpha1", kind: "Release", name: "api", uid: "u", controller: true },
        ],
      }),
      dep("not-controller", {
        ownerReferences: [{ apiVersion: "crescendo.dev/v1alpha1", kind: "Release", name: "web", uid: "u" }],
      }),
    ];
    expect(abandonedDeployments(objects, { namespace: "shop", name: "web" })).toEqual([]);
  });
});

describe("abandonedDeployments: orphaned by the Release's deletion (--cascade=orphan)", () => {
  const orphan = (name: string, meta: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
    metadata: {
      name,
      namespace: "shop",
      labels: { "crescendo.dev/release": "web", "app.kubernetes.io/managed-by": "crescendo" },
      finalizers: ["example.com/keep", F],
      ...meta,
    },
  });
  const names = (objects: KubeObject[], uid?: string) =>
    abandonedDeployments(objects, { namespace: "shop", name: "web", ...(uid ? { uid } : {}) }).map(
      (o) => o.metadata.name,
    );

  it("lets go at once when no Release of its name is live, deleted or not", () => {
    expect(names([orphan("a"), orphan("b", { deletionTimestamp: "2030-01-01T00:00:00Z" })])).toEqual([
      "a",
      "b",
    ]);
  });

  it("while a Release of its name is live, keeps it for adoption until it is deleted", () => {
    const deleting = orphan("b", { deletionTimestamp: "2030-01-01T00:00:00Z" });
    expect(names([orphan("a"), deleting], "new")).toEqual(["b"]);
  });

  it("counts an owner that is no Release (of our group) as none", () => {
    const otherOwner = orphan("a", {
      ownerReferences: [{ apiVersion: "apps/v1", kind: "Rollout", name: "web", uid: "r", controller: true }],
    });
    const otherGroup = orphan("b", {
      ownerReferences: [
        { apiVersion: "example.com/v1", kind: "Release", name: "web", uid: "x", controller: true },
      ],
    });
    expect(names([otherOwner, otherGroup])).toEqual(["a", "b"]);
  });

  it("leaves another Release's orphans, unlabelled ones, and those without the serving finalizer", () => {
    const objects = [
      orphan("other", { labels: { "crescendo.dev/release": "api" } }),
      orphan("unlabelled", { labels: {} }),
      orphan("no-finalizer", { finalizers: ["example.com/keep"] }),
      orphan("elsewhere", { namespace: "other" }),
    ];
    expect(names(objects)).toEqual([]);
  });

  it("never lets go of what the live Release controls and nobody deletes", () => {
    const owned = orphan("a", {
      ownerReferences: [
        { apiVersion: "crescendo.dev/v1alpha1", kind: "Release", name: "web", uid: "live", controller: true },
      ],
    });
    expect(names([owned], "live")).toEqual([]);
    expect(names([owned])).toEqual([]); // the Release being deleted: the garbage collector decides
  });
});

describe("releaseOfUnowned", () => {
  const meta = {
    name: "web-abc",
    namespace: "shop",
    labels: { "crescendo.dev/release": "web" },
    finalizers: [F],
  };

  it("maps an ownerless Deployment with the serving finalizer to the Release its label names", () => {
    expect(releaseOfUnowned({ metadata: meta })).toEqual(["shop/web"]);
  });

  it("maps nothing for one a Release controls (owns() maps it), or without the finalizer or label", () => {
    const owned = {
      ...meta,
      ownerReferences: [
        { apiVersion: "crescendo.dev/v1alpha1", kind: "Release", name: "web", uid: "u", controller: true },
      ],
    };
    expect(releaseOfUnowned({ metadata: owned })).toEqual([]);
    expect(releaseOfUnowned({ metadata: { ...meta, finalizers: [] } })).toEqual([]);
    expect(releaseOfUnowned({ metadata: { ...meta, labels: {} } })).toEqual([]);
  });
});

describe("orphaning", () => {
  const rs = (name: string, uids: string[]): KubeObject => ({
    metadata: {
      name,
      ownerReferences: uids.map((uid) => ({
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: "d",
        uid,
        controller: true,
      })),
    },
  });

  it("takes the Deployment's ownerReference off each of its ReplicaSets, keeping any other", () => {
    const out = orphaning(
      [rs("mine", ["d1"]), rs("shared", ["d1", "x"]), rs("theirs", ["d2"]), rs("bare", [])],
      "d1",
    );
    expect(out.map((o) => [o.replicaSet.metadata.name, o.ownerReferences.map((r) => r.uid)])).toEqual([
      ["mine", []],
      ["shared", ["x"]],
    ]);
  });
});

describe("finalizer helpers", () => {
  it("tell and remove only crescendo.dev/serving", () => {
    expect(hasServingFinalizer({ finalizers: ["x", F] })).toBe(true);
    expect(hasServingFinalizer({})).toBe(false);
    expect(withoutServingFinalizer(["x", F, "y"])).toEqual(["x", "y"]);
    expect(withoutServingFinalizer(undefined)).toEqual([]);
  });
});
