import { afterEach, describe, expect, it, vi } from "vitest";
import { FeatureToggleResource, ReleaseResource } from "../../api/kinds.js";
import type { Controller, ControllerHost } from "../../runtime/controller.js";
import { ConfigMapResource, NamespaceResource } from "../../runtime/resources.js";
import { Store } from "../../runtime/store.js";
import { systemClock, type KubeObject, type ReadStore, type Resource } from "../../runtime/types.js";
import { registerFeatureToggleController } from "./controller.js";
import { flagDocumentsFrom } from "./documents.js";
import { fakeClient, logger, namespace, release, toggle } from "./test-fixtures.js";

describe("registerFeatureToggleController", () => {
  const running: AbortController[] = [];
  afterEach(() => {
    for (const c of running.splice(0)) c.abort();
  });

  it("reconciles a namespace on a guard Release's phase change only, not on every write of it", async () => {
    const informers = new Map<string, Store<KubeObject>>();
    const added: Controller[] = [];
    const host: ControllerHost = {
      clock: systemClock,
      logger,
      informer: <T extends KubeObject>(res: Resource) => {
        let s = informers.get(res.plural);
        if (!s) informers.set(res.plural, (s = new Store<KubeObject>()));
        return s as unknown as ReadStore<T>;
      },
      add: (c) => added.push(c),
    };
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
});
