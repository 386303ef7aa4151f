import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createKubeClient } from "./client.js";
import type { KubeConnection } from "./kubeconfig.js";
import { createReflector, type ReflectorOptions } from "./reflector.js";
import { Store } from "./store.js";
import type { Clock, KubeObject, Resource, StoreEvent } from "./types.js";

const Pods: Resource = { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true };

interface Request {
  verb: "list" | "watch";
  query: Record<string, string>;
}

/**
 * A small apiserver for one namespaced kind: an object map, a resourceVersion counter, an
 * event log for watches to replay from, compaction (410), paging, bookmarks, and knobs to
 * make requests fail, go silent or drop.
 */
class FakeApiServer {
  private readonly server: http.Server;
  private rv = 100;
  private readonly objects = new Map<string, KubeObject>();
  private readonly log: { rv: number; type: string; object: KubeObject }[] = [];
  private compactedBelow = 0;
  private readonly watchers = new Set<{ res: http.ServerResponse; bookmarks: boolean }>();
  private readonly pagedSnapshots = new Map<string, KubeObject[]>();
  readonly requests: Request[] = [];
  /** Status codes to answer the next requests with, in order. */
  failures: number[] = [];
  /** How an expired resourceVersion is reported on watch. */
  goneAs: "http" | "event" = "http";
  /** Accept watches but never send anything. */
  silent = false;
  /** End every watch right after its headers. */
  endWatchesAtOnce = false;
  url = "";

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  lists(): Request[] {
    return this.requests.filter((r) => r.verb === "list");
  }

  watches(): Request[] {
    return this.requests.filter((r) => r.verb === "watch");
  }

  openWatches(): number {
    return this.watchers.size;
  }

  put(name: string, extra: Partial<KubeObject> = {}): void {
    const type = this.objects.has(name) ? "MODIFIED" : "ADDED";
    const object: KubeObject = {
      ...extra,
      metadata: {
        name,
        namespace: "ns",
        uid: `uid-${name}`,
        resourceVersion: String(++this.rv),
        managedFields: [{ manager: "kubectl", fieldsV1: { "f:spec": {} } }],
        ...extra.metadata,
      },
    };
    this.objects.set(name, object);
    this.record(type, object);
  }

  remove(name: string): void {
    const object = this.objects.get(name);
    if (!object) throw new Error(`no ${name}`);
    this.objects.delete(name);
    this.record("DELETED", {
      ...object,
      metadata: { ...object.metadata, resourceVersion: String(++this.rv) },
    });
  }

  /** Sends a bookmark at a new resourceVersion (as if other kinds had changed meanwhile). */
  bookmark(): string {
    const rv = String(++this.rv);
    for (const w of this.watchers) {
      if (w.bookmarks)
        w.res.write(line({ type: "BOOKMARK", object: { kind: "Pod", metadata: { resourceVersion: rv } } }));
    }
    return rv;
  }

  /** Forgets history: watches from an older resourceVersion get 410. */
  compact(): void {
    this.compactedBelow = this.rv;
  }

  /** Ends every open watch: cleanly (as a server-side timeout) or by resetting the connection. */
  dropWatches(how: "end" | "reset"): void {
    for (const w of this.watchers) {
      if (how === "end") w.res.end();
      else w.res.socket?.destroy();
    }
    this.watchers.clear();
  }

  /** Changes objects while no watch is open, so only a relist can notice. */
  currentRv(): string {
    return String(this.rv);
  }

  private record(type: string, object: KubeObject): void {
    this.log.push({ rv: this.rv, type, object });
    for (const w of this.watchers) w.res.write(line({ type, object }));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const query = Object.fromEntries(url.searchParams);
    const verb = query.watch === "true" ? "watch" : "list";
    this.requests.push({ verb, query });
    const failure = this.failures.shift();
    if (failure) return send(res, failure, status(failure, "InternalError", "injected failure"));
    if (verb === "list") return this.list(query, res);
    this.watch(query, res);
  }

  private list(query: Record<string, string>, res: http.ServerResponse): void {
    const limit = Number(query.limit ?? 0) || Infinity;
    let token = query.continue;
    let all: KubeObject[];
    if (token) {
      const snapshot = this.pagedSnapshots.get(token.split(":")[0]!);
      if (!snapshot) return send(res, 410, status(410, "Expired", "continue token expired"));
      all = snapshot;
    } else {
      all = [...this.objects.values()].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
      token = `${this.rv}:0`;
      this.pagedSnapshots.set(String(this.rv), all);
    }
    const [snapRv, offsetText] = token.split(":") as [string, string];
    const offset = Number(offsetText);
    const items = all.slice(offset, offset + limit).map((o) => stripTypeMeta(o));
    const more = offset + limit < all.length;
    send(res, 200, {
      apiVersion: "v1",
      kind: "PodList",
      metadata: { resourceVersion: snapRv, ...(more ? { continue: `${snapRv}:${offset + limit}` } : {}) },
      items,
    });
  }

  private watch(query: Record<string, string>, res: http.ServerResponse): void {
    const from = Number(query.resourceVersion);
    if (from < this.compactedBelow) {
      const gone = status(410, "Expired", `too old resource version: ${from}`);
      if (this.goneAs === "http") return send(res, 410, gone);
      res.writeHead(200, { "Content-Type": "application/json" });
      return void res.end(line({ type: "ERROR", object: gone }));
    }
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    if (this.endWatchesAtOnce) return void res.end();
    if (this.silent) return;
    for (const e of this.log) if (e.rv > from) res.write(line({ type: e.type, object: e.object }));
    const watcher = { res, bookmarks: query.allowWatchBookmarks === "true" };
    this.watchers.add(watcher);
    res.on("close", () => this.watchers.delete(watcher));
  }
}

const line = (e: unknown): string => JSON.stringify(e) + "\n";
const status = (code: number, reason: string, message: string) => ({
  kind: "Status",
  status: "Failure",
  code,
  reason,
  message,
});
function send(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}
function stripTypeMeta(o: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest as KubeObject;
}

/**
 * Real time, sped up 100×: the reflector's 0.8 s backoff takes 8 ms and a 31 s watchdog 310 ms,
 * while the HTTP exchanges stay real. Every sleep is recorded in virtual milliseconds.
 */
function fastClock(speedup = 100): Clock & { sleeps: number[] } {
  const realStart = Date.now();
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => realStart + (Date.now() - realStart) * speedup,
    sleep: (ms, signal) =>
      new Promise((resolve) => {
        sleeps.push(ms);
        if (signal?.aborted) return resolve();
        const timer = setTimeout(done, ms / speedup);
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        signal?.addEventListener("abort", done, { once: true });
      }),
  };
}

function kubeConfig(server: string): KubeConnection {
  return {
    via: "native",
    source: "test",
    context: "ctx",
    namespace: undefined,
    server,
    tls: { insecure: true },
    credentials: { type: "none" },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  opts: Partial<ReflectorOptions<KubeObject>> = {},
  prepare?: (s: FakeApiServer) => void,
  speedup = 100,
) {
  const server = await new FakeApiServer().start();
  prepare?.(server);
  const clock = fastClock(speedup);
  const store = new Store<KubeObject>();
  const events: StoreEvent[] = [];
  store.subscribe((e) => events.push(e));
  const client = createKubeClient(kubeConfig(server.url), { clock });
  const reflector = createReflector({ client, resource: Pods, store, clock, random: () => 0, ...opts });
  const ctl = new AbortController();
  const running = reflector.run(ctl.signal);
  cleanups.push(async () => {
    ctl.abort();
    await running;
    client.close();
    await server.stop();
  });
  return { server, store, events, clock, ctl, running };
}

const until = (check: () => void): Promise<void> => vi.waitFor(check, { timeout: 3000, interval: 5 });
const names = (store: Store<KubeObject>): string[] =>
  store
    .list()
    .map((o) => o.metadata.name ?? "")
    .sort();
const backoffSleeps = (clock: { sleeps: number[] }): number[] => clock.sleeps.filter((ms) => ms <= 30_000);

describe("reflector", () => {
  it("lists in pages, follows continue, then watches from the list's resourceVersion", async () => {
    const { server, store, events } = await setup({ pageSize: 2 }, (s) => {
      for (const n of ["a", "b", "c", "d", "e"]) s.put(n);
    });
    await until(() => expect(server.watches()).toHaveLength(1));
    expect(server.lists().map((r) => r.query)).toEqual([
      { limit: "2" },
      { limit: "2", continue: "105:2" },
      { limit: "2", continue: "105:4" },
    ]);
    expect(store.hasSynced()).toBe(true);
    expect(names(store)).toEqual(["a", "b", "c", "d", "e"]);
    expect(store.get("ns/a")).toMatchObject({ apiVersion: "v1", kind: "Pod" });
    expect(events.filter((e) => e.type === "resync")).toHaveLength(1);
    expect(server.watches()[0]?.query).toMatchObject({
      watch: "true",
      resourceVersion: "105",
      allowWatchBookmarks: "true",
      timeoutSeconds: "300",
    });
  });

  it("applies watched adds, modifications and deletes to the store", async () => {
    const { server, store, events } = await setup({}, (s) => s.put("a"));
    await until(() => expect(server.openWatches()).toBe(1));
    server.put("b");
    server.put("a", { spec: { v: 2 } });
    server.remove("b");
    await until(() => expect(store.get("ns/a")?.spec).toEqual({ v: 2 }));
    await until(() => expect(names(store)).toEqual(["a"]));
    expect(events.map((e) => e.type)).toEqual(["resync", "upsert", "upsert", "delete"]);
  });

  it("strips managedFields from listed and watched objects", async () => {
    const { server, store } = await setup({}, (s) => s.put("a"));
    await until(() => expect(server.openWatches()).toBe(1));
    server.put("b");
    await until(() => expect(store.get("ns/b")).toBeDefined());
    expect(store.get("ns/a")?.metadata).not.toHaveProperty("managedFields");
    expect(store.get("ns/b")?.metadata).not.toHaveProperty("managedFields");
  });

  it("bookmarks move the resume point; a clean end resumes the watch without relisting", async () => {
    const { server } = await setup({}, (s) => s.put("a"));
    await until(() => expect(server.openWatches()).toBe(1));
    const rv = server.bookmark();
    await until(() => expect(server.openWatches()).toBe(1));
    await new Promise((r) => setTimeout(r, 20)); // let the bookmark arrive
    server.dropWatches("end");
    await until(() => expect(server.watches()).toHaveLength(2));
    expect(server.watches()[1]?.query.resourceVersion).toBe(rv);
    expect(server.lists()).toHaveLength(1);
  });

  it("a dropped connection resumes from the last event's resourceVersion, without relisting", async () => {
    const { server, store, clock } = await setup({}, (s) => s.put("a"));
    await until(() => expect(server.openWatches()).toBe(1));
    server.put("b");
    await until(() => expect(store.get("ns/b")).toBeDefined());
    const rv = store.get("ns/b")?.metadata.resourceVersion;
    server.dropWatches("reset");
    await until(() => expect(server.watches()).toHaveLength(2));
    expect(server.watches()[1]?.query.resourceVersion).toBe(rv);
    expect(server.lists()).toHaveLength(1);
    expect(backoffSleeps(clock)).toEqual([800]);
  });

  it("HTTP 410 on watch relists and replaces the store", async () => {
    const { server, store, events } = await setup({}, (s) => {
      s.put("a");
      s.put("b");
    });
    await until(() => expect(server.openWatches()).toBe(1));
    server.dropWatches("end");
    server.remove("b"); // missed: no watch is open
    server.put("c");
    server.compact();
    await until(() => expect(server.lists()).toHaveLength(2));
    await until(() => expect(names(store)).toEqual(["a", "c"]));
    expect(events.map((e) => e.type)).toEqual(["resync", "delete", "resync"]);
    await until(() => expect(server.openWatches()).toBe(1));
    expect(server.watches().at(-1)?.query.resourceVersion).toBe(server.currentRv());
  });

  it("an ERROR event with code 410 relists", async () => {
    const { server, store } = await setup({}, (s) => {
      s.put("a");
      s.goneAs = "event";
    });
    await until(() => expect(server.openWatches()).toBe(1));
    server.dropWatches("end");
    server.put("b");
    server.compact();
    await until(() => expect(server.lists()).toHaveLength(2));
    await until(() => expect(names(store)).toEqual(["a", "b"]));
  });

  it("an expired continue token restarts the list from the first page", async () => {
    const { server, store } = await setup({ pageSize: 1 }, (s) => {
      s.put("a");
      s.put("b");
      s.failures = [0, 410]; // first page fine, second page: token expired
    });
    await until(() => expect(store.hasSynced()).toBe(true));
    expect(server.lists().map((r) => r.query.continue)).toEqual([undefined, "102:1", undefined, "102:1"]);
    expect(names(store)).toEqual(["a", "b"]);
  });

  it("backs off exponentially on errors, then recovers and resets the backoff", async () => {
    const { server, store, clock } = await setup({}, (s) => {
      s.put("a");
      s.failures = [500, 500, 503];
    });
    await until(() => expect(store.hasSynced()).toBe(true));
    expect(server.lists()).toHaveLength(4);
    expect(backoffSleeps(clock)).toEqual([800, 1600, 3200]);
    await until(() => expect(server.openWatches()).toBe(1));
    server.failures = [500];
    server.dropWatches("reset");
    await until(() => expect(server.openWatches()).toBe(1));
    // reset → 800 ms; the failed re-watch → 1600 ms; no relist.
    expect(backoffSleeps(clock)).toEqual([800, 1600, 3200, 800, 1600]);
    expect(server.lists()).toHaveLength(4);
  });

  it("caps the backoff at 30 s and jitters it downward", async () => {
    const random = vi.fn(() => 1);
    const { store, clock } = await setup({ random }, (s) => {
      s.failures = Array.from({ length: 8 }, () => 500);
    });
    await until(() => expect(store.hasSynced()).toBe(true));
    // random() = 1 takes the full 50 % jitter off each delay.
    expect(backoffSleeps(clock)).toEqual([400, 800, 1600, 3200, 6400, 12800, 15000, 15000]);
  });

  it("a watch ERROR event other than 410 retries the watch from the same resourceVersion", async () => {
    const { server, clock } = await setup({}, (s) => s.put("a"));
    await until(() => expect(server.openWatches()).toBe(1));
    const rv = server.watches()[0]?.query.resourceVersion;
    server.failures = [];
    // Push an ERROR event down the open watch.
    (server as unknown as { watchers: Set<{ res: http.ServerResponse }> }).watchers.forEach((w) =>
      w.res.write(line({ type: "ERROR", object: status(500, "InternalError", "boom") })),
    );
    await until(() => expect(server.watches()).toHaveLength(2));
    expect(server.watches()[1]?.query.resourceVersion).toBe(rv);
    expect(server.lists()).toHaveLength(1);
    expect(backoffSleeps(clock)).toEqual([800]);
  });

  it("the watchdog aborts a watch that stays silent past timeoutSeconds + 30 s, then resumes it", async () => {
    const { server, clock } = await setup({ minTimeoutSeconds: 1, maxTimeoutSeconds: 1 }, (s) => {
      s.put("a");
      s.silent = true;
    });
    await until(() => expect(server.watches()).toHaveLength(1));
    expect(server.watches()[0]?.query.timeoutSeconds).toBe("1");
    await until(() => expect(server.watches()).toHaveLength(2));
    expect(clock.sleeps).toContain(31_000);
    expect(server.watches()[1]?.query.resourceVersion).toBe(server.watches()[0]?.query.resourceVersion);
    expect(server.lists()).toHaveLength(1);
  });

  it("says how each watch ended: expired at its timeout, closed early, gone (410), failed", async () => {
    const ends: string[] = [];
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // 20× real time: a 20 s timeout is 1 s, "at once" (a failure) under 50 ms, the watchdog 2.5 s.
    const { server } = await setup(
      { minTimeoutSeconds: 20, maxTimeoutSeconds: 20, onWatchEnd: (e) => void ends.push(e) },
      (s) => s.put("a"),
      20,
    );
    await until(() => expect(server.openWatches()).toBe(1));
    await sleep(1_050);
    server.dropWatches("end"); // as the apiserver does at the timeout the watch asked for
    await until(() => expect(ends).toEqual(["expired"]));
    await until(() => expect(server.openWatches()).toBe(1));
    await sleep(200);
    server.dropWatches("end"); // sooner, with no error: an apiserver shutting down
    await until(() => expect(ends).toEqual(["expired", "closed"]));
    await until(() => expect(server.openWatches()).toBe(1));
    server.dropWatches("reset");
    await until(() => expect(ends).toEqual(["expired", "closed", "failed"]));
    await until(() => expect(server.openWatches()).toBe(1));
    await sleep(200);
    server.dropWatches("end");
    server.put("b"); // missed: the watch resumes from before it, compacted away
    server.compact();
    await until(() => expect(ends.slice(3, 5)).toEqual(["closed", "gone"]));
  });

  it("picks the server-side timeout within [min, max]", async () => {
    const { server } = await setup({ random: () => 0.9999, minTimeoutSeconds: 300, maxTimeoutSeconds: 600 });
    await until(() => expect(server.watches()).toHaveLength(1));
    expect(server.watches()[0]?.query.timeoutSeconds).toBe("600");
  });

  it("treats a watch that closes at once with no events as a failure (no hot loop)", async () => {
    // Only 10× faster: "at once" means under 1 virtual second, which must stay longer than a
    // loaded machine takes to answer.
    const { server, clock } = await setup({}, (s) => (s.endWatchesAtOnce = true), 10);
    await until(() => expect(server.watches().length).toBeGreaterThanOrEqual(3));
    expect(backoffSleeps(clock).slice(0, 2)).toEqual([800, 1600]);
    expect(server.lists()).toHaveLength(1);
  });

  it("keeps retrying an unreachable apiserver and returns only when aborted", async () => {
    const dead = await new FakeApiServer().start();
    await dead.stop();
    const clock = fastClock();
    const store = new Store<KubeObject>();
    const client = createKubeClient(kubeConfig(dead.url), { clock });
    const ctl = new AbortController();
    const running = createReflector({ client, resource: Pods, store, clock, random: () => 0 }).run(
      ctl.signal,
    );
    await until(() => expect(backoffSleeps(clock).length).toBeGreaterThanOrEqual(4));
    ctl.abort();
    await expect(running).resolves.toBeUndefined();
    expect(store.hasSynced()).toBe(false);
  });

  it("returns promptly when aborted mid-watch", async () => {
    const { server, ctl, running } = await setup({}, (s) => s.put("a"));
    await until(() => expect(server.openWatches()).toBe(1));
    ctl.abort();
    await expect(running).resolves.toBeUndefined();
    await until(() => expect(server.openWatches()).toBe(0));
  });

  it("filters by namespace and label selector", async () => {
    const { server } = await setup({ namespace: "ns", labelSelector: "app=web" });
    await until(() => expect(server.watches()).toHaveLength(1));
    expect(server.lists()[0]?.query).toMatchObject({ labelSelector: "app=web" });
    expect(server.lists()[0]?.query).not.toHaveProperty("fieldSelector");
    expect(server.watches()[0]?.query).toMatchObject({ labelSelector: "app=web" });
  });

  it("filters by field selector, on every list page, watch and relist", async () => {
    const fieldSelector = "metadata.name=a";
    const { server } = await setup({ fieldSelector, pageSize: 1 }, (s) => {
      s.put("a");
      s.put("b");
    });
    await until(() => expect(server.openWatches()).toBe(1));
    server.dropWatches("end");
    server.put("c");
    server.compact(); // the resumed watch gets 410: a relist, in pages
    await until(() => expect(server.lists()).toHaveLength(5));
    await until(() => expect(server.openWatches()).toBe(1));
    expect(server.watches().length).toBeGreaterThanOrEqual(3);
    for (const request of server.requests) expect(request.query).toMatchObject({ fieldSelector });
    expect(server.requests[0]?.query).not.toHaveProperty("labelSelector");
  });
});
