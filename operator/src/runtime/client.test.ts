import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  ApiError,
  createKubeClient,
  isConflict,
  isGone,
  isNotFound,
  resourcePath,
  type KubeClientOptions,
  type RequestInfo,
} from "./client.js";
import type { KubeConnection } from "./kubeconfig.js";
import type { Clock, KubeObject, Resource, WatchEvent } from "./types.js";

const Pods: Resource = { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true };
const Deployments: Resource = {
  group: "apps",
  version: "v1",
  kind: "Deployment",
  plural: "deployments",
  namespaced: true,
};
const Squads: Resource = {
  group: "crescendo.dev",
  version: "v1alpha1",
  kind: "Squad",
  plural: "squads",
  namespaced: false,
};

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (req: Seen, res: http.ServerResponse) => void;

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler) {
  const seen: Seen[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(r);
      handler(r, res);
    });
  });
  server.on("connection", () => connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, connections: () => connections };
}

function kubeConfig(server: string): KubeConnection {
  return {
    via: "native",
    source: "test",
    context: "ctx",
    namespace: undefined,
    server,
    tls: { insecure: true },
    credentials: { type: "token", token: "s3cret" },
  };
}

async function clientFor(handler: Handler, opts: KubeClientOptions = {}, prefix = "") {
  const srv = await serve(handler);
  const infos: RequestInfo[] = [];
  const client = createKubeClient(kubeConfig(srv.url + prefix), { onRequest: (i) => infos.push(i), ...opts });
  return { ...srv, client, infos };
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
};

const status = (code: number, reason: string, message: string) => ({
  kind: "Status",
  apiVersion: "v1",
  status: "Failure",
  code,
  reason,
  message,
  details: { name: "x" },
});

const cm = (name: string): KubeObject => ({ metadata: { name, namespace: "ns" }, data: { a: "1" } });

describe("resourcePath", () => {
  it("builds core, grouped, namespaced and cluster-scoped paths", () => {
    expect(resourcePath(Pods, "ns", "p")).toBe("/api/v1/namespaces/ns/pods/p");
    expect(resourcePath(Pods)).toBe("/api/v1/pods");
    expect(resourcePath(Deployments, "ns", "d", "status")).toBe(
      "/apis/apps/v1/namespaces/ns/deployments/d/status",
    );
    expect(resourcePath(Squads, "ignored", "s")).toBe("/apis/crescendo.dev/v1alpha1/squads/s");
  });
});

describe("KubeClient requests", () => {
  it("lists with selectors and paging, filling apiVersion and kind on items", async () => {
    const { client, seen } = await clientFor((_req, res) =>
      json(res, 200, {
        apiVersion: "apps/v1",
        kind: "DeploymentList",
        metadata: { resourceVersion: "42", continue: "tok2" },
        items: [{ metadata: { name: "d1" } }],
      }),
    );
    const list = await client.list(Deployments, {
      namespace: "ns",
      labelSelector: "app=web",
      limit: 500,
      continue: "tok1",
    });
    expect(seen[0]?.method).toBe("GET");
    const url = new URL(seen[0]!.url, "http://x");
    expect(url.pathname).toBe("/apis/apps/v1/namespaces/ns/deployments");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      labelSelector: "app=web",
      limit: "500",
      continue: "tok1",
    });
    expect(list.items).toEqual([{ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d1" } }]);
    expect(list.metadata).toEqual({ resourceVersion: "42", continue: "tok2" });
  });

  it("sends the kubeconfig's credentials, Accept and User-Agent", async () => {
    const { client, seen } = await clientFor((_req, res) => json(res, 200, { metadata: { name: "p" } }));
    await client.get(Pods, "p", "ns");
    expect(seen[0]?.headers.authorization).toBe("Bearer s3cret");
    expect(seen[0]?.headers.accept).toBe("application/json");
    expect(seen[0]?.headers["user-agent"]).toBe("crescendo");
  });

  it("honours a path prefix in the server URL", async () => {
    const { client, seen } = await clientFor(
      (_req, res) => json(res, 200, { metadata: {} }),
      {},
      "/k8s/clusters/c1",
    );
    await client.get(Squads, "s");
    expect(seen[0]?.url).toBe("/k8s/clusters/c1/apis/crescendo.dev/v1alpha1/squads/s");
  });

  it("get resolves undefined on 404 and decodes other failures into ApiError", async () => {
    const { client } = await clientFor((req, res) =>
      req.url.endsWith("/missing")
        ? json(res, 404, status(404, "NotFound", 'pods "missing" not found'))
        : json(res, 500, status(500, "InternalError", "etcd is sad")),
    );
    expect(await client.get(Pods, "missing", "ns")).toBeUndefined();
    const err = await client.get(Pods, "broken", "ns").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 500,
      reason: "InternalError",
      message: "etcd is sad",
      details: { name: "x" },
      request: "GET /api/v1/namespaces/ns/pods/broken",
    });
  });

  it("builds an ApiError from a non-Status body", async () => {
    const { client } = await clientFor((_req, res) => {
      res.writeHead(502);
      res.end("bad gateway");
    });
    const err = (await client.get(Pods, "p", "ns").catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(502);
    expect(err.reason).toBe("Bad Gateway");
    expect(err.body).toBe("bad gateway");
    expect(err.message).toContain("bad gateway");
  });

  it("server-side applies with the apply content type, field manager and force, filling apiVersion/kind", async () => {
    const { client, seen } = await clientFor((req, res) => json(res, 200, JSON.parse(req.body) as unknown));
    const out = await client.apply(
      cm("c"),
      { ...Pods, kind: "ConfigMap", plural: "configmaps" },
      {
        fieldManager: "crescendo",
        force: true,
      },
    );
    expect(seen[0]?.method).toBe("PATCH");
    expect(seen[0]?.url).toBe("/api/v1/namespaces/ns/configmaps/c?fieldManager=crescendo&force=true");
    expect(seen[0]?.headers["content-type"]).toBe("application/apply-patch+yaml");
    expect(JSON.parse(seen[0]!.body)).toEqual({ ...cm("c"), apiVersion: "v1", kind: "ConfigMap" });
    expect(out.kind).toBe("ConfigMap");
  });

  it("applies status on the /status subresource, without force unless asked", async () => {
    const { client, seen, infos } = await clientFor((req, res) =>
      json(res, 200, JSON.parse(req.body) as unknown),
    );
    await client.applyStatus({ metadata: { name: "s" }, status: { ready: true } }, Squads, {
      fieldManager: "crescendo",
    });
    expect(seen[0]?.url).toBe("/apis/crescendo.dev/v1alpha1/squads/s/status?fieldManager=crescendo");
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ apiVersion: "crescendo.dev/v1alpha1", kind: "Squad" });
    expect(infos[0]).toMatchObject({ verb: "patch", resource: "squads.crescendo.dev/status", code: "200" });
  });

  it("merge-patches, optionally on a subresource", async () => {
    const { client, seen } = await clientFor((_req, res) => json(res, 200, { metadata: { name: "d" } }));
    await client.mergePatch(Deployments, "d", "ns", { spec: { replicas: 2 } });
    await client.mergePatch(Deployments, "d", "ns", { status: {} }, { subresource: "status" });
    expect(seen[0]).toMatchObject({ method: "PATCH", url: "/apis/apps/v1/namespaces/ns/deployments/d" });
    expect(seen[0]?.headers["content-type"]).toBe("application/merge-patch+json");
    expect(JSON.parse(seen[0]!.body)).toEqual({ spec: { replicas: 2 } });
    expect(seen[1]?.url).toBe("/apis/apps/v1/namespaces/ns/deployments/d/status");
  });

  it("creates with POST to the collection and replaces with PUT; 409 is a conflict", async () => {
    const { client, seen } = await clientFor((req, res) =>
      req.method === "PUT"
        ? json(res, 409, status(409, "Conflict", "the object has been modified"))
        : json(res, 201, JSON.parse(req.body) as unknown),
    );
    const lease = { metadata: { name: "l", namespace: "ns", resourceVersion: "3" }, spec: {} };
    const Leases: Resource = {
      group: "coordination.k8s.io",
      version: "v1",
      kind: "Lease",
      plural: "leases",
      namespaced: true,
    };
    const created = await client.create(lease, Leases);
    expect(seen[0]).toMatchObject({
      method: "POST",
      url: "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
    });
    expect(created).toMatchObject({ apiVersion: "coordination.k8s.io/v1", kind: "Lease" });
    const err = await client.replace(lease, Leases).catch((e: unknown) => e);
    expect(seen[1]).toMatchObject({
      method: "PUT",
      url: "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
    });
    expect(isConflict(err)).toBe(true);
    expect(isNotFound(err)).toBe(false);
  });

  it("create accepts generateName (no name required)", async () => {
    const { client, seen } = await clientFor((req, res) => json(res, 201, JSON.parse(req.body) as unknown));
    await client.create({ metadata: { generateName: "x-", namespace: "ns" } } as KubeObject, Pods);
    expect(seen[0]?.url).toBe("/api/v1/namespaces/ns/pods");
  });

  it("deletes with a propagation policy; 404 resolves false", async () => {
    const { client, seen } = await clientFor((req, res) =>
      req.url.endsWith("/gone")
        ? json(res, 404, status(404, "NotFound", "gone"))
        : json(res, 200, status(200, "", "")),
    );
    expect(await client.delete(Deployments, "d", "ns", { propagationPolicy: "Foreground" })).toBe(true);
    expect(seen[0]?.method).toBe("DELETE");
    expect(JSON.parse(seen[0]!.body)).toEqual({
      apiVersion: "v1",
      kind: "DeleteOptions",
      propagationPolicy: "Foreground",
    });
    expect(await client.delete(Deployments, "gone", "ns")).toBe(false);
  });

  it("refuses a namespaced request without a namespace, before sending anything", async () => {
    const { client, seen } = await clientFor((_req, res) => json(res, 200, {}));
    await expect(client.get(Pods, "p")).rejects.toThrow(/namespace is required/);
    await expect(client.apply({ metadata: { name: "p" } }, Pods, { fieldManager: "m" })).rejects.toThrow(
      /namespace/,
    );
    await expect(
      client.apply({ metadata: { namespace: "ns" } }, Pods, { fieldManager: "m" }),
    ).rejects.toThrow(/name/);
    expect(seen).toHaveLength(0);
  });

  it("reuses one keep-alive connection across requests", async () => {
    const { client, connections } = await clientFor((_req, res) => json(res, 200, { metadata: {} }));
    for (let i = 0; i < 5; i++) await client.get(Squads, `s${i}`);
    expect(connections()).toBe(1);
    client.close();
  });
});

describe("KubeClient timeouts, aborts and metrics", () => {
  it("times out a request that gets no answer, reporting <error>", async () => {
    const { client, infos } = await clientFor(() => undefined, { timeoutMs: 50 });
    await expect(client.get(Pods, "p", "ns")).rejects.toThrow(/no response within 50 ms/);
    expect(infos).toEqual([
      {
        method: "GET",
        code: "<error>",
        resource: "pods",
        verb: "get",
        durationMs: expect.any(Number) as number,
        rateLimiterWaitMs: expect.any(Number) as number,
      },
    ]);
  });

  it("rejects with the caller's abort reason", async () => {
    const { client } = await clientFor(() => undefined);
    const ctl = new AbortController();
    const pending = client.list(Pods, {}, ctl.signal);
    setTimeout(() => ctl.abort(new Error("shutting down")), 20);
    await expect(pending).rejects.toThrow("shutting down");
  });

  it("reports each request once with code, method, verb and resource", async () => {
    const { client, infos } = await clientFor((req, res) =>
      req.method === "DELETE"
        ? json(res, 404, status(404, "NotFound", ""))
        : json(res, 200, { items: [], metadata: {} }),
    );
    await client.list(Deployments);
    await client.delete(Pods, "p", "ns");
    expect(infos.map(({ durationMs: _d, rateLimiterWaitMs: _w, ...rest }) => rest)).toEqual([
      { method: "GET", code: "200", resource: "deployments.apps", verb: "list" },
      { method: "DELETE", code: "404", resource: "pods", verb: "delete" },
    ]);
  });

  it("a throwing onRequest hook does not fail the request", async () => {
    const srv = await serve((_req, res) => json(res, 200, { metadata: { name: "s" } }));
    const client = createKubeClient(kubeConfig(srv.url), {
      onRequest: () => {
        throw new Error("metrics broke");
      },
    });
    expect(await client.get(Squads, "s")).toEqual({ metadata: { name: "s" } });
  });

  it("rate-limits every request but watches (qps/burst token bucket)", async () => {
    const sleeps: number[] = [];
    const frozen: Clock = { now: () => 0, sleep: async (ms) => void sleeps.push(ms) };
    const { client } = await clientFor(
      (req, res) => {
        if (req.url.includes("watch=true")) res.end();
        else json(res, 200, { metadata: { name: "s" } });
      },
      { qps: 2, burst: 2, clock: frozen },
    );
    for (let i = 0; i < 4; i++) await client.get(Squads, "s");
    expect(sleeps).toEqual([500, 1000]);
    const ctl = new AbortController();
    for await (const _ of client.watch(Squads, watchOpts, ctl.signal)) break;
    expect(sleeps).toHaveLength(2);
  });
});

const watchOpts = { resourceVersion: "10", allowWatchBookmarks: true, timeoutSeconds: 300 };

async function collect<T extends KubeObject>(it: AsyncIterable<WatchEvent<T>>): Promise<WatchEvent<T>[]> {
  const out: WatchEvent<T>[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe("KubeClient watch", () => {
  it("sends the watch parameters and decodes events split across chunks until the server closes", async () => {
    const lines = [
      JSON.stringify({
        type: "ADDED",
        object: { metadata: { name: "a", resourceVersion: "11" }, note: "héllo ✓" },
      }),
      JSON.stringify({ type: "BOOKMARK", object: { kind: "Pod", metadata: { resourceVersion: "12" } } }),
      JSON.stringify({ type: "DELETED", object: { apiVersion: "v1", kind: "Pod", metadata: { name: "a" } } }),
    ];
    const bytes = Buffer.from(lines.join("\n") + "\n");
    const { client, seen, infos } = await clientFor((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      // Split mid-line and mid-character to exercise the decoder.
      const cut = bytes.indexOf("✓") + 1;
      res.write(bytes.subarray(0, cut));
      setTimeout(() => res.end(bytes.subarray(cut)), 10);
    });
    const events = await collect(
      client.watch(
        Pods,
        { ...watchOpts, namespace: "ns", labelSelector: "a=b" },
        new AbortController().signal,
      ),
    );
    const url = new URL(seen[0]!.url, "http://x");
    expect(url.pathname).toBe("/api/v1/namespaces/ns/pods");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      watch: "true",
      resourceVersion: "10",
      allowWatchBookmarks: "true",
      timeoutSeconds: "300",
      labelSelector: "a=b",
    });
    expect(events.map((e) => e.type)).toEqual(["ADDED", "BOOKMARK", "DELETED"]);
    expect(events[0]).toEqual({
      type: "ADDED",
      object: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "a", resourceVersion: "11" },
        note: "héllo ✓",
      },
    });
    expect(infos[0]).toMatchObject({ verb: "watch", code: "200", method: "GET" });
  });

  it("throws a Gone ApiError on HTTP 410", async () => {
    const { client } = await clientFor((_req, res) =>
      json(res, 410, status(410, "Expired", "too old resource version")),
    );
    const err = await collect(client.watch(Pods, watchOpts, new AbortController().signal)).catch(
      (e: unknown) => e,
    );
    expect(isGone(err)).toBe(true);
    expect((err as ApiError).reason).toBe("Expired");
  });

  it("throws the abort reason when aborted mid-stream", async () => {
    const { client } = await clientFor((_req, res) => {
      res.writeHead(200);
      res.write(JSON.stringify({ type: "ADDED", object: { metadata: { name: "a" } } }) + "\n");
    });
    const ctl = new AbortController();
    const events: string[] = [];
    const done = (async () => {
      for await (const e of client.watch(Pods, watchOpts, ctl.signal)) {
        events.push(e.type);
        ctl.abort(new Error("watchdog"));
      }
    })();
    await expect(done).rejects.toThrow("watchdog");
    expect(events).toEqual(["ADDED"]);
  });

  it("throws when the connection drops mid-stream", async () => {
    const { client } = await clientFor((_req, res) => {
      res.writeHead(200);
      res.write(JSON.stringify({ type: "ADDED", object: { metadata: { name: "a" } } }) + "\n");
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const events: string[] = [];
    const done = (async () => {
      for await (const e of client.watch(Pods, watchOpts, new AbortController().signal)) events.push(e.type);
    })();
    await expect(done).rejects.toThrow();
    expect(events).toEqual(["ADDED"]);
  });

  it("rejects a malformed line", async () => {
    const { client } = await clientFor((_req, res) => res.end('{"type":"ADDED"}\n'));
    await expect(collect(client.watch(Pods, watchOpts, new AbortController().signal))).rejects.toThrow(
      /malformed watch event/,
    );
  });
});
