import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { deepEqual } from "./apply.js";
import { ApiError, type KubeClient } from "./client.js";
import { OwnWrites, trackOwnWrites } from "./own-writes.js";
import { Store } from "./store.js";
import { objectKey, type KubeObject, type Resource } from "./types.js";

const Widget: Resource = {
  group: "example.dev",
  version: "v1",
  kind: "Widget",
  plural: "widgets",
  namespaced: true,
};

type Status = Record<string, unknown>;

/**
 * An apiserver for one kind, as far as status writes go: resourceVersions that are opaque (they
 * neither grow nor sort), the resourceVersion precondition of a merge patch (409 when stale),
 * full objects in answers (managedFields included), and a watch whose events reach the store
 * only when the test delivers them, in order.
 */
class FakeApiServer {
  readonly objects = new Map<string, KubeObject>();
  readonly store = new Store<KubeObject>();
  /** Events not yet delivered to the store, oldest first. */
  readonly pending: { type: "upsert" | "delete"; object: KubeObject }[] = [];
  patches: { name: string; resourceVersion?: string }[] = [];
  private counter = 0;

  constructor() {
    this.store.replace([], "0");
  }

  /** Distinct, unordered: `8`, `3`, `9`, ... */
  private nextVersion(): string {
    this.counter += 1;
    return `v${(this.counter * 7919) % 10007}`;
  }

  create(name: string, status?: Status): KubeObject {
    const obj: KubeObject = {
      apiVersion: "example.dev/v1",
      kind: "Widget",
      metadata: {
        name,
        namespace: "ns",
        uid: `uid-${this.counter}`,
        generation: 1,
        resourceVersion: this.nextVersion(),
      },
      spec: { size: 1 },
      ...(status ? { status } : {}),
    };
    this.commit(obj);
    return obj;
  }

  /** Someone else changes the spec (a new generation), with no precondition, as `kubectl apply` does. */
  editSpec(name: string): void {
    const current = this.objects.get(`ns/${name}`)!;
    const spec = current["spec"] as { size: number };
    this.commit({
      ...current,
      metadata: {
        ...current.metadata,
        generation: (current.metadata.generation ?? 0) + 1,
        resourceVersion: this.nextVersion(),
      },
      spec: { size: spec.size + 1 },
    });
  }

  remove(name: string): void {
    const current = this.objects.get(`ns/${name}`)!;
    this.objects.delete(`ns/${name}`);
    this.pending.push({ type: "delete", object: current });
  }

  /** Delivers the next `n` watch events (all by default). */
  deliver(n = this.pending.length): void {
    for (const event of this.pending.splice(0, n)) {
      if (event.type === "upsert") this.store.upsert(event.object);
      else this.store.delete(event.object);
    }
  }

  /** Status of the object on the server. */
  statusOf(name: string): unknown {
    return this.objects.get(`ns/${name}`)?.["status"];
  }

  client: Pick<KubeClient, "mergePatch"> = {
    mergePatch: async <T extends KubeObject>(
      _res: Resource,
      name: string,
      namespace: string | undefined,
      patch: unknown,
    ): Promise<T> => {
      const body = patch as { metadata?: { resourceVersion?: string }; status: Status };
      this.patches.push({ name, resourceVersion: body.metadata?.resourceVersion });
      const current = this.objects.get(`${namespace ?? ""}/${name}`);
      if (!current) throw new ApiError(404, "NotFound", "not found", undefined, undefined, "PATCH");
      const precondition = body.metadata?.resourceVersion;
      if (precondition !== undefined && precondition !== current.metadata.resourceVersion)
        throw new ApiError(409, "Conflict", "the object has been modified", undefined, undefined, "PATCH");
      const status = mergeStatus(current["status"] as Status | undefined, body.status);
      const next = {
        ...current,
        metadata: { ...current.metadata, resourceVersion: this.nextVersion() },
        status,
      };
      this.commit(next);
      return {
        ...next,
        metadata: { ...next.metadata, managedFields: [{ manager: "crescendo", operation: "Update" }] },
      } as unknown as T;
    },
  };

  private commit(obj: KubeObject): void {
    this.objects.set(objectKey(obj), obj);
    this.pending.push({ type: "upsert", object: obj });
  }
}

function mergeStatus(from: Status | undefined, patch: Status): Status {
  const out: Status = { ...from };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A server with one Widget `w` already in the cache, and the controller's memory of it. */
function setup(status?: Status) {
  const server = new FakeApiServer();
  server.create("w", status);
  server.deliver();
  const own = trackOwnWrites(server.store);
  /** One reconcile: read the freshest view, write `status` unless it is already there. */
  const reconcile = async (next: Status, key = "ns/w") => {
    const view = own.get(key);
    if (!view) return false;
    return own.patchStatus(server.client, view, Widget, next);
  };
  return { server, own, reconcile };
}

describe("OwnWrites", () => {
  it("reads the cache when nothing was written", () => {
    const { server, own } = setup({ phase: "A" });
    expect(own.get("ns/w")).toBe(server.store.get("ns/w"));
    expect(own.get("ns/absent")).toBeUndefined();
  });

  it("reads its own write while the store lags by one write, and writes nothing more", async () => {
    const { server, own, reconcile } = setup({ phase: "A" });
    const cached = server.store.get("ns/w")!;
    expect(await reconcile({ phase: "B" })).toBe(true);

    const view = own.get("ns/w")!;
    expect(view["status"]).toEqual({ phase: "B" });
    expect(view.metadata.resourceVersion).toBe(server.objects.get("ns/w")?.metadata.resourceVersion);
    // Only status and resourceVersion come from the write; the rest is the cached object's.
    expect(view["spec"]).toBe(cached["spec"]);
    expect(view.metadata.managedFields).toBeUndefined();
    expect(cached["status"]).toEqual({ phase: "A" }); // the cache is not touched

    server.patches = [];
    expect(await reconcile({ phase: "B" })).toBe(false);
    expect(server.patches).toEqual([]);
  });

  it("chains several writes the store has not seen, each based on the previous one", async () => {
    const { server, own, reconcile } = setup({ phase: "A" });
    for (const phase of ["B", "C", "D"]) expect(await reconcile({ phase })).toBe(true);
    // Every patch carried the version the previous write produced: no 409.
    expect(new Set(server.patches.map((p) => p.resourceVersion)).size).toBe(3);
    expect(own.get("ns/w")?.["status"]).toEqual({ phase: "D" });

    // The watch delivers the two older writes one by one: ours is still the freshest.
    for (let i = 0; i < 2; i++) {
      server.deliver(1);
      expect(own.get("ns/w")?.["status"]).toEqual({ phase: "D" });
      expect(own.size()).toBe(1);
    }
    // Our last write arrives: the cache is read again, and the memory is gone.
    server.deliver(1);
    expect(own.size()).toBe(0);
    expect(own.get("ns/w")).toBe(server.store.get("ns/w"));
    expect(own.get("ns/w")?.["status"]).toEqual({ phase: "D" });
  });

  it("forgets a write as soon as the cache shows it, without being asked", async () => {
    const { server, own, reconcile } = setup();
    await reconcile({ phase: "B" });
    expect(own.size()).toBe(1);
    server.deliver();
    expect(own.size()).toBe(0);
  });

  it("lets a later change by someone else win over its write", async () => {
    const { server, own, reconcile } = setup({ phase: "A" });
    await reconcile({ phase: "B" });
    server.editSpec("w");
    server.deliver(1); // our write: still older than the edit, which is pending
    server.deliver(1); // the edit
    expect(own.size()).toBe(0);
    expect(own.get("ns/w")).toBe(server.store.get("ns/w"));
    expect(own.get("ns/w")?.["spec"]).toEqual({ size: 2 });
  });

  it("does not remember a write the watch delivered before the response", async () => {
    const server = new FakeApiServer();
    server.create("w");
    server.deliver();
    const own = trackOwnWrites(server.store);
    const eager: Pick<KubeClient, "mergePatch"> = {
      mergePatch: async <T extends KubeObject>(...args: Parameters<KubeClient["mergePatch"]>) => {
        const answer = await server.client.mergePatch<T>(...args);
        server.deliver();
        return answer;
      },
    };
    expect(await own.patchStatus(eager, own.get("ns/w")!, Widget, { phase: "B" })).toBe(true);
    expect(own.size()).toBe(0);
    expect(own.get("ns/w")?.["status"]).toEqual({ phase: "B" });
  });

  it("forgets a deleted object, so one recreated under the same name starts clean", async () => {
    const { server, own, reconcile } = setup();
    await reconcile({ phase: "B" });
    server.remove("w");
    server.deliver();
    expect(own.size()).toBe(0);
    expect(own.get("ns/w")).toBeUndefined();

    // A relist that no longer has the object has the same effect.
    const again = setup();
    await again.reconcile({ phase: "B" });
    again.server.store.replace([], "99");
    expect(again.own.size()).toBe(0);
  });

  it("also forgets a key the controller reads while the cache no longer has it", async () => {
    const server = new FakeApiServer();
    server.create("w");
    server.deliver();
    const own = new OwnWrites(server.store); // not subscribed: only reads prune
    await own.patchStatus(server.client, own.get("ns/w")!, Widget, { phase: "B" });
    expect(own.size()).toBe(1);
    server.remove("w");
    server.deliver();
    expect(own.size()).toBe(1);
    expect(own.get("ns/w")).toBeUndefined();
    expect(own.size()).toBe(0);
  });

  it("drops its write on a conflict (409), rethrows, and reads the cache until it catches up", async () => {
    const { server, own, reconcile } = setup({ phase: "A" });
    await reconcile({ phase: "B" });
    // Someone else's change reached the server, not yet the cache.
    server.editSpec("w");
    await expect(reconcile({ phase: "C" })).rejects.toMatchObject({ status: 409 });
    expect(own.size()).toBe(0);
    expect(own.get("ns/w")).toBe(server.store.get("ns/w"));

    // The cache catches up, and the write goes through on the newest version.
    server.deliver();
    expect(await reconcile({ phase: "C" })).toBe(true);
    expect(server.statusOf("w")).toEqual({ phase: "C" });
  });

  it("drops its write when the object is gone (404)", async () => {
    const { server, own, reconcile } = setup();
    await reconcile({ phase: "B" });
    server.remove("w");
    await expect(reconcile({ phase: "C" })).rejects.toMatchObject({ status: 404 });
    expect(own.size()).toBe(0);
  });

  it("keeps its write across an error that says nothing about the object", async () => {
    const { server, own, reconcile } = setup();
    await reconcile({ phase: "B" });
    const failing: Pick<KubeClient, "mergePatch"> = {
      mergePatch: () => Promise.reject(new Error("socket hang up")),
    };
    await expect(own.patchStatus(failing, own.get("ns/w")!, Widget, { phase: "C" })).rejects.toThrow(
      "hang up",
    );
    expect(own.get("ns/w")?.["status"]).toEqual({ phase: "B" });
    expect(server.store.get("ns/w")?.["status"]).toBeUndefined();
  });

  it("after a restart (empty memory) reads the older cache: at worst a 409, never a lost write", async () => {
    const { server, reconcile } = setup({ phase: "A" });
    await reconcile({ phase: "B" });
    const restarted = trackOwnWrites(server.store);
    expect(restarted.get("ns/w")?.["status"]).toEqual({ phase: "A" });
    await expect(
      restarted.patchStatus(server.client, restarted.get("ns/w")!, Widget, { phase: "C" }),
    ).rejects.toMatchObject({ status: 409 });
    expect(server.statusOf("w")).toEqual({ phase: "B" });
    server.deliver();
    expect(await restarted.patchStatus(server.client, restarted.get("ns/w")!, Widget, { phase: "C" })).toBe(
      true,
    );
  });

  it("writes nothing and remembers nothing when the status is unchanged", async () => {
    const { server, own, reconcile } = setup({ phase: "A" });
    expect(await reconcile({ phase: "A" })).toBe(false);
    expect(server.patches).toEqual([]);
    expect(own.size()).toBe(0);
  });

  it("remembers nothing for an object without a resourceVersion, or an answer without one", () => {
    const store = new Store<KubeObject>();
    const obj: KubeObject = { metadata: { name: "w", namespace: "ns", resourceVersion: "1" } };
    store.replace([obj], "1");
    const own = new OwnWrites(store);
    own.remember({ metadata: { name: "w", namespace: "ns" } }, "2", {});
    own.remember(obj, undefined, {});
    own.remember(obj, "1", {});
    expect(own.size()).toBe(0);
  });

  it("lays the write over a derived view (e.g. a parsed spec) of the cached object", async () => {
    const { server, own, reconcile } = setup({ phase: "A" });
    await reconcile({ phase: "B" });
    const parsed = { ...server.store.get("ns/w")!, spec: { size: 1, parsed: true } };
    expect(own.view(parsed)).toMatchObject({ spec: { size: 1, parsed: true }, status: { phase: "B" } });
  });

  it("stays bounded over many objects: nothing is left once the cache has caught up", async () => {
    const server = new FakeApiServer();
    for (let i = 0; i < 2000; i++) server.create(`w${i}`);
    server.deliver();
    const own = trackOwnWrites(server.store);
    const all = () => server.store.list("ns");
    for (const round of [1, 2, 3]) {
      for (const obj of all()) await own.patchStatus(server.client, own.view(obj), Widget, { round });
    }
    expect(own.size()).toBe(2000);
    server.deliver();
    expect(own.size()).toBe(0);

    // Objects deleted before their writes come back are forgotten too.
    for (const obj of all()) await own.patchStatus(server.client, own.view(obj), Widget, { round: 4 });
    for (const obj of all()) server.remove(obj.metadata.name ?? "");
    server.deliver();
    expect(own.size()).toBe(0);
  });

  it("keeps a bounded chain when the watch never delivers, falling back to the cache (and a 409)", async () => {
    const { server, own, reconcile } = setup({ phase: "A" });
    // 16 superseded versions are remembered: 17 writes chain without a conflict.
    for (let i = 0; i < 17; i++) expect(await reconcile({ n: i })).toBe(true);
    // The cache still shows the version of 17 writes ago, beyond what is remembered: it is read
    // as it is, and writing from it fails with 409 rather than overwrite what is newer.
    expect(own.size()).toBe(0);
    expect(own.get("ns/w")?.["status"]).toEqual({ phase: "A" });
    await expect(reconcile({ n: 99 })).rejects.toMatchObject({ status: 409 });
    server.deliver();
    expect(await reconcile({ n: 99 })).toBe(true);
  });

  /**
   * Any interleaving of reconciles (each writes a new status), watch deliveries, other writers'
   * spec edits and restarts. While every undelivered event is one of this process's own writes
   * (and they are no more than the 16 versions one write remembers superseding) the view is
   * exactly the server's object, status and version, so no write conflicts and none is
   * repeated; a 409 happens only after another writer or a restart; once everything is
   * delivered nothing is remembered.
   */
  it("never conflicts with itself and never reads an older status than its own, whatever the interleaving", async () => {
    type Op = { kind: "write" | "deliver" | "edit" | "restart"; n: number };
    const op = fc.record({
      kind: fc.constantFrom<Op["kind"]>("write", "write", "write", "deliver", "deliver", "edit", "restart"),
      n: fc.integer({ min: 1, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const server = new FakeApiServer();
        server.create("w");
        server.deliver();
        let own = trackOwnWrites(server.store);
        let foreignPending = 0; // undelivered events this process did not write (or forgot)
        let value = 0;
        for (const { kind, n } of ops) {
          if (kind === "deliver") {
            const events = server.pending.slice(0, n).length;
            server.deliver(n);
            foreignPending = Math.max(0, foreignPending - events);
            if (server.pending.length === 0) foreignPending = 0;
          } else if (kind === "edit") {
            server.editSpec("w");
            foreignPending = server.pending.length;
          } else if (kind === "restart") {
            own = trackOwnWrites(server.store);
            foreignPending = server.pending.length;
          } else {
            const view = own.get("ns/w")!;
            const current = server.objects.get("ns/w")!;
            const exact = foreignPending === 0 && server.pending.length <= 16;
            if (exact) {
              expect(view.metadata.resourceVersion).toBe(current.metadata.resourceVersion);
              expect(deepEqual(view["status"], current["status"])).toBe(true);
            }
            value += 1;
            try {
              expect(await own.patchStatus(server.client, view, Widget, { value })).toBe(true);
            } catch (err) {
              expect(err).toMatchObject({ status: 409 });
              expect(exact).toBe(false);
            }
          }
        }
        server.deliver();
        expect(own.size()).toBe(0);
        expect(own.get("ns/w")).toBe(server.store.get("ns/w"));
      }),
      { numRuns: 300 },
    );
  });
});
