import { describe, expect, it } from "vitest";
import { ApiError } from "./client.js";
import { withFinalizer } from "./finalizer.js";
import type { KubeObject, ReconcileResult, Resource } from "./types.js";

const res: Resource = {
  group: "crescendo.dev",
  version: "v1alpha1",
  kind: "Squad",
  plural: "squads",
  namespaced: false,
};
const FINALIZER = "crescendo.dev/cleanup";

function setup(obj: KubeObject, fail?: Error) {
  const patches: unknown[] = [];
  const calls: string[] = [];
  const client = {
    async mergePatch<T extends KubeObject>(
      _r: Resource,
      name: string,
      _ns: string | undefined,
      patch: unknown,
    ) {
      calls.push("patch");
      if (fail) throw fail;
      patches.push(patch);
      return { metadata: { name } } as T;
    },
  };
  const handlers = {
    apply: async (): Promise<ReconcileResult> => {
      calls.push("apply");
      return { requeueAfterMs: 1000 };
    },
    cleanup: async (): Promise<ReconcileResult> => {
      calls.push("cleanup");
      return {};
    },
  };
  return { run: () => withFinalizer(client, res, obj, FINALIZER, handlers), patches, calls, handlers };
}

const squad = (meta: Partial<KubeObject["metadata"]> = {}): KubeObject => ({
  metadata: { name: "a", resourceVersion: "5", ...meta },
});

describe("withFinalizer", () => {
  it("adds the finalizer before apply, keeping others and guarding with resourceVersion", async () => {
    const t = setup(squad({ finalizers: ["other"] }));
    expect(await t.run()).toEqual({ requeueAfterMs: 1000 });
    expect(t.calls).toEqual(["patch", "apply"]);
    expect(t.patches).toEqual([{ metadata: { finalizers: ["other", FINALIZER], resourceVersion: "5" } }]);
  });

  it("only applies when the finalizer is already there", async () => {
    const t = setup(squad({ finalizers: [FINALIZER] }));
    await t.run();
    expect(t.calls).toEqual(["apply"]);
  });

  it("runs cleanup on deletion, then removes only its own finalizer", async () => {
    const t = setup(squad({ finalizers: ["other", FINALIZER], deletionTimestamp: "2024-01-01T00:00:00Z" }));
    expect(await t.run()).toEqual({});
    expect(t.calls).toEqual(["cleanup", "patch"]);
    expect(t.patches).toEqual([{ metadata: { finalizers: ["other"], resourceVersion: "5" } }]);
  });

  it("keeps the finalizer while cleanup asks to be requeued", async () => {
    const t = setup(squad({ finalizers: [FINALIZER], deletionTimestamp: "2024-01-01T00:00:00Z" }));
    t.handlers.cleanup = async () => {
      t.calls.push("cleanup");
      return { requeueAfterMs: 5000 };
    };
    expect(await t.run()).toEqual({ requeueAfterMs: 5000 });
    expect(t.calls).toEqual(["cleanup"]);
  });

  it("does nothing for a deleting object without the finalizer", async () => {
    const t = setup(squad({ deletionTimestamp: "2024-01-01T00:00:00Z" }));
    expect(await t.run()).toEqual({});
    expect(t.calls).toEqual([]);
  });

  it("does not remove the finalizer when cleanup fails", async () => {
    const t = setup(squad({ finalizers: [FINALIZER], deletionTimestamp: "2024-01-01T00:00:00Z" }));
    t.handlers.cleanup = async () => {
      throw new Error("boom");
    };
    await expect(t.run()).rejects.toThrow("boom");
    expect(t.calls).toEqual([]);
  });

  it("treats 404 on removal as done, and surfaces 409 on add for a requeue", async () => {
    const gone = setup(
      squad({ finalizers: [FINALIZER], deletionTimestamp: "2024-01-01T00:00:00Z" }),
      new ApiError(404, "NotFound", "gone", undefined, undefined, "PATCH x"),
    );
    expect(await gone.run()).toEqual({});
    const conflict = setup(
      squad(),
      new ApiError(409, "Conflict", "changed", undefined, undefined, "PATCH x"),
    );
    await expect(conflict.run()).rejects.toMatchObject({ status: 409 });
    expect(conflict.calls).toEqual(["patch"]);
  });
});
