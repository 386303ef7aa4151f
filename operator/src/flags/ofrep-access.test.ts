import { describe, expect, it } from "vitest";
import { mayRead, squadOwning, type OfrepCaller, type SquadScope } from "./ofrep-access.js";

const squads: Record<string, SquadScope> = {
  checkout: { name: "payments", tribe: "commerce", readableBy: [] },
  "payments-jobs": { name: "payments", tribe: "commerce", readableBy: [] },
  catalog: { name: "catalog", tribe: "commerce", readableBy: [{ tribe: "commerce" }] },
  search: { name: "search", tribe: "discovery", readableBy: [{ squad: "payments" }] },
  ledger: { name: "ledger", tribe: "finance", readableBy: [{ squad: "ledger" }] },
  "ledger-2": { name: "ledger", tribe: "finance", readableBy: [{ squad: "ledger" }] },
  ads: { name: "ads", readableBy: [{ tribe: "commerce" }] },
};
const owning = (ns: string) => squads[ns];
const sa = (namespace: string): OfrepCaller => ({ kind: "serviceAccount", namespace, name: "app" });

describe("mayRead", () => {
  it.each<[string, OfrepCaller, string, boolean]>([
    ["a ServiceAccount reads its own namespace", sa("checkout"), "checkout", true],
    ["even without any squad", sa("lonely"), "lonely", true],
    ["not another namespace of no squad", sa("lonely"), "other", false],
    [
      "not a namespace of its own squad unless the squad shares with itself",
      sa("checkout"),
      "payments-jobs",
      false,
    ],
    ["a squad sharing with itself", sa("ledger"), "ledger-2", true],
    ["a squad sharing with the caller's tribe", sa("checkout"), "catalog", true],
    ["a squad sharing with the caller's squad", sa("payments-jobs"), "search", true],
    ["not a squad sharing with another squad", sa("catalog"), "search", false],
    ["not a squad sharing with another tribe", sa("search"), "catalog", false],
    ["a squad without tribe shares by tribe", sa("catalog"), "ads", true],
    ["a caller without tribe matches no tribe", sa("ads"), "catalog", false],
    ["a caller outside any squad matches nothing", sa("lonely"), "catalog", false],
    ["no squad, no sharing", sa("checkout"), "unowned", false],
    [
      "the static token, in its list",
      { kind: "staticToken", namespaces: ["a", "checkout"] },
      "checkout",
      true,
    ],
    ["the static token, out of its list", { kind: "staticToken", namespaces: ["a"] }, "checkout", false],
    ["the static token, scoped to everything", { kind: "staticToken", namespaces: "*" }, "checkout", true],
    ["a user token has no namespace", { kind: "user", username: "jane" }, "checkout", false],
    ["auth none", { kind: "anonymous" }, "checkout", true],
  ])("%s", (_name, caller, namespace, allowed) => {
    expect(mayRead(caller, namespace, owning).allowed).toBe(allowed);
  });

  it("says what the caller may read, not who else may", () => {
    const decision = mayRead(sa("checkout"), "search-private", owning);
    expect(decision).toEqual({
      allowed: false,
      details:
        "ServiceAccount checkout/app may read the flags of namespace checkout, and of squads sharing theirs with its squad or tribe (spec.toggles.readableBy); not those of search-private",
    });
  });
});

describe("squadOwning", () => {
  const specs: Record<string, unknown> = {
    payments: {
      tribe: "commerce",
      namespaces: [{ name: "checkout" }],
      toggles: { readableBy: [{ tribe: "x" }] },
    },
    solo: {},
    broken: { namespaces: "not a list" },
    // Only its incident policy is refused: the rest of the Squad, its namespaces included, stands.
    paging: { namespaces: [{ name: "pager" }], incidentResponse: { correlationWindow: "5s" } },
  };
  const lookup = (name: string) => specs[name];

  it("is the labelled Squad when its spec lists the namespace", () => {
    expect(squadOwning("checkout", { "crescendo.dev/squad": "payments" }, lookup)).toEqual({
      name: "payments",
      tribe: "commerce",
      readableBy: [{ tribe: "x" }],
    });
  });

  it("keeps the tribe only when the platform declares it (or declares none)", () => {
    const labels = { "crescendo.dev/squad": "payments" };
    expect(squadOwning("checkout", labels, lookup, ["commerce", "core"])?.tribe).toBe("commerce");
    expect(squadOwning("checkout", labels, lookup, [])?.tribe).toBe("commerce");
    // Naming a tribe the platform does not declare shares nothing with that tribe.
    expect(squadOwning("checkout", labels, lookup, ["core"])).toEqual({
      name: "payments",
      readableBy: [{ tribe: "x" }],
    });
  });

  it("is the Squad whose incident policy alone is refused: a typo there takes no app's flags away", () => {
    expect(squadOwning("pager", { "crescendo.dev/squad": "paging" }, lookup)).toEqual({
      name: "paging",
      readableBy: [],
    });
  });

  it("is the Squad named after the namespace when it lists none", () => {
    expect(squadOwning("solo", { "crescendo.dev/squad": "solo" }, lookup)).toEqual({
      name: "solo",
      readableBy: [],
    });
  });

  it.each<[string, Record<string, string> | undefined]>([
    ["forged", { "crescendo.dev/squad": "payments" }], // a label the Squad does not back
    ["other", { "crescendo.dev/squad": "solo" }],
    ["checkout", undefined],
    ["checkout", { "crescendo.dev/squad": "" }],
    ["checkout", { "crescendo.dev/squad": "gone" }],
    ["broken", { "crescendo.dev/squad": "broken" }],
  ])("is nobody for %s labelled %j", (namespace, labels) => {
    expect(squadOwning(namespace, labels, lookup)).toBeUndefined();
  });
});
