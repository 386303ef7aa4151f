import { describe, expect, it } from "vitest";
import { ReleaseResource } from "../../api/kinds.js";
import { ApiError, type KubeClient, type WatchOptions } from "../../runtime/client.js";
import type { KubeObject, WatchEvent } from "../../runtime/types.js";
import { CliError } from "../errors.js";
import { follow } from "./follow.js";

const obj = (rv: string, phase: string): KubeObject => ({
  metadata: { name: "web", namespace: "shop", resourceVersion: rv },
  status: { phase },
});

/** A client whose successive watch calls play the given scripts; list answers with `listed`. */
function scripted(scripts: (WatchEvent | Error)[][], listed: KubeObject[] = []) {
  const calls: WatchOptions[] = [];
  const client = {
    watch(_res: unknown, opts: WatchOptions) {
      calls.push(opts);
      const script = scripts.shift() ?? [];
      return (async function* () {
        for (const step of script) {
          if (step instanceof Error) throw step;
          yield step;
        }
      })();
    },
    async list() {
      return { items: listed, metadata: { resourceVersion: "500" } };
    },
  } as unknown as KubeClient;
  return { client, calls };
}

const api = (status: number) => new ApiError(status, "x", `status ${status}`, undefined, {}, "watch");

describe("follow", () => {
  it("resumes from the last resourceVersion when a watch ends, bookmarks included", async () => {
    const { client, calls } = scripted([
      [{ type: "MODIFIED", object: obj("11", "Progressing") }],
      [{ type: "BOOKMARK", object: { metadata: { resourceVersion: "15" } } }],
      [{ type: "MODIFIED", object: obj("20", "Healthy") }],
    ]);
    const seen: unknown[] = [];
    await follow({
      client,
      resource: ReleaseResource,
      name: "web",
      namespace: "shop",
      resourceVersion: "10",
      signal: new AbortController().signal,
      onChange: (o) => {
        seen.push(o?.status);
        return (o?.status as { phase: string }).phase === "Healthy";
      },
    });
    expect(seen).toEqual([{ phase: "Progressing" }, { phase: "Healthy" }]);
    expect(calls.map((c) => c.resourceVersion)).toEqual(["10", "11", "15"]);
    expect(calls[0]).toMatchObject({ fieldSelector: "metadata.name=web", allowWatchBookmarks: true });
  });

  it.each([
    ["an HTTP 410", api(410)],
    [
      "an ERROR event with code 410",
      { type: "ERROR", object: { code: 410, reason: "Expired" } } as WatchEvent,
    ],
  ])("relists after %s and reports the current state", async (_name, gone) => {
    const { client, calls } = scripted(
      [[gone], [{ type: "DELETED", object: obj("600", "Healthy") }]],
      [obj("499", "Paused")],
    );
    const seen: unknown[] = [];
    await follow({
      client,
      resource: ReleaseResource,
      name: "web",
      namespace: "shop",
      resourceVersion: "10",
      signal: new AbortController().signal,
      onChange: (o) => {
        seen.push(o?.status);
        return o === undefined;
      },
    });
    expect(seen).toEqual([{ phase: "Paused" }, undefined]);
    expect(calls[1]?.resourceVersion).toBe("500");
  });

  it("retries other failures with growing delays", async () => {
    const { client } = scripted([
      [new Error("socket hang up")],
      [api(500)],
      [{ type: "MODIFIED", object: obj("11", "Healthy") }],
    ]);
    const delays: number[] = [];
    const retried: string[] = [];
    await follow({
      client,
      resource: ReleaseResource,
      name: "web",
      resourceVersion: "10",
      signal: new AbortController().signal,
      onChange: () => true,
      onRetry: (err) => retried.push((err as Error).message),
      sleep: async (ms) => void delays.push(ms),
    });
    expect(retried).toEqual(["socket hang up", "status 500"]);
    expect(delays).toEqual([1000, 2000]);
  });

  it("ends with an explained error when the watch is refused", async () => {
    const { client } = scripted([[api(403)]]);
    const run = follow({
      client,
      resource: ReleaseResource,
      name: "web",
      namespace: "shop",
      resourceVersion: "10",
      signal: new AbortController().signal,
      onChange: () => true,
    });
    await expect(run).rejects.toThrow(CliError);
    await expect(run).rejects.toThrow("you may not watch releases in namespace shop (forbidden)");
  });

  it("returns quietly once aborted", async () => {
    const stop = new AbortController();
    const { client } = scripted([[new Error("boom")]]);
    await follow({
      client,
      resource: ReleaseResource,
      name: "web",
      resourceVersion: "10",
      signal: stop.signal,
      onChange: () => true,
      sleep: async () => stop.abort(),
    });
    expect(stop.signal.aborted).toBe(true);
  });
});
