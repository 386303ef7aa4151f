import { describe, expect, it } from "vitest";
import { ApiError } from "./client.js";
import { findCondition, type Condition } from "./conditions.js";
import {
  alreadyReported,
  REFUSAL_MAX_DELAY_MS,
  RefusalReporter,
  refusalOf,
  refusalRetryDelay,
  stalledConditions,
  type Refusal,
} from "./refusals.js";
import type { KubeObject, Resource } from "./types.js";

const apiError = (status: number, reason: string, message = "nope", details?: unknown) =>
  new ApiError(status, reason, message, details, undefined, "PATCH /x");

const SquadResource: Resource = {
  group: "crescendo.dev",
  version: "v1alpha1",
  kind: "Squad",
  plural: "squads",
  namespaced: false,
};

describe("refusalOf", () => {
  it.each([
    [422, "Invalid", "ChildRejected"],
    [400, "BadRequest", "ChildRejected"],
    [403, "Forbidden", "ChildForbidden"],
    [409, "AlreadyExists", "ChildAlreadyExists"],
  ])("classifies %i %s as %s", (status, reason, expected) => {
    expect(refusalOf(apiError(status, reason))?.reason).toBe(expected);
  });

  it.each([
    [409, "Conflict"],
    [404, "NotFound"],
    [410, "Gone"],
    [429, "TooManyRequests"],
    [500, "InternalError"],
    [503, "ServiceUnavailable"],
  ])("leaves %i %s to the ordinary retries", (status, reason) => {
    expect(refusalOf(apiError(status, reason))).toBeUndefined();
  });

  it("classifies the 500 a server-side apply answers for a value its type cannot hold as a rejection", () => {
    const err = apiError(
      500,
      "InternalError",
      "failed to convert new object (team/crescendo-quota; /v1, Kind=ResourceQuota) to proper version: unable to convert unstructured object to /v1, Kind=ResourceQuota: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
    expect(refusalOf(err)).toMatchObject({ reason: "ChildRejected", status: 500 });
    expect(refusalOf(apiError(500, "InternalError", "etcdserver: request timed out"))).toBeUndefined();
  });

  it("ignores errors that are not apiserver answers", () => {
    expect(refusalOf(new Error("ECONNREFUSED"))).toBeUndefined();
    expect(refusalOf("boom")).toBeUndefined();
    expect(refusalOf(undefined)).toBeUndefined();
  });

  it("keeps the apiserver's words, naming the field, and the refused kind", () => {
    const refusal = refusalOf(
      apiError(
        422,
        "Invalid",
        'LimitRange "team" is invalid: spec.limits[0].min[cpu]: Invalid value: "2": must be less than or equal to cpu max value',
        { kind: "LimitRange", name: "team" },
      ),
    );
    expect(refusal).toEqual({
      reason: "ChildRejected",
      status: 422,
      kind: "LimitRange",
      message:
        '422 Invalid: LimitRange "team" is invalid: spec.limits[0].min[cpu]: Invalid value: "2": must be less than or equal to cpu max value',
    });
  });

  it("bounds a huge message", () => {
    const refusal = refusalOf(apiError(422, "Invalid", "x".repeat(10_000)));
    expect(refusal?.message.length).toBe(1024);
    expect(refusal?.message.endsWith("…")).toBe(true);
  });
});

const refusal: Refusal = { reason: "ChildRejected", status: 422, message: "422 Invalid: spec.hard[pods]" };

describe("stalledConditions", () => {
  const other: Condition = {
    type: "NamespacesReady",
    status: "True",
    reason: "Created",
    message: "",
    lastTransitionTime: "2026-01-01T00:00:00Z",
  };

  it("sets the kstatus trio to Stalled for the refused generation and keeps other conditions", () => {
    const next = stalledConditions([other], refusal, 4, Date.parse("2026-12-03T10:00:00Z"));
    expect(findCondition(next, "Stalled")).toMatchObject({
      status: "True",
      reason: "ChildRejected",
      message: refusal.message,
      observedGeneration: 4,
      lastTransitionTime: "2026-12-03T10:00:00Z",
    });
    expect(findCondition(next, "Ready")).toMatchObject({ status: "False", reason: "ChildRejected" });
    expect(findCondition(next, "Reconciling")).toMatchObject({ status: "False" });
    expect(findCondition(next, "NamespacesReady")).toEqual(other);
  });

  it("is stable: the same refusal again gives an equal array", () => {
    const once = stalledConditions(undefined, refusal, 1, 1_000);
    expect(stalledConditions(once, refusal, 1, 99_000)).toEqual(once);
  });
});

describe("alreadyReported", () => {
  const shown = stalledConditions(undefined, refusal, 1, 0);
  it("is true only for the same reason and message while Stalled", () => {
    expect(alreadyReported(shown, refusal)).toBe(true);
    expect(alreadyReported(shown, { ...refusal, message: "another field" })).toBe(false);
    expect(alreadyReported(shown, { ...refusal, reason: "ChildForbidden" })).toBe(false);
    expect(alreadyReported(undefined, refusal)).toBe(false);
  });
});

describe("refusalRetryDelay", () => {
  it("starts at a second and backs off to a ceiling of minutes", () => {
    expect(refusalRetryDelay(0)).toBe(1_000);
    expect(refusalRetryDelay(1)).toBe(2_000);
    expect(refusalRetryDelay(5)).toBe(32_000);
    expect(refusalRetryDelay(50)).toBe(REFUSAL_MAX_DELAY_MS);
    expect(refusalRetryDelay(1e9)).toBe(REFUSAL_MAX_DELAY_MS);
  });
});

describe("RefusalReporter", () => {
  const squad = (conditions?: Condition[]): KubeObject & { status?: unknown } => ({
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Squad",
    metadata: { name: "payments", generation: 2, uid: "u" },
    ...(conditions ? { status: { conditions } } : {}),
  });

  function reporter() {
    const patches: unknown[][] = [];
    const events: unknown[] = [];
    const counted: Refusal[] = [];
    const r = new RefusalReporter({
      client: {
        mergePatch: async (...args: unknown[]) => {
          patches.push(args);
          return {} as never;
        },
      },
      recorder: { record: async (_obj, e) => void events.push(e) },
      resource: SquadResource,
      now: () => Date.parse("2026-12-03T10:00:00Z"),
      onRefusal: (x) => counted.push(x),
    });
    return { r, patches, events, counted };
  }

  it("patches the status subresource and records one Warning Event for a new refusal", async () => {
    const { r, patches, events, counted } = reporter();
    expect(await r.report(squad(), refusal)).toBe("new");
    expect(patches).toHaveLength(1);
    const [res, name, namespace, patch, opts] = patches[0]!;
    expect([res, name, namespace, opts]).toEqual([
      SquadResource,
      "payments",
      undefined,
      { subresource: "status" },
    ]);
    expect(
      findCondition((patch as { status: { conditions: Condition[] } }).status.conditions, "Stalled"),
    ).toMatchObject({ status: "True", reason: "ChildRejected", observedGeneration: 2 });
    expect(events).toEqual([
      { type: "Warning", reason: "ChildRejected", note: refusal.message, action: "Reconcile" },
    ]);
    expect(counted).toEqual([refusal]);
  });

  it("writes nothing and announces nothing when the status already shows the refusal (after a restart too)", async () => {
    const { r, patches, events, counted } = reporter();
    const shown = stalledConditions(undefined, refusal, 2, 0);
    expect(await r.report(squad(shown), refusal)).toBe("repeat");
    expect(patches).toEqual([]);
    expect(events).toEqual([]);
    expect(counted).toEqual([refusal]);
  });

  it("announces a changed message again", async () => {
    const { r, patches, events } = reporter();
    const shown = stalledConditions(undefined, refusal, 2, 0);
    expect(await r.report(squad(shown), { ...refusal, message: "422 Invalid: spec.hard[cpu!!]" })).toBe(
      "new",
    );
    expect(patches).toHaveLength(1);
    expect(events).toHaveLength(1);
  });
});
