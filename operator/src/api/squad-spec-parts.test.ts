import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mutatedFrom } from "./fuzz/test-fixtures.js";
import { droppedNullLabels } from "./incident.js";
import { squadSpec } from "./squad.js";
import { checkIncidentResponse, squadSpecParts, type UnparsedSquad } from "./squad-spec-parts.js";

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
const POLICY = {
  correlationWindow: "15m",
  actions: [{ match: { labels: { severity: "page" } }, do: "Revert" }],
};
const REST = {
  tribe: "payments",
  namespaces: [{ name: "shop" }],
  members: [{ kind: "User", name: "ana", role: "lead" }],
  networkIsolation: "Squad",
};
const nullLabel = { actions: [{ match: { labels: { severity: null } }, do: "Revert" }] };
const appliedWith = (spec: unknown) => ({ annotations: { [LAST_APPLIED]: JSON.stringify({ spec }) } });

describe("squadSpecParts", () => {
  it("reads a Squad without spec or policy as the whole schema does, with no policy", () => {
    for (const squad of [{}, { spec: {} }, { spec: REST }]) {
      const parts = squadSpecParts(squad);
      expect(parts).toEqual({
        ok: true,
        spec: squadSpec.parse(squad.spec ?? {}),
        incidentResponse: { state: "Absent" },
      });
    }
  });

  it("keeps a valid policy in the spec, defaulted", () => {
    const parts = squadSpecParts({ spec: { ...REST, incidentResponse: POLICY } });
    expect(parts).toEqual({
      ok: true,
      spec: squadSpec.parse({ ...REST, incidentResponse: POLICY }),
      incidentResponse: { state: "Valid", policy: POLICY },
    });
    expect(squadSpecParts({ spec: { incidentResponse: {} } }).incidentResponse).toEqual({
      state: "Valid",
      policy: { correlationWindow: "30m", actions: [] },
    });
  });

  it("honours the rest when the policy alone is refused, and leaves the policy out of the spec", () => {
    const cases: [unknown, RegExp][] = [
      [{ correlationWindow: "5s" }, /^spec\.incidentResponse\.correlationWindow: correlationWindow must be/],
      [{ actions: [{ do: "Rollback" }] }, /^spec\.incidentResponse\.actions\[0\]\.do: /],
      [nullLabel, /^spec\.incidentResponse\.actions\[0\]\.match\.labels\.severity: a label value is needed/],
      [{ actions: [{ match: { labels: { "bad-name": "x" } }, do: "Notify" }] }, /Prometheus label names/],
      [{ actions: [{ match: { labels: { severity: "" } }, do: "Notify" }] }, /must not be empty/],
      [
        { actions: Array.from({ length: 21 }, () => ({ do: "Notify" })) },
        /^spec\.incidentResponse\.actions: /,
      ],
      [null, /^spec\.incidentResponse: /],
      ["Revert", /^spec\.incidentResponse: /],
      [[], /^spec\.incidentResponse: /],
    ];
    for (const [policy, message] of cases) {
      const parts = squadSpecParts({ spec: { ...REST, incidentResponse: policy } });
      expect(parts.ok, JSON.stringify(policy)).toBe(true);
      if (!parts.ok) continue;
      expect(parts.spec).toEqual(squadSpec.parse(REST));
      expect(parts.spec.incidentResponse).toBeUndefined();
      expect(parts.incidentResponse).toMatchObject({
        state: "Invalid",
        message: expect.stringMatching(message),
      });
    }
  });

  it("names every problem of the policy, joined", () => {
    const check = checkIncidentResponse({
      spec: { incidentResponse: { correlationWindow: "5s", actions: [{ do: "Rollback" }] } },
    });
    expect(check.state).toBe("Invalid");
    if (check.state !== "Invalid") return;
    expect(check.message.split("; ").map((p) => p.split(":")[0])).toEqual([
      "spec.incidentResponse.correlationWindow",
      "spec.incidentResponse.actions[0].do",
    ]);
  });

  it("refuses a rule a client-side kubectl apply emptied by dropping a null label value", () => {
    const squad = {
      metadata: appliedWith({ incidentResponse: nullLabel }),
      spec: { incidentResponse: { actions: [{ match: { labels: {} }, do: "Revert" }] } },
    };
    const parts = squadSpecParts(squad);
    expect(parts.ok).toBe(true);
    expect(parts.incidentResponse).toEqual({ state: "Invalid", message: droppedNullLabels(squad) });
    expect(parts.ok && parts.spec.incidentResponse).toBeUndefined();
  });

  it("trusts the live policy once the dropped label is given a value, or the policy is removed", () => {
    const metadata = appliedWith({ incidentResponse: nullLabel });
    const fixed = { actions: [{ match: { labels: { severity: "page" } }, do: "Revert" }] };
    expect(squadSpecParts({ metadata, spec: { incidentResponse: fixed } }).incidentResponse).toMatchObject({
      state: "Valid",
    });
    expect(squadSpecParts({ metadata, spec: {} }).incidentResponse).toEqual({ state: "Absent" });
  });

  it("refuses the whole spec for a problem outside the policy, naming only that problem", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ networkIsolation: "Everything" }, /^spec\.networkIsolation: /],
      [{ networkIsolation: "Tribe" }, /^spec\.networkIsolation: networkIsolation Tribe needs spec\.tribe$/],
      [{ members: [{ kind: "ServiceAccount", name: "ci" }] }, /a ServiceAccount member needs a namespace/],
      [{ namespaces: [{ name: "kube-system" }] }, /system namespace/],
    ];
    for (const [rest, message] of cases) {
      for (const [policy, state] of [
        [undefined, "Absent"],
        [POLICY, "Valid"],
        [{ correlationWindow: "5s" }, "Invalid"],
      ] as const) {
        const parts = squadSpecParts({ spec: { ...rest, ...(policy ? { incidentResponse: policy } : {}) } });
        expect(parts.ok).toBe(false);
        if (parts.ok) continue;
        expect(parts.message).toMatch(message);
        expect(parts.message).not.toContain("incidentResponse");
        expect(parts.incidentResponse.state).toBe(state);
      }
    }
  });

  it("refuses a spec that is no object at all", () => {
    for (const spec of ["checkout", 5, [], [{ incidentResponse: POLICY }], true]) {
      const parts = squadSpecParts({ spec });
      expect(parts.ok, JSON.stringify(spec)).toBe(false);
      expect(parts.incidentResponse).toEqual({ state: "Absent" });
    }
    // A null spec is no spec, as an absent one.
    expect(squadSpecParts({ spec: null }).ok).toBe(true);
  });

  describe("agrees with the whole schema (property, over mutated Squads)", () => {
    const base = {
      ...REST,
      oncall: { webhookSecretRef: { name: "oncall", key: "url" } },
      incidentResponse: POLICY,
    };
    const bases = [base, { incidentResponse: nullLabel }, REST, {}];
    const squads: fc.Arbitrary<UnparsedSquad> = fc
      .tuple(mutatedFrom(bases, 4), fc.boolean())
      .map(([spec, applied]) => ({
        ...(applied ? { metadata: appliedWith({ incidentResponse: nullLabel }) } : {}),
        spec,
      }));

    it("valid as a whole exactly when both parts are, with the same parsed spec", () => {
      fc.assert(
        fc.property(squads, (squad) => {
          const whole = squadSpec.safeParse(squad.spec ?? {});
          const parts = squadSpecParts(squad);
          const policyRefused = parts.incidentResponse.state === "Invalid";
          // A dropped null label is the one refusal the schema alone cannot see.
          const dropped =
            whole.success && whole.data.incidentResponse !== undefined ? droppedNullLabels(squad) : undefined;
          expect(whole.success && dropped === undefined).toBe(parts.ok && !policyRefused);
          if (whole.success && parts.ok && !policyRefused) expect(parts.spec).toEqual(whole.data);
        }),
        { numRuns: 400 },
      );
    });

    it("never trusts a refused policy, and refuses the rest only for the rest", () => {
      fc.assert(
        fc.property(squads, (squad) => {
          const parts = squadSpecParts(squad);
          if (parts.ok && parts.incidentResponse.state !== "Valid") {
            expect(parts.spec.incidentResponse).toBeUndefined();
          }
          const spec = squad.spec;
          if (spec !== null && typeof spec === "object" && !Array.isArray(spec)) {
            const rest = { ...(spec as Record<string, unknown>) };
            delete rest["incidentResponse"];
            expect(parts.ok).toBe(squadSpec.safeParse(rest).success);
          }
        }),
        { numRuns: 400 },
      );
    });
  });
});
