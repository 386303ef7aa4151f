import { afterEach, describe, expect, it, vi } from "vitest";
import { FeatureToggleResource, ReleaseResource } from "../../api/kinds.js";
import { ApiError } from "../../runtime/client.js";
import { ConfigMapResource, NamespaceResource } from "../../runtime/resources.js";
import type { Store } from "../../runtime/store.js";
import type { EventInput } from "../../runtime/events.js";
import type { KubeObject, Resource } from "../../runtime/types.js";
import { inMemoryHost } from "../in-memory-host.test-support.js";
import { registerFeatureToggleController } from "./controller.js";
import { flagDocumentsFrom } from "./documents.js";
import { fakeClient, logger, namespace, release, toggle } from "./test-fixtures.js";

describe("registerFeatureToggleController", () => {
  const running: AbortController[] = [];
  afterEach(() => {
    for (const c of running.splice(0)) c.abort();
  });

  it("reconciles a namespace on a guard Release's phase change only, not on every write of it", async () => {
    const { host, informers, added } = inMemoryHost(logger);
    const { client, calls } = fakeClient();
    const flags = flagDocumentsFrom(host);
    const controller = registerFeatureToggleController(host, {
      client,
      recorder: { record: async () => {} },
      logger,
      workers: 1,
      flags,
    });
    expect(added).toEqual([controller]);
    const storeOf = (res: Resource) => informers.get(res.plural) as Store<KubeObject>;
    for (const s of informers.values()) s.replace([], "1");
    storeOf(NamespaceResource).upsert(namespace("shop"));
    storeOf(NamespaceResource).upsert(namespace("other"));
    storeOf(FeatureToggleResource).upsert(toggle("guarded", { guard: { release: "web" } }));
    const releases = storeOf(ReleaseResource);
    releases.upsert(release("web", "Progressing", "shop", "1"));
    releases.upsert(release("api", "Progressing", "other", "1"));

    const stop = new AbortController();
    const cancel = new AbortController();
    running.push(stop, cancel);
    void controller.run({ stop: stop.signal, cancel: cancel.signal });
    // The ConfigMap informer stays empty, so every reconcile of "shop" applies it: count those.
    const reconciles = () =>
      calls.filter((c) => c.verb === "apply" && c.kind === ConfigMapResource.kind && c.namespace === "shop")
        .length;
    await vi.waitFor(() => expect(reconciles()).toBeGreaterThan(0));
    await new Promise((r) => setTimeout(r, 30));
    const before = reconciles();

    // Weight steps and measurements of the guard, and any write of an unguarded Release: nothing.
    for (let rv = 2; rv < 7; rv++) {
      releases.upsert({
        ...release("web", "Progressing", "shop", `${rv}`),
        status: { phase: "Progressing", canaryWeight: rv * 10 },
      });
      releases.upsert(release("api", rv % 2 === 0 ? "Healthy" : "Progressing", "other", `${rv}`));
    }
    await new Promise((r) => setTimeout(r, 30));
    expect(reconciles()).toBe(before);

    // The rollback: one reconcile, and OFREP serves the kill at once.
    releases.upsert(release("web", "RolledBack", "shop", "7"));
    expect(flags.document("shop")?.doc.flags["guarded"]?.metadata).toEqual({
      crescendoEffectiveState: "KilledByRollback",
    });
    await vi.waitFor(() => expect(reconciles()).toBe(before + 1));
  });

  it("reports a flags ConfigMap the apiserver refuses as Stalled on every toggle of its namespace, through the runtime", async () => {
    const { host, informers } = inMemoryHost(logger);
    const { client: base } = fakeClient();
    const refused = new ApiError(
      422,
      "Invalid",
      'ConfigMap "crescendo-flags" is invalid: metadata.labels: Invalid value: "two words": a valid label must be an empty string or consist of alphanumeric characters',
      { kind: "ConfigMap", name: "crescendo-flags" },
      undefined,
      "PATCH /api/v1/namespaces/shop/configmaps/crescendo-flags",
    );
    const storeOf = (res: Resource) => informers.get(res.plural) as Store<KubeObject>;
    const patches: { name: string; patch: unknown }[] = [];
    let version = 100;
    const client: typeof base = {
      ...base,
      apply: async (obj, res, opts) => {
        if (res.kind === ConfigMapResource.kind && obj.metadata.namespace === "shop") throw refused;
        return base.apply(obj, res, opts);
      },
      mergePatch: async <T extends KubeObject>(
        res: Resource,
        name: string,
        ns: string | undefined,
        patch: unknown,
        opts?: { subresource?: string },
      ) => {
        if (res.kind === FeatureToggleResource.kind && opts?.subresource === "status") {
          patches.push({ name, patch });
          // The watch brings the written status back into the cache, as the apiserver would.
          const cached = storeOf(FeatureToggleResource).get(`${ns}/${name}`);
          if (cached)
            storeOf(FeatureToggleResource).upsert({
              ...cached,
              metadata: { ...cached.metadata, resourceVersion: `${++version}` },
              status: { ...(cached as { status?: object }).status, ...(patch as { status: object }).status },
            } as KubeObject);
        }
        return base.mergePatch<T>(res, name, ns, patch, opts);
      },
    };
    const events: (EventInput & { name: string })[] = [];
    const controller = registerFeatureToggleController(host, {
      client,
      recorder: { record: async (obj, e) => void events.push({ ...e, name: obj.metadata.name ?? "" }) },
      logger,
      workers: 1,
      flags: flagDocumentsFrom(host),
    });
    for (const s of informers.values()) s.replace([], "1");
    storeOf(NamespaceResource).upsert(namespace("shop"));
    storeOf(NamespaceResource).upsert(namespace("other"));
    storeOf(FeatureToggleResource).upsert(toggle("banner"));
    storeOf(FeatureToggleResource).upsert(toggle("checkout"));
    storeOf(FeatureToggleResource).upsert(toggle("elsewhere", {}, { namespace: "other" }));

    const stop = new AbortController();
    const cancel = new AbortController();
    running.push(stop, cancel);
    void controller.run({ stop: stop.signal, cancel: cancel.signal });

    const stalledOf = (name: string) =>
      (
        storeOf(FeatureToggleResource).get(`shop/${name}`) as { status?: { conditions?: { type: string }[] } }
      )?.status?.conditions?.find((c) => c.type === "Stalled");
    await vi.waitFor(() => {
      expect(stalledOf("banner")).toMatchObject({ status: "True", reason: "ChildRejected" });
      expect(stalledOf("checkout")).toMatchObject({ status: "True", reason: "ChildRejected" });
    }, 5000);
    expect(stalledOf("banner")).toMatchObject({
      message: expect.stringContaining("metadata.labels: Invalid value"),
      observedGeneration: 1,
    });
    const warnings = events.filter((e) => e.reason === "ChildRejected");
    expect(warnings.map((e) => e.name).sort()).toEqual(["banner", "checkout"]);
    expect(warnings.every((e) => e.type === "Warning" && e.note.includes("ConfigMap"))).toBe(true);
    // The namespace whose ConfigMap was written hears of nothing.
    expect(
      patches.some((p) => p.name === "elsewhere" && JSON.stringify(p.patch).includes("ChildRejected")),
    ).toBe(false);
  });
});
