import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  APPLIED_HASH_ANNOTATION,
  applyIfChanged,
  applyStatusIfChanged,
  containsDesired,
  deepEqual,
  isSubset,
  mergePatchDiff,
} from "./apply.js";
import { ConfigMapResource, DeploymentResource, ResourceQuotaResource, SecretResource } from "./resources.js";
import type { KubeObject, Resource } from "./types.js";
import { applyMergePatch } from "./test-fixtures.js";

interface ApplyCall {
  obj: KubeObject;
  res: Resource;
  opts: { fieldManager: string; force?: boolean };
}
interface PatchCall {
  name: string;
  namespace?: string;
  patch: unknown;
  opts?: { subresource?: string };
}

/** Records writes and answers the way the apiserver would: the applied object comes back. */
function fakeClient() {
  const applied: ApplyCall[] = [];
  const patched: PatchCall[] = [];
  return {
    applied,
    patched,
    async apply<T extends KubeObject>(obj: T, res: Resource, opts: ApplyCall["opts"]): Promise<T> {
      applied.push({ obj, res, opts });
      return obj;
    },
    async mergePatch<T extends KubeObject>(
      _res: Resource,
      name: string,
      namespace: string | undefined,
      patch: unknown,
      opts?: { subresource?: string },
    ): Promise<T> {
      patched.push({ name, namespace, patch, opts });
      return { metadata: { name } } as T;
    },
  };
}

const quota = (hard: Record<string, string | number>): KubeObject => ({
  apiVersion: "v1",
  kind: "ResourceQuota",
  metadata: { name: "q", namespace: "ns", labels: { "app.kubernetes.io/managed-by": "crescendo" } },
  spec: { hard },
});

/** What the apiserver returns after applying `obj`: defaults and canonical forms added. */
function asServerWouldStore(obj: KubeObject, spec: Record<string, unknown>): KubeObject {
  return {
    ...obj,
    metadata: { ...obj.metadata, uid: "u1", resourceVersion: "7", generation: 1 },
    spec,
    status: { used: {} },
  };
}

/** The applied hash as first defined: SHA-256 of the JSON form, keys sorted, built as one string. */
function referenceHash(sent: KubeObject): string {
  const { [APPLIED_HASH_ANNOTATION]: _hash, ...annotations } = sent.metadata.annotations ?? {};
  const bare = { ...sent, metadata: { ...sent.metadata, annotations } };
  const stableStringify = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
    if (typeof value === "object" && value !== null) {
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`).join(",")}}`;
    }
    return JSON.stringify(value);
  };
  const text = stableStringify(JSON.parse(JSON.stringify(bare)));
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

describe("applyIfChanged", () => {
  it("applies with field manager crescendo, force, and fills apiVersion/kind", async () => {
    const client = fakeClient();
    const desired = { metadata: { name: "c", namespace: "ns" }, data: { a: "1" } };
    expect(await applyIfChanged(client, desired, ConfigMapResource)).toBe(true);
    expect(client.applied[0]?.opts).toEqual({ fieldManager: "crescendo", force: true });
    expect(client.applied[0]?.obj).toMatchObject({ apiVersion: "v1", kind: "ConfigMap" });
    expect(client.applied[0]?.obj.metadata.annotations?.[APPLIED_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
  });

  it("skips the write when the observed object already contains the desired one", async () => {
    const client = fakeClient();
    const desired = quota({ cpu: "1000m", memory: "1Gi", pods: 10 });
    await applyIfChanged(client, desired, ResourceQuotaResource);
    const sent = client.applied[0]!.obj;
    // The apiserver canonicalises quantities and adds fields of its own.
    const observed = asServerWouldStore(sent, {
      hard: { cpu: "1", memory: "1073741824", pods: "10" },
      scopes: [],
    });
    expect(await applyIfChanged(client, desired, ResourceQuotaResource, observed)).toBe(false);
    expect(client.applied).toHaveLength(1);
  });

  it("applies when an owned field drifted", async () => {
    const client = fakeClient();
    const desired = quota({ cpu: "2" });
    await applyIfChanged(client, desired, ResourceQuotaResource);
    const observed = asServerWouldStore(client.applied[0]!.obj, { hard: { cpu: "3" } });
    expect(await applyIfChanged(client, desired, ResourceQuotaResource, observed)).toBe(true);
  });

  it("applies when a field was removed from desired (the applied hash changes)", async () => {
    const client = fakeClient();
    const before = quota({ cpu: "2", memory: "1Gi" });
    await applyIfChanged(client, before, ResourceQuotaResource);
    const observed = asServerWouldStore(client.applied[0]!.obj, { hard: { cpu: "2", memory: "1Gi" } });
    expect(await applyIfChanged(client, quota({ cpu: "2" }), ResourceQuotaResource, observed)).toBe(true);
  });

  it("applies when a label was removed by someone else", async () => {
    const client = fakeClient();
    const desired = quota({ cpu: "2" });
    await applyIfChanged(client, desired, ResourceQuotaResource);
    const sent = client.applied[0]!.obj;
    const observed = { ...sent, metadata: { ...sent.metadata, labels: {} } };
    expect(await applyIfChanged(client, desired, ResourceQuotaResource, observed)).toBe(true);
  });

  it("tolerates defaulted fields inside list elements", async () => {
    const client = fakeClient();
    const desired: KubeObject = {
      metadata: { name: "d", namespace: "ns" },
      spec: {
        replicas: 2,
        template: {
          spec: { containers: [{ name: "app", image: "x:1", resources: { limits: { cpu: 0.5 } } }] },
        },
      },
    };
    await applyIfChanged(client, desired, DeploymentResource);
    const observed = asServerWouldStore(client.applied[0]!.obj, {
      replicas: 2,
      strategy: { type: "RollingUpdate" },
      template: {
        spec: {
          containers: [
            {
              name: "app",
              image: "x:1",
              resources: { limits: { cpu: "500m" }, requests: { cpu: "500m" } },
              terminationMessagePath: "/dev/termination-log",
            },
          ],
          restartPolicy: "Always",
        },
      },
    });
    expect(await applyIfChanged(client, desired, DeploymentResource, observed)).toBe(false);
  });

  it("keeps the applied hash of an unchanged object, so hashes stored in clusters stay valid", async () => {
    const client = fakeClient();
    const desired: KubeObject = {
      metadata: {
        name: "flags",
        namespace: "team-a",
        labels: { b: "2", a: "1", "10": "x", "9": "y" },
        annotations: { [APPLIED_HASH_ANNOTATION]: "stale", note: 'é "q" \ud800' },
      },
      data: { "flags.json": '{"a":1}\n'.repeat(8000), empty: "", gone: undefined },
      list: [1, undefined, null, { z: true, y: -0, x: 1.5e300 }],
      many: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${(i * 7) % 40}`, i])),
      pieces: Array.from({ length: 3000 }, (_, i) => `p${i}`),
    };
    await applyIfChanged(client, desired, ConfigMapResource);
    // Computed by the first implementation (stableStringify of the JSON form, one string).
    expect(client.applied[0]?.obj.metadata.annotations?.[APPLIED_HASH_ANNOTATION]).toBe("f3ec3262c5798ffa");
  });

  it("hashes the JSON form of the desired object with sorted keys", async () => {
    const value = fc.anything({
      maxDepth: 3,
      withSparseArray: true,
      withNullPrototype: true,
      stringUnit: "binary",
    });
    const strings = fc.dictionary(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }));
    await fc.assert(
      fc.asyncProperty(value, strings, async (spec, labels) => {
        const client = fakeClient();
        await applyIfChanged(client, { metadata: { name: "n", labels }, spec }, ConfigMapResource);
        const sent = client.applied[0]!.obj;
        expect(sent.metadata.annotations?.[APPLIED_HASH_ANNOTATION]).toBe(referenceHash(sent));
      }),
    );
  });

  it("compares Secret stringData with the observed base64 data", async () => {
    const client = fakeClient();
    const desired: KubeObject = {
      metadata: { name: "s", namespace: "ns" },
      stringData: { url: "https://x" },
    };
    await applyIfChanged(client, desired, SecretResource);
    const sent = client.applied[0]!.obj;
    const { stringData: _s, ...rest } = sent;
    const observed = { ...rest, data: { url: Buffer.from("https://x").toString("base64") } };
    expect(await applyIfChanged(client, desired, SecretResource, observed)).toBe(false);
    const changed = { ...rest, data: { url: Buffer.from("https://y").toString("base64") } };
    expect(await applyIfChanged(client, desired, SecretResource, changed)).toBe(true);
  });
});

describe("isSubset", () => {
  it("compares quantities exactly", () => {
    expect(isSubset("1000m", "1")).toBe(true);
    expect(isSubset("1Ki", "1024")).toBe(true);
    expect(isSubset("0.5Gi", "512Mi")).toBe(true);
    expect(isSubset("1k", "1000")).toBe(true);
    expect(isSubset(1, "1")).toBe(true);
    expect(isSubset("1e3", "1k")).toBe(true);
    expect(isSubset("100m", "0.1")).toBe(true);
    expect(isSubset("1001m", "1")).toBe(false);
    expect(isSubset("1Gi", "1G")).toBe(false);
    expect(isSubset("x:1", "x:1.0")).toBe(false);
  });

  it("treats zero values as absent only in spec mode", () => {
    expect(isSubset({ a: [], b: false, c: "", d: {} }, {})).toBe(true);
    expect(isSubset({ a: "" }, {}, "exact")).toBe(false);
    expect(isSubset({ a: "1" }, { a: "1000m" }, "exact")).toBe(false);
  });

  it("requires arrays of equal length", () => {
    expect(isSubset([1, 2], [1, 2, 3])).toBe(false);
    expect(isSubset([{ name: "a" }], [{ name: "a", extra: 1 }])).toBe(true);
  });

  it("containsDesired ignores status and identity", () => {
    const desired: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "a" },
      status: { x: 1 },
    };
    expect(containsDesired(desired, { metadata: { name: "a" } })).toBe(true);
  });
});

describe("values are read as JSON would send them", () => {
  it("reads an undefined member as absent, on either side", () => {
    expect(isSubset({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(isSubset({ a: 1, b: undefined }, { a: 1 }, "exact")).toBe(true);
    expect(isSubset({ a: 1 }, { a: undefined })).toBe(false);
    expect(isSubset({ a: "" }, { a: undefined })).toBe(true);
    expect(deepEqual({ a: 1, b: undefined }, { c: undefined, a: 1 })).toBe(true);
    expect(mergePatchDiff({ a: 1, b: undefined }, { a: undefined, c: undefined })).toStrictEqual({ a: null });
    expect(mergePatchDiff({}, { x: { y: undefined, z: 1 } })).toStrictEqual({ x: { z: 1 } });
  });

  it("reads an object whose members are all undefined as empty, a zero value in spec mode", () => {
    expect(isSubset({ a: { b: undefined } }, {})).toBe(true);
    expect(isSubset({ a: { b: undefined } }, {}, "exact")).toBe(false);
    expect(isSubset({ a: { b: undefined } }, { a: {} }, "exact")).toBe(true);
  });

  it("reads an undefined array element, or a hole, as null", () => {
    expect(isSubset([undefined], ["a"])).toBe(false);
    expect(isSubset([undefined], [null], "exact")).toBe(true);
    expect(isSubset([null], [undefined], "exact")).toBe(true);
    // eslint-disable-next-line no-sparse-arrays
    expect(deepEqual([, 1], [null, 1])).toBe(true);
    expect(deepEqual([undefined], [])).toBe(false);
    expect(mergePatchDiff({ l: [1] }, { l: [undefined] })).toStrictEqual({ l: [null] });
  });

  it("containsDesired compares metadata other than name and namespace exactly, and needs observed metadata", () => {
    const desired: KubeObject = { metadata: { name: "a", namespace: "x", labels: { l: "1" } } };
    expect(containsDesired(desired, { metadata: { name: "b", labels: { l: "1", m: "2" } } })).toBe(true);
    expect(containsDesired(desired, { metadata: { name: "a", labels: { l: "1.0" } } })).toBe(false);
    expect(containsDesired({ metadata: { name: "a" } }, {} as KubeObject)).toBe(false);
    expect(containsDesired({ metadata: { name: "a", labels: undefined } }, { metadata: {} })).toBe(true);
  });

  it("containsDesired compares data and binaryData exactly, other fields as specs", () => {
    const observed: KubeObject = { metadata: {}, data: { a: "1" }, spec: { cpu: "1" } };
    expect(containsDesired({ metadata: {}, data: { a: "1" }, spec: { cpu: "1000m" } }, observed)).toBe(true);
    expect(containsDesired({ metadata: {}, data: { a: "1000m" } }, observed)).toBe(false);
    expect(containsDesired({ metadata: {}, binaryData: {} }, observed)).toBe(false);
    expect(containsDesired({ metadata: {}, spec: { replicas: 0, paused: false } }, observed)).toBe(true);
    expect(containsDesired({ metadata: {}, spec: undefined, extra: undefined }, observed)).toBe(true);
  });
});

describe("mergePatchDiff / deepEqual", () => {
  it("ignores key order", () => {
    expect(deepEqual({ a: 1, b: { c: [1, { d: 2, e: 3 }] } }, { b: { c: [1, { e: 3, d: 2 }] }, a: 1 })).toBe(
      true,
    );
    expect(deepEqual({ a: undefined }, {})).toBe(true);
    expect(deepEqual([1, 2], [2, 1])).toBe(false);
  });
  it("nulls removed keys and replaces arrays whole", () => {
    expect(mergePatchDiff({ a: 1, b: { c: 1, d: 2 }, l: [1] }, { a: 1, b: { c: 2 }, l: [1, 2] })).toEqual({
      b: { c: 2, d: null },
      l: [1, 2],
    });
  });
});

describe("applyStatusIfChanged", () => {
  const primary: KubeObject = {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name: "r", namespace: "ns", resourceVersion: "42" },
    status: { phase: "Progressing", conditions: [{ type: "Ready", status: "True" }], canary: { weight: 10 } },
  };
  const res: Resource = {
    group: "crescendo.dev",
    version: "v1alpha1",
    kind: "Release",
    plural: "releases",
    namespaced: true,
  };

  it("writes nothing when the status is equal up to key order", async () => {
    const client = fakeClient();
    const same = {
      canary: { weight: 10 },
      conditions: [{ status: "True", type: "Ready" }],
      phase: "Progressing",
    };
    expect(await applyStatusIfChanged(client, primary, res, same)).toBe(false);
    expect(client.patched).toHaveLength(0);
  });

  it("patches /status with a merge patch guarded by resourceVersion", async () => {
    const client = fakeClient();
    const next = {
      phase: "Healthy",
      conditions: [{ type: "Ready", status: "True" }],
      stableRevision: undefined,
    };
    expect(await applyStatusIfChanged(client, primary, res, next)).toBe(true);
    expect(client.patched[0]).toEqual({
      name: "r",
      namespace: "ns",
      patch: { metadata: { resourceVersion: "42" }, status: { phase: "Healthy", canary: null } },
      opts: { subresource: "status" },
    });
  });

  it("writes a first status when none was observed, and never rewrites null fields", async () => {
    const client = fakeClient();
    const bare = { ...primary, status: undefined };
    expect(await applyStatusIfChanged(client, bare, res, { phase: "Progressing" })).toBe(true);
    expect(
      await applyStatusIfChanged(client, primary, res, { ...(primary["status"] as object), gone: null }),
    ).toBe(false);
  });

  const patchOf = async (observed: unknown, status: unknown) => {
    const client = fakeClient();
    await applyStatusIfChanged(client, { ...primary, status: observed }, res, status);
    return (client.patched[0]?.patch as { status?: unknown } | undefined)?.status;
  };

  it("reads null as absent in objects at any depth, but not inside arrays (replaced whole)", async () => {
    expect(await patchOf({ canary: { weight: 10 } }, { canary: { weight: 10, step: null } })).toBeUndefined();
    expect(await patchOf({}, { canary: { weight: 10, step: null } })).toStrictEqual({
      canary: { weight: 10 },
    });
    expect(await patchOf({ canary: { weight: 10 } }, { canary: { step: null } })).toStrictEqual({
      canary: { weight: null },
    });
    const conditions = [{ type: "Ready", reason: null }];
    expect(await patchOf({ conditions: [{ type: "Ready" }] }, { conditions })).toStrictEqual({ conditions });
    expect(await patchOf({ conditions }, { conditions })).toBeUndefined();
  });

  it("reads an observed null as a value, removed like any field the status no longer has", async () => {
    expect(await patchOf({ phase: "Healthy", gone: null }, { phase: "Healthy", gone: null })).toStrictEqual({
      gone: null,
    });
  });

  it("reads undefined members as absent, in the observed status too (our own write laid over the cache)", async () => {
    expect(await patchOf({ phase: "Healthy", stable: undefined }, { phase: "Healthy" })).toBeUndefined();
    expect(await patchOf({ phase: "Healthy" }, { phase: "Healthy", stable: undefined })).toBeUndefined();
    expect(
      await patchOf({ phase: "Healthy", stable: "r1" }, { phase: "Healthy", stable: undefined }),
    ).toStrictEqual({
      stable: null,
    });
  });

  it("reads a missing or null status as empty", async () => {
    expect(await patchOf(undefined, {})).toBeUndefined();
    expect(await patchOf(null, { phase: null })).toBeUndefined();
    expect(await patchOf({}, undefined)).toBeUndefined();
    expect(await patchOf({ phase: "Healthy" }, null)).toStrictEqual({ phase: null });
  });

  it("sends a patch that shares nothing with the status it was computed from", async () => {
    const status = { history: [{ revision: "r1" }], canary: { weight: 20 } };
    const sent = (await patchOf({}, status)) as typeof status;
    expect(sent).toStrictEqual(status);
    expect(sent.history).not.toBe(status.history);
    expect(sent.canary).not.toBe(status.canary);
  });
});

describe("properties", () => {
  const json = fc.jsonValue() as fc.Arbitrary<Parameters<typeof isSubset>[0]>;

  const withoutNullMembers = (v: unknown): unknown =>
    Array.isArray(v)
      ? v
      : typeof v === "object" && v !== null
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([, x]) => x !== null)
              .map(([k, x]) => [k, withoutNullMembers(x)]),
          )
        : v;

  /** The JSON form of a value: what the apiserver receives, and what the comparisons must see. */
  const asSent = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  /** Small domains, so that two values are often equal; undefined members and holes included. */
  const { value: loose } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.constantFrom(null, undefined, true, false, 0, 1, "", "1", "1000m", "x"),
      tie("array"),
      tie("sparse"),
      tie("object"),
    ),
    array: fc.array(tie("value"), { maxLength: 3 }),
    sparse: fc.sparseArray(tie("value"), { maxLength: 3 }),
    object: fc.dictionary(fc.constantFrom("a", "b", "constructor", "__proto__"), tie("value"), {
      maxKeys: 3,
    }),
  }));
  const pair = loose.chain((a) =>
    fc.tuple(fc.constant(a), fc.oneof(fc.constant(a), fc.constant(asSent(a)), loose)),
  );

  it("compares values in place as it compares their JSON forms", () => {
    fc.assert(
      fc.property(pair, fc.constantFrom("spec" as const, "exact" as const), ([a, b], mode) => {
        expect(isSubset(a, b, mode)).toBe(isSubset(asSent(a), asSent(b), mode));
        expect(deepEqual(a, b)).toBe(deepEqual(asSent(a) ?? null, asSent(b) ?? null));
        expect(JSON.stringify(mergePatchDiff(a, b))).toBe(
          JSON.stringify(mergePatchDiff(asSent(a) ?? null, asSent(b) ?? null)),
        );
      }),
    );
  });

  it("patches a status as the merge patch of the JSON forms, null members of the new one dropped", async () => {
    await fc.assert(
      fc.asyncProperty(pair, async ([observed, status]) => {
        const client = fakeClient();
        const primary: KubeObject = { metadata: { name: "a" }, status: observed };
        await applyStatusIfChanged(client, primary, ConfigMapResource, status);
        const expected = mergePatchDiff(asSent(observed) ?? {}, withoutNullMembers(asSent(status) ?? {}));
        const sent = client.patched[0]?.patch as { status: unknown } | undefined;
        expect(JSON.stringify(sent?.status)).toBe(JSON.stringify(expected));
      }),
    );
  });

  it("every JSON value contains itself", () => {
    fc.assert(fc.property(json, (v) => isSubset(v, v) && isSubset(v, v, "exact")));
  });

  it("applying mergePatchDiff(a, b) to a gives b (for objects without null members)", () => {
    const obj = fc.dictionary(fc.string(), json).map(withoutNullMembers);
    fc.assert(
      fc.property(obj, obj, (a, b) => {
        const patch = mergePatchDiff(a as never, b as never);
        return deepEqual(patch === undefined ? a : applyMergePatch(a, patch), b);
      }),
    );
  });
});

describe("prototype keys", () => {
  it("treats keys such as constructor and __proto__ as ordinary data", () => {
    expect(isSubset({ constructor: "x" }, {})).toBe(false);
    expect(mergePatchDiff({}, { toString: 1 })).toEqual({ toString: 1 });
    const withProto = JSON.parse('{"__proto__": {"a": 1}}') as Parameters<typeof mergePatchDiff>[1];
    const patch = mergePatchDiff({}, withProto) as Record<string, unknown>;
    expect(Object.keys(patch)).toEqual(["__proto__"]);
    expect(JSON.stringify(patch)).toBe('{"__proto__":{"a":1}}');
  });

  it("never finds a member on Object.prototype, on either side", () => {
    const proto = (json: string) => JSON.parse(json) as unknown;
    expect(isSubset({ toString: "" }, {})).toBe(true);
    expect(isSubset({ constructor: { a: 1 } }, {})).toBe(false);
    expect(isSubset(proto('{"__proto__": {"a": 1}}'), {})).toBe(false);
    expect(isSubset(proto('{"__proto__": {"a": 1}}'), proto('{"__proto__": {"a": 1, "b": 2}}'))).toBe(true);
    expect(deepEqual({ constructor: 1 }, {})).toBe(false);
    expect(deepEqual({}, proto('{"__proto__": {}}'))).toBe(false);
    const removed = mergePatchDiff(proto('{"__proto__": 1}'), {}) as Record<string, unknown>;
    expect(JSON.stringify(removed)).toBe('{"__proto__":null}');
    expect(containsDesired({ metadata: {}, constructor: "x" }, { metadata: {} })).toBe(false);
    expect(containsDesired({ metadata: {}, constructor: "" }, { metadata: {} })).toBe(true);
    expect(containsDesired({ metadata: {}, data: { hasOwnProperty: "x" } }, { metadata: {}, data: {} })).toBe(
      false,
    );
  });
});
