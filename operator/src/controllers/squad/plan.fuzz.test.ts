/**
 * Fuzzing the Squad decisions (`planSquad`, `squadStatus`) with mutated specs and arbitrary
 * observed namespaces and owned objects: no throw, a status the CRD accepts, and nothing planned
 * outside the namespaces the squad may write into.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { mutatedFrom } from "../../api/fuzz/test-fixtures.js";
import type { Squad } from "../../api/kinds.js";
import { squadSpec, squadStatus as squadStatusSchema, type SquadSpec } from "../../api/squad.js";
import { zodMessage } from "../../api/zod-message.js";
import type { KubeObject } from "../../runtime/types.js";
import { planSquad, type Namespace } from "./plan.js";
import { squadStatus } from "./status.js";

const example = (
  parse(readFileSync(join(import.meta.dirname, "../../../../examples/squad.yaml"), "utf8")) as {
    spec: Record<string, unknown>;
  }
).spec;
const BASES: Record<string, unknown>[] = [
  example,
  {
    tribe: "retail",
    networkIsolation: "Tribe",
    namespaces: [{ name: "shop", adopt: true }, { name: "shop-dev" }],
  },
  {},
];
const NAMES = ["payments", "shop", "shop-dev", "checkout", "checkout-staging", "kube-system"];

const parsedSpec = mutatedFrom(BASES, 3)
  .map((raw) => squadSpec.safeParse(raw))
  .filter((r) => r.success)
  .map((r) => r.data as SquadSpec);

const namespace = (name: string): fc.Arbitrary<Namespace | undefined> =>
  fc.option(
    fc
      .record(
        {
          squad: fc.constantFrom("payments", "other", "", undefined),
          managed: fc.boolean(),
          terminating: fc.boolean(),
        },
        { requiredKeys: [] },
      )
      .map(({ squad, managed, terminating }) => ({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: {
          name,
          labels: {
            ...(squad !== undefined ? { "crescendo.dev/squad": squad } : {}),
            ...(managed ? { "app.kubernetes.io/managed-by": "crescendo" } : {}),
          },
          ...(terminating ? { deletionTimestamp: "2030-01-01T00:00:00Z" } : {}),
        },
        status: { phase: terminating ? "Terminating" : "Active" },
      })),
    { nil: undefined },
  );

const owned: fc.Arbitrary<KubeObject[]> = fc
  .array(
    fc.record({
      kind: fc.constantFrom("RoleBinding", "ResourceQuota", "LimitRange", "NetworkPolicy", "Namespace"),
      name: fc.constantFrom("crescendo-quota", "crescendo-limits", "crescendo-lead", "stray"),
      namespace: fc.constantFrom(...NAMES),
      uid: fc.constantFrom("uid-payments", "uid-other"),
    }),
    { maxLength: 6 },
  )
  .map((objects) =>
    objects.map(({ kind, name, namespace: ns, uid }) => ({
      apiVersion: kind === "Namespace" ? "v1" : "x/v1",
      kind,
      metadata: {
        name: kind === "Namespace" ? ns : name,
        ...(kind === "Namespace" ? { labels: { "crescendo.dev/squad": "payments" } } : { namespace: ns }),
        ownerReferences: [{ apiVersion: "crescendo.dev/v1alpha1", kind: "Squad", name: "payments", uid }],
      },
    })),
  );

const world = fc.record({
  name: fc.constantFrom("payments", "pay.ments", "p", "x".repeat(70)),
  spec: parsedSpec,
  namespaces: fc.tuple(...NAMES.map(namespace)),
  owned,
  now: fc.integer({ min: 0, max: 4_102_444_800_000 }),
});

describe("Squad decisions under arbitrary specs and observed states", () => {
  it("a spec that does not parse is reported by field, never thrown", () => {
    fc.assert(
      fc.property(mutatedFrom(BASES, 4), (raw) => {
        const parsed = squadSpec.safeParse(raw);
        if (!parsed.success) expect(zodMessage(parsed.error)).toMatch(/^spec/);
      }),
      { numRuns: 400 },
    );
  }, 60_000);

  it("plans and reports without throwing, writing only into namespaces it may own", () => {
    fc.assert(
      fc.property(world, ({ name, spec, namespaces, owned: ownedObjects, now }) => {
        const squad: Squad = {
          apiVersion: "crescendo.dev/v1alpha1",
          kind: "Squad",
          metadata: { name, uid: "uid-payments", generation: 2 },
          spec,
        };
        const observed = new Map<string, Namespace | undefined>();
        NAMES.forEach((n, i) => observed.set(n, namespaces[i]));
        const declared = spec.namespaces.length === 0 ? [name] : spec.namespaces.map((n) => n.name);
        const observedNamespaces = new Map(declared.map((n) => [n, observed.get(n)]));
        const plan = planSquad({ squad, observedNamespaces, owned: ownedObjects, squadExists: () => true });
        const writable = new Set(plan.namespaces);
        for (const obj of plan.objects) {
          expect(obj.apiVersion && obj.kind && obj.metadata.name).toBeTruthy();
          const ns = obj.kind === "Namespace" ? obj.metadata.name : obj.metadata.namespace;
          expect(writable.has(ns ?? ""), `${obj.kind} ${obj.metadata.name} in ${ns}`).toBe(true);
        }
        for (const conflict of plan.conflicts) expect(conflict.message.trim()).not.toBe("");
        const status = squadStatus({
          squad,
          plan,
          observed: { namespaces: observedNamespaces, objects: ownedObjects, releases: [], toggles: [] },
          now,
        });
        expect(squadStatusSchema.safeParse(status).success).toBe(true);
      }),
      { numRuns: 400 },
    );
  }, 60_000);
});
