import { describe, expect, it, vi } from "vitest";
import { LAST_APPLIED_ANNOTATION, Store } from "./store.js";
import type { KubeObject, StoreEvent } from "./types.js";

function pod(
  name: string,
  rv: string,
  extra: { namespace?: string; labels?: Record<string, string>; owners?: string[]; managed?: boolean } = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: extra.namespace ?? "ns",
      resourceVersion: rv,
      labels: extra.labels,
      ownerReferences: extra.owners?.map((uid) => ({
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: uid,
        uid,
      })),
      ...(extra.managed ? { managedFields: [{ manager: "kubectl" }] } : {}),
    },
  };
}

function recording(store: Store<KubeObject>): StoreEvent[] {
  const events: StoreEvent[] = [];
  store.subscribe((e) => events.push(e));
  return events;
}

const names = (objs: KubeObject[]): string[] => objs.map((o) => o.metadata.name ?? "").sort();

describe("Store", () => {
  it("is not synced until the first replace, then emits exactly one resync", () => {
    const store = new Store();
    const events = recording(store);
    expect(store.hasSynced()).toBe(false);
    store.replace([pod("a", "1"), pod("b", "2")], "10");
    expect(store.hasSynced()).toBe(true);
    expect(store.resourceVersion()).toBe("10");
    expect(events).toHaveLength(1);
    expect(events[0]?.type).toBe("resync");
    expect(events[0]?.type === "resync" && names(events[0].objects)).toEqual(["a", "b"]);
  });

  it("gets by namespace/name key, and by name for cluster-scoped objects", () => {
    const store = new Store();
    const ns: KubeObject = { metadata: { name: "team-a", resourceVersion: "1" } };
    store.replace([pod("a", "1"), ns], "1");
    expect(store.get("ns/a")?.metadata.name).toBe("a");
    expect(store.get("team-a")).toBe(ns);
    expect(store.get("ns/missing")).toBeUndefined();
  });

  it("upsert emits with the previous object, and nothing when the resourceVersion is unchanged", () => {
    const store = new Store();
    store.replace([], "1");
    const events = recording(store);
    store.upsert(pod("a", "1"));
    store.upsert(pod("a", "1"));
    store.upsert(pod("a", "2"));
    expect(events.map((e) => e.type)).toEqual(["upsert", "upsert"]);
    const second = events[1];
    expect(second?.type === "upsert" && second.previous?.metadata.resourceVersion).toBe("1");
    expect(store.get("ns/a")?.metadata.resourceVersion).toBe("2");
    expect(store.size()).toBe(1);
  });

  it("delete emits the final state, and nothing for an unknown object", () => {
    const store = new Store();
    store.replace([pod("a", "1")], "1");
    const events = recording(store);
    store.delete(pod("zzz", "3"));
    store.delete(pod("a", "2"));
    expect(events).toEqual([{ type: "delete", object: pod("a", "2") }]);
    expect(store.get("ns/a")).toBeUndefined();
    expect(store.list()).toEqual([]);
  });

  it("replace emits a delete for each object that vanished, then the resync", () => {
    const store = new Store();
    store.replace([pod("a", "1"), pod("b", "1")], "1");
    const events = recording(store);
    store.replace([pod("b", "2"), pod("c", "2")], "5");
    expect(events.map((e) => e.type)).toEqual(["delete", "resync"]);
    expect(events[0]?.type === "delete" && events[0].object.metadata.name).toBe("a");
    expect(names(store.list())).toEqual(["b", "c"]);
  });

  it("strips managedFields without touching the caller's object", () => {
    const store = new Store();
    const input = pod("a", "1", { managed: true });
    store.replace([input], "1");
    store.upsert(pod("b", "1", { managed: true }));
    expect(store.get("ns/a")?.metadata).not.toHaveProperty("managedFields");
    expect(store.get("ns/b")?.metadata).not.toHaveProperty("managedFields");
    expect(input.metadata.managedFields).toEqual([{ manager: "kubectl" }]);
    const events = recording(store);
    store.delete(pod("b", "2", { managed: true }));
    expect(events[0]?.type === "delete" && events[0].object.metadata).not.toHaveProperty("managedFields");
  });

  it("strips kubectl's last-applied-configuration annotation and keeps the others", () => {
    const store = new Store();
    const input = pod("a", "1");
    input.metadata.annotations = { [LAST_APPLIED_ANNOTATION]: '{"spec":{}}', keep: "me" };
    store.upsert(input);
    expect(store.get("ns/a")?.metadata.annotations).toEqual({ keep: "me" });
    expect(input.metadata.annotations).toHaveProperty(LAST_APPLIED_ANNOTATION);
  });

  it("keeps the last-applied annotation for a kind that asks (Squads), still dropping managedFields", () => {
    const store = new Store({ keepLastApplied: true });
    const input = pod("a", "1", { managed: true });
    input.metadata.annotations = { [LAST_APPLIED_ANNOTATION]: '{"spec":{}}', keep: "me" };
    store.upsert(input);
    expect(store.get("ns/a")?.metadata.annotations).toEqual({
      [LAST_APPLIED_ANNOTATION]: '{"spec":{}}',
      keep: "me",
    });
    expect(store.get("ns/a")?.metadata).not.toHaveProperty("managedFields");
  });

  it("keeps one copy: every view returns the same object instance", () => {
    const store = new Store();
    store.upsert(pod("a", "1", { labels: { app: "x" }, owners: ["u1"] }));
    const obj = store.get("ns/a");
    expect(store.list()[0]).toBe(obj);
    expect(store.list("ns")[0]).toBe(obj);
    expect(store.byLabel("app", "x")[0]).toBe(obj);
    expect(store.byOwner("u1")[0]).toBe(obj);
  });

  describe("indexes", () => {
    it("lists by namespace", () => {
      const store = new Store();
      store.replace([pod("a", "1", { namespace: "x" }), pod("b", "1", { namespace: "y" })], "1");
      store.upsert(pod("c", "2", { namespace: "x" }));
      expect(names(store.list("x"))).toEqual(["a", "c"]);
      expect(names(store.list("y"))).toEqual(["b"]);
      expect(store.list("none")).toEqual([]);
      expect(names(store.list())).toEqual(["a", "b", "c"]);
    });

    it("finds by owner uid and follows changes and deletes", () => {
      const store = new Store();
      store.upsert(pod("a", "1", { owners: ["u1", "u2"] }));
      store.upsert(pod("b", "1", { owners: ["u1"] }));
      expect(names(store.byOwner("u1"))).toEqual(["a", "b"]);
      expect(names(store.byOwner("u2"))).toEqual(["a"]);
      store.upsert(pod("a", "2", { owners: ["u3"] })); // re-parented
      expect(names(store.byOwner("u1"))).toEqual(["b"]);
      expect(store.byOwner("u2")).toEqual([]);
      expect(names(store.byOwner("u3"))).toEqual(["a"]);
      store.delete(pod("b", "3"));
      expect(store.byOwner("u1")).toEqual([]);
    });

    it("finds by label key=value and follows relabelling", () => {
      const store = new Store();
      store.upsert(pod("a", "1", { labels: { app: "web", track: "stable" } }));
      store.upsert(pod("b", "1", { labels: { app: "web", track: "canary" } }));
      expect(names(store.byLabel("app", "web"))).toEqual(["a", "b"]);
      expect(names(store.byLabel("track", "canary"))).toEqual(["b"]);
      store.upsert(pod("b", "2", { labels: { app: "web", track: "stable" } }));
      expect(store.byLabel("track", "canary")).toEqual([]);
      expect(names(store.byLabel("track", "stable"))).toEqual(["a", "b"]);
      expect(store.byLabel("app", "db")).toEqual([]);
    });

    it("is rebuilt by replace", () => {
      const store = new Store();
      store.upsert(pod("a", "1", { labels: { app: "web" }, owners: ["u1"], namespace: "x" }));
      store.replace([pod("b", "1", { labels: { app: "web" } })], "2");
      expect(names(store.byLabel("app", "web"))).toEqual(["b"]);
      expect(store.byOwner("u1")).toEqual([]);
      expect(store.list("x")).toEqual([]);
    });

    describe("added with addIndex", () => {
      // A controller's own index: pods filed under each value of a comma-separated annotation.
      const byRoutes = (obj: KubeObject): string[] =>
        (obj.metadata.annotations?.routes ?? "").split(",").filter((r) => r !== "");
      const routed = (name: string, rv: string, routes: string, namespace = "ns"): KubeObject => {
        const obj = pod(name, rv, { namespace });
        obj.metadata.annotations = { routes };
        return obj;
      };

      it("indexes objects already cached, then follows upserts, re-filing and deletes", () => {
        const store = new Store();
        store.upsert(routed("a", "1", "r1,r2"));
        store.addIndex("routes", byRoutes);
        expect(names(store.byIndex("routes", "r1"))).toEqual(["a"]);
        store.upsert(routed("b", "1", "r1"));
        expect(names(store.byIndex("routes", "r1"))).toEqual(["a", "b"]);
        store.upsert(routed("a", "2", "r3")); // re-filed
        expect(names(store.byIndex("routes", "r1"))).toEqual(["b"]);
        expect(store.byIndex("routes", "r2")).toEqual([]);
        expect(names(store.byIndex("routes", "r3"))).toEqual(["a"]);
        store.delete(routed("b", "3", ""));
        expect(store.byIndex("routes", "r1")).toEqual([]);
      });

      it("is rebuilt by replace, and a value with no objects left finds nothing", () => {
        const store = new Store();
        store.addIndex("routes", byRoutes);
        store.upsert(routed("a", "1", "r1"));
        store.replace([routed("b", "1", "r2")], "2");
        expect(store.byIndex("routes", "r1")).toEqual([]);
        expect(names(store.byIndex("routes", "r2"))).toEqual(["b"]);
      });

      it("files an object whose index function throws under nothing, and still caches it", () => {
        const store = new Store();
        store.addIndex("boom", (obj) => {
          if (obj.metadata.name === "bad") throw new Error("malformed");
          return ["all"];
        });
        store.upsert(pod("bad", "1"));
        store.upsert(pod("good", "1"));
        expect(names(store.byIndex("boom", "all"))).toEqual(["good"]);
        expect(names(store.list())).toEqual(["bad", "good"]);
      });

      it("refuses a name taken twice, built-in ones included, and an unknown name", () => {
        const store = new Store();
        store.addIndex("routes", byRoutes);
        expect(() => store.addIndex("routes", byRoutes)).toThrow(/already exists/);
        expect(() => store.addIndex("namespace", byRoutes)).toThrow(/already exists/);
        expect(() => store.byIndex("nope", "x")).toThrow(/does not exist/);
      });
    });
  });

  describe("subscribers", () => {
    it("a throwing subscriber never escapes and does not starve the others", () => {
      const onHandlerError = vi.fn();
      const store = new Store({ onHandlerError });
      store.subscribe(() => {
        throw new Error("boom");
      });
      const events = recording(store);
      expect(() => store.replace([pod("a", "1")], "1")).not.toThrow();
      expect(() => store.upsert(pod("a", "2"))).not.toThrow();
      expect(() => store.delete(pod("a", "3"))).not.toThrow();
      expect(events.map((e) => e.type)).toEqual(["resync", "upsert", "delete"]);
      expect(onHandlerError).toHaveBeenCalledTimes(3);
    });

    it("a throwing error reporter does not escape either", () => {
      const store = new Store({
        onHandlerError: () => {
          throw new Error("reporter");
        },
      });
      store.subscribe(() => {
        throw new Error("boom");
      });
      expect(() => store.upsert(pod("a", "1"))).not.toThrow();
    });

    it("unsubscribe stops delivery", () => {
      const store = new Store();
      const handler = vi.fn();
      const off = store.subscribe(handler);
      store.upsert(pod("a", "1"));
      off();
      store.upsert(pod("a", "2"));
      expect(handler).toHaveBeenCalledTimes(1);
    });
  });
});
