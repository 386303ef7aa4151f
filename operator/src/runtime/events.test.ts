import { describe, expect, it } from "vitest";
import { createLogger } from "../observability/logger.js";
import { ApiError } from "./client.js";
import { EventRecorder, microTime } from "./events.js";
import type { Clock, KubeObject, Resource } from "./types.js";

function harness(
  options: { failCreate?: Error; failPatch?: Error; gate?: Promise<void>; maxPending?: number } = {},
) {
  let now = Date.parse("2024-05-01T10:00:00.000Z");
  const clock: Clock = { now: () => now, sleep: async () => {} };
  const created: KubeObject[] = [];
  const patched: { name: string; namespace?: string; patch: unknown }[] = [];
  const logs: Record<string, unknown>[] = [];
  const client = {
    async create<T extends KubeObject>(obj: KubeObject, _res: Resource): Promise<T> {
      await options.gate;
      if (options.failCreate) throw options.failCreate;
      created.push(obj);
      return obj as T;
    },
    async mergePatch<T extends KubeObject>(
      _r: Resource,
      name: string,
      namespace: string | undefined,
      patch: unknown,
    ) {
      if (options.failPatch) throw options.failPatch;
      patched.push({ name, namespace, patch });
      return { metadata: { name } } as T;
    },
  };
  const logger = createLogger({
    level: "debug",
    destination: { write: (line: string) => logs.push(JSON.parse(line)) },
  });
  const recorder = new EventRecorder({
    client,
    logger,
    clock,
    reportingInstance: "crescendo-abc",
    dedupWindowMs: 60_000,
    ...(options.maxPending === undefined ? {} : { maxPending: options.maxPending }),
  });
  return { recorder, created, patched, logs, advance: (ms: number) => (now += ms) };
}

const release: KubeObject = {
  apiVersion: "crescendo.dev/v1alpha1",
  kind: "Release",
  metadata: { name: "web", namespace: "team-a", uid: "u-1", resourceVersion: "9" },
};
const rolledBack = {
  type: "Warning",
  reason: "RolledBack",
  note: "error rate 7% > 5%",
  action: "Rollback",
} as const;

describe("EventRecorder", () => {
  it("drops new Events while too many wait for the rate limit, and says so once it drained", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const h = harness({ gate, maxPending: 2 });
    const other = (name: string): KubeObject => ({
      ...release,
      metadata: { ...release.metadata, name, uid: name },
    });
    const writes = ["a", "b", "c", "d"].map((name) => h.recorder.record(other(name), rolledBack));
    await Promise.all(writes.slice(2)); // dropped at once, never written
    expect(h.logs.filter((l) => l["msg"] === "too many Events waiting; dropping new ones")).toHaveLength(1);
    open();
    await Promise.all(writes);
    expect(h.created.map((e) => (e["regarding"] as { name: string }).name)).toEqual(["a", "b"]);
    expect(h.logs.find((l) => l["msg"] === "Event backlog drained; some Events were dropped")).toMatchObject({
      dropped: 2,
    });
    // Room again: the next Event is written.
    await h.recorder.record(other("e"), rolledBack);
    expect(h.created).toHaveLength(3);
  });

  it("creates an events.k8s.io/v1 Event with the required fields", async () => {
    const h = harness();
    await h.recorder.record(release, rolledBack);
    expect(h.created).toHaveLength(1);
    const event = h.created[0]!;
    expect(event).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { namespace: "team-a" },
      eventTime: "2024-05-01T10:00:00.000000Z",
      reportingController: "crescendo.dev/operator",
      reportingInstance: "crescendo-abc",
      action: "Rollback",
      reason: "RolledBack",
      note: "error rate 7% > 5%",
      type: "Warning",
      regarding: {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Release",
        name: "web",
        namespace: "team-a",
        uid: "u-1",
      },
    });
    expect(event.metadata.name).toMatch(/^web\.[0-9a-f]+$/);
  });

  it("folds repeats within the window into the first Event's series", async () => {
    const h = harness();
    const first = h.recorder.record(release, rolledBack);
    h.advance(1000);
    const second = h.recorder.record(release, rolledBack);
    h.advance(1000);
    await Promise.all([first, second, h.recorder.record(release, rolledBack)]);
    expect(h.created).toHaveLength(1);
    const name = h.created[0]!.metadata.name;
    expect(h.patched).toEqual([
      {
        name,
        namespace: "team-a",
        patch: { series: { count: 2, lastObservedTime: "2024-05-01T10:00:01.000000Z" } },
      },
      {
        name,
        namespace: "team-a",
        patch: { series: { count: 3, lastObservedTime: "2024-05-01T10:00:02.000000Z" } },
      },
    ]);
  });

  it("creates a new Event for a different note or after the window", async () => {
    const h = harness();
    await h.recorder.record(release, rolledBack);
    await h.recorder.record(release, { ...rolledBack, note: "latency" });
    h.advance(61_000);
    await h.recorder.record(release, rolledBack);
    expect(h.created).toHaveLength(3);
    expect(new Set(h.created.map((e) => e.metadata.name)).size).toBe(3);
    expect(h.patched).toHaveLength(0);
  });

  it("starts a new Event when the series' Event is gone", async () => {
    const h = harness({ failPatch: new ApiError(404, "NotFound", "gone", undefined, undefined, "PATCH") });
    await h.recorder.record(release, rolledBack);
    await h.recorder.record(release, rolledBack);
    expect(h.created).toHaveLength(2);
  });

  it("puts Events about cluster-scoped objects in default, and never throws", async () => {
    const h = harness({ failCreate: new Error("apiserver down") });
    const squad: KubeObject = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Squad",
      metadata: { name: "a" },
    };
    await expect(h.recorder.record(squad, { ...rolledBack, type: "Normal" })).resolves.toBeUndefined();
    expect(h.logs.some((l) => l["msg"] === "could not record event" && l["level"] === "warn")).toBe(true);
    const ok = harness();
    await ok.recorder.record(squad, rolledBack);
    expect(ok.created[0]?.metadata.namespace).toBe("default");
  });

  it("truncates the note to 1 kB", async () => {
    const h = harness();
    await h.recorder.record(release, { ...rolledBack, note: "é".repeat(1000) });
    expect(Buffer.byteLength(String(h.created[0]!["note"]))).toBeLessThanOrEqual(1024);
  });

  it("formats MicroTime with six fractional digits", () => {
    expect(microTime(Date.parse("2024-01-02T03:04:05.678Z"))).toBe("2024-01-02T03:04:05.678000Z");
  });
});
