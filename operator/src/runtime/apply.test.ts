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
});

describe("properties", () => {
  const json = fc.jsonValue() as fc.Arbitrary<Parameters<typeof isSubset>[0]>;

  /** RFC 7386 application, to check that the diff really turns `from` into `to`. */
  function applyPatch(target: unknown, patch: unknown): unknown {
    if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
    const out: Record<string, unknown> =
      typeof target === "object" && target !== null && !Array.isArray(target) ? { ...target } : {};
    for (const [k, v] of Object.entries(patch)) {
      // defineProperty, not assignment: "__proto__" is an ordinary key in JSON.
      if (v === null) delete out[k];
      else
        Object.defineProperty(out, k, {
          value: applyPatch(Object.hasOwn(out, k) ? out[k] : undefined, v),
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }
    return out;
  }
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

  it("every JSON value contains itself", () => {
    fc.assert(fc.property(json, (v) => isSubset(v, v) && isSubset(v, v, "exact")));
  });

  it("applying mergePatchDiff(a, b) to a gives b (for objects without null members)", () => {
    const obj = fc.dictionary(fc.string(), json).map(withoutNullMembers);
    fc.assert(
      fc.property(obj, obj, (a, b) => {
        const patch = mergePatchDiff(a as never, b as never);
        return deepEqual(patch === undefined ? a : applyPatch(a, patch), b);
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
});
