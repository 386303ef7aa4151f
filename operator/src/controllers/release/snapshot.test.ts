import { describe, expect, it } from "vitest";
import type { Release } from "../../api/kinds.js";
import { releaseSpec } from "../../api/release.js";
import { pendingAction } from "./snapshot.js";

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
