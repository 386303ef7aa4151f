import { describe, expect, it } from "vitest";
import { releaseChanges } from "./changes.js";

describe("releaseChanges", () => {
  it("lists each promotion at its finish with the revision it replaced, and marks an undo so correlation never reverts it", () => {
    const changes = releaseChanges(
      {
        metadata: { namespace: "shop", name: "web" },
        status: {
          history: [
            {
              revision: "r1",
              version: "1.0",
              startedAt: "2030-01-01T03:01:00Z",
              finishedAt: "2030-01-01T03:01:00Z",
              outcome: "Promoted",
              reason: "Undone",
            },
            {
              revision: "r2",
              version: "1.1",
              startedAt: "2030-01-01T02:40:00Z",
              finishedAt: "2030-01-01T02:50:00Z",
              outcome: "Promoted",
              reason: "Completed",
              replacedRevision: "r0",
            },
            { revision: "r3", version: "1.2", startedAt: "2030-01-01T02:00:00Z", outcome: "RolledBack" },
          ],
        },
      },
      "payments",
    );
    expect(changes).toEqual([
      {
        kind: "Release",
        namespace: "shop",
        name: "web",
        squad: "payments",
        at: "2030-01-01T03:01:00Z",
        revision: "r1",
        undo: true,
      },
      {
        kind: "Release",
        namespace: "shop",
        name: "web",
        squad: "payments",
        at: "2030-01-01T02:50:00Z",
        revision: "r2",
        // What reverting it returns to: r0, which it replaced, not r3 (rolled back since).
        replaced: "r0",
      },
    ]);
  });
});
