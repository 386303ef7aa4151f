import { describe, expect, it } from "vitest";
import { squadSpec } from "./squad.js";
import { zodMessage } from "./zod-message.js";

describe("zodMessage", () => {
  it("names each bad field with its path under spec", () => {
    const result = squadSpec.safeParse({
      members: [
        { kind: "ServiceAccount", name: "ci" },
        { kind: "Robot", name: "x" },
      ],
      networkIsolation: "Full",
    });
    expect(result.success).toBe(false);
    if (result.success) return;
    const message = zodMessage(result.error);
    expect(message).toContain("spec.members[0]: a ServiceAccount member needs a namespace");
    expect(message).toContain("spec.members[1].kind: ");
    expect(message).toContain("spec.networkIsolation: ");
    expect(message.split("; ")).toHaveLength(3);
  });

  it("names the root for a whole-object problem", () => {
    const result = squadSpec.safeParse("nope");
    expect(result.success).toBe(false);
    if (!result.success) expect(zodMessage(result.error)).toMatch(/^spec: /);
  });

  it("starts paths at the root it is given", () => {
    const result = squadSpec.safeParse({ networkIsolation: "Full" });
    expect(result.success).toBe(false);
    if (!result.success) expect(zodMessage(result.error, "squad")).toMatch(/^squad\.networkIsolation: /);
  });
});
