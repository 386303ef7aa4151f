import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../runtime/types.js";
import { previousRevisions, undoTarget } from "./undo-target.js";

const cr = (revision: string, number: number, version?: string): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "ControllerRevision",
  metadata: { name: `web-${revision}`, labels: { "crescendo.dev/revision": revision } },
  data: { spec: { template: {} }, release: version ? { version } : {} },
  revision: number,
});

const KEPT = [cr("r2", 2, "2.0.0"), cr("r4", 4, "4.0.0"), cr("r1", 1), cr("r3", 3, "3.0.0")];

describe("previous revisions", () => {
  it("are the kept ones other than the running stable, most recent first, with their versions", () => {
    expect(previousRevisions(KEPT, "r4")).toEqual([
      { revision: "r3", version: "3.0.0" },
      { revision: "r2", version: "2.0.0" },
      { revision: "r1" },
    ]);
  });

  it("skip ControllerRevisions without a revision label", () => {
    const foreign: KubeObject = {
      apiVersion: "apps/v1",
      kind: "ControllerRevision",
      metadata: { name: "x" },
    };
    expect(previousRevisions([foreign, cr("r1", 1)], "r2")).toEqual([{ revision: "r1" }]);
  });
});

describe("the undo target", () => {
  const previous = previousRevisions(KEPT, "r4");

  it("is the most recent previous revision by default, inside the window", () => {
    expect(undoTarget(previous, "r4", undefined, 2)).toEqual({
      revision: "r3",
      version: "3.0.0",
      position: 1,
      confirm: false,
    });
  });

  it("needs no confirmation up to the window's last revision, and asks for one beyond it", () => {
    expect(undoTarget(previous, "r4", "r2", 2)).toMatchObject({ position: 2, confirm: false });
    expect(undoTarget(previous, "r4", "r1", 2)).toMatchObject({ position: 3, confirm: true });
    expect(undoTarget(previous, "r4", "r2", 1)).toMatchObject({ position: 2, confirm: true });
  });

  it("is an error for the running revision, an unkept one, or when none is kept", () => {
    expect(undoTarget(previous, "r4", "r4", 2)).toEqual({ error: "revision r4 is already running" });
    expect(undoTarget(previous, "r4", "r9", 2)).toEqual({
      error:
        "revision r9 is not kept in a ControllerRevision (kept, most recent first: r3 (3.0.0), r2 (2.0.0), r1); --to-revision takes a revision hash",
    });
    expect(undoTarget([], "r4", undefined, 2)).toEqual({
      error: "no previous revision is kept in a ControllerRevision",
    });
  });
});
