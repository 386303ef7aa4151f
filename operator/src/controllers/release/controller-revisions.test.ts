import { describe, expect, it } from "vitest";
import type { Release } from "../../api/kinds.js";
import { releaseSpec, type ReleaseStatus } from "../../api/release.js";
import { keptRevisions, planControllerRevisions } from "./controller-revisions.js";
import type { ObservedRevision } from "./observed.js";
import type { ReleaseSnapshot } from "./snapshot.js";

const TEMPLATE = { spec: { containers: [{ name: "web", image: "web:1" }] } };
const owner = {
  apiVersion: "crescendo.dev/v1alpha1",
  kind: "Release",
  name: "web",
  uid: "u",
  controller: true,
};
const meta = { labels: { "app.kubernetes.io/managed-by": "crescendo" }, owner };

function snap(revisions?: Record<string, ObservedRevision>): ReleaseSnapshot {
  const release: Release = {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name: "web", namespace: "shop", uid: "u" },
    spec: releaseSpec.parse({
      version: "1",
      replicas: 2,
      template: TEMPLATE,
      strategy: { canary: { steps: [{ setWeight: 50 }] } },
    }),
  };
  return { release, deployments: {}, analysis: {}, now: 0, ...(revisions ? { revisions } : {}) };
}
const observed = (revision: string, number: number): ObservedRevision => ({
  name: `web-${revision}`,
  revision,
  number,
  template: TEMPLATE,
  labels: { "app.kubernetes.io/managed-by": "crescendo", "crescendo.dev/revision": revision },
  data: { spec: { template: TEMPLATE } },
});
const history = (revision: string) => ({
  revision,
  version: "1",
  startedAt: "2030-01-01T00:00:00Z",
  finishedAt: "2030-01-01T00:01:00Z",
  outcome: "Promoted" as const,
  reason: "Completed",
});

describe("ControllerRevisions", () => {
  it("keep live revisions and those in status.history", () => {
    const s: ReleaseStatus = {
      stableRevision: "aaa",
      canaryRevision: "bbb",
      scaleDown: [{ revision: "ccc", at: "2030-01-01T00:00:00Z" }],
      history: [history("ddd"), history("aaa")],
    };
    expect([...keptRevisions(s).keys()].sort()).toEqual(["aaa", "bbb", "ccc", "ddd"]);
  });

  it("keep the stable revision each promotion in history replaced, for undo", () => {
    const s: ReleaseStatus = {
      stableRevision: "bbb",
      history: [{ ...history("bbb"), replacedRevision: "aaa" }],
    };
    expect([...keptRevisions(s).keys()]).toEqual(["bbb", "aaa"]);
    expect([...keptRevisions({ stableRevision: "bbb", history: [history("bbb")] }).keys()]).toEqual(["bbb"]);
  });

  it("keep the revision a post-promotion window may revert to, only while it runs", () => {
    const window = (result: "Verifying" | "Verified") => ({
      revision: "bbb",
      previousRevision: "aaa",
      previousVersion: "1.0.0",
      startedAt: "2030-01-01T00:00:00Z",
      until: "2030-01-01T00:10:00Z",
      metrics: [],
      result,
    });
    expect(keptRevisions({ stableRevision: "bbb", postPromotion: window("Verifying") })).toEqual(
      new Map([
        ["bbb", undefined],
        ["aaa", "1.0.0"],
      ]),
    );
    expect([...keptRevisions({ stableRevision: "bbb", postPromotion: window("Verified") }).keys()]).toEqual([
      "bbb",
    ]);
  });

  it("are created once, numbered after the highest, owned and labelled; existing ones are never rewritten", () => {
    const s: ReleaseStatus = { stableRevision: "aaa", canaryRevision: "bbb" };
    const plan = planControllerRevisions(
      snap({ aaa: observed("aaa", 7) }),
      s,
      [
        { revision: "aaa", template: TEMPLATE },
        { revision: "bbb", template: TEMPLATE },
        { revision: "bbb", template: TEMPLATE },
      ],
      meta,
    );
    expect(plan.deletions).toEqual([]);
    expect(plan.objects).toEqual([
      {
        apiVersion: "apps/v1",
        kind: "ControllerRevision",
        metadata: {
          name: "web-bbb",
          namespace: "shop",
          labels: { "app.kubernetes.io/managed-by": "crescendo", "crescendo.dev/revision": "bbb" },
          ownerReferences: [owner],
        },
        data: { spec: { template: TEMPLATE }, release: {} },
        revision: 8,
      },
    ]);
  });

  it("record each revision's version (verbatim, and as a label) and the spec.template it was rendered from", () => {
    const s: ReleaseStatus = {
      stableRevision: "aaa",
      stableVersion: "1.4.2+build.7",
      canaryRevision: "bbb",
      canaryVersion: "2.0.0",
      history: [{ ...history("aaa"), version: "older" }],
    };
    expect(keptRevisions(s)).toEqual(
      new Map([
        ["aaa", "1.4.2+build.7"],
        ["bbb", "2.0.0"],
      ]),
    );
    const source = { spec: { containers: [{ name: "web", image: "web:2" }] } };
    const plan = planControllerRevisions(
      snap({}),
      s,
      [
        { revision: "bbb", template: TEMPLATE, source },
        { revision: "aaa", template: TEMPLATE },
      ],
      meta,
    );
    expect(plan.objects.map((o) => [o.metadata.labels, o["data"], o["revision"]])).toEqual([
      [
        {
          "app.kubernetes.io/managed-by": "crescendo",
          "crescendo.dev/revision": "bbb",
          "app.kubernetes.io/version": "2.0.0",
        },
        { spec: { template: TEMPLATE }, release: { version: "2.0.0", template: source } },
        1,
      ],
      [
        {
          "app.kubernetes.io/managed-by": "crescendo",
          "crescendo.dev/revision": "aaa",
          "app.kubernetes.io/version": "1.4.2-build.7",
        },
        { spec: { template: TEMPLATE }, release: { version: "1.4.2+build.7" } },
        2,
      ],
    ]);
  });

  it("prune revisions neither live nor in history, and never create one for them", () => {
    const s: ReleaseStatus = { stableRevision: "aaa", history: [history("bbb")] };
    const plan = planControllerRevisions(
      snap({ aaa: observed("aaa", 1), bbb: observed("bbb", 2), old: observed("old", 3) }),
      s,
      [{ revision: "zzz", template: TEMPLATE }],
      meta,
    );
    expect(plan).toEqual({ objects: [], deletions: ["web-old"] });
  });

  it("relabel a kept one that lost its managed-by label, with its own data and number unchanged", () => {
    const s: ReleaseStatus = { stableRevision: "aaa", stableVersion: "1.0.0", history: [history("bbb")] };
    const stored = { spec: { template: { spec: { containers: [{ name: "web", image: "web:0" }] } } } };
    const unlabelled = (revision: string, number: number): ObservedRevision => ({
      ...observed(revision, number),
      labels: { "crescendo.dev/revision": revision },
      data: stored,
    });
    const plan = planControllerRevisions(
      snap({ aaa: unlabelled("aaa", 4), bbb: observed("bbb", 2), old: unlabelled("old", 1) }),
      s,
      [{ revision: "aaa", template: TEMPLATE, source: TEMPLATE }],
      meta,
    );
    expect(plan.deletions).toEqual(["web-old"]);
    expect(plan.objects).toEqual([
      {
        apiVersion: "apps/v1",
        kind: "ControllerRevision",
        metadata: {
          name: "web-aaa",
          namespace: "shop",
          labels: {
            "app.kubernetes.io/managed-by": "crescendo",
            "crescendo.dev/revision": "aaa",
            "app.kubernetes.io/version": "1.0.0",
          },
          ownerReferences: [owner],
        },
        data: stored,
        revision: 4,
      },
    ]);
  });

  it("plan nothing when the controller does not read ControllerRevisions", () => {
    const plan = planControllerRevisions(
      snap(),
      { stableRevision: "aaa" },
      [{ revision: "aaa", template: TEMPLATE }],
      meta,
    );
    expect(plan).toEqual({ objects: [], deletions: [] });
  });
});
