import { afterEach, describe, expect, it, vi } from "vitest";
import { ReleaseResource, SquadResource } from "../../api/kinds.js";
import type { ReleaseStatus } from "../../api/release.js";
import type { QueryResult } from "../../analysis/index.js";
import { createLogger } from "../../observability/logger.js";
import type { KubeClient } from "../../runtime/client.js";
import type { Controller, ControllerHost } from "../../runtime/controller.js";
import {
  ControllerRevisionResource,
  DeploymentResource,
  HTTPRouteResource,
  NamespaceResource,
  ServiceResource,
} from "../../runtime/resources.js";
import { Store } from "../../runtime/store.js";
import { systemClock, type KubeObject, type ReadStore, type Resource } from "../../runtime/types.js";
import { registerReleaseController } from "./controller.js";
import { ALLOWLIST, ERROR_RATE, R1, R2, spec, V2 } from "./test-fixtures.js";

const logger = createLogger({ level: "silent" });

describe("registerReleaseController", () => {
  const running: AbortController[] = [];
  afterEach(() => {
    for (const c of running.splice(0)) c.abort();
  });

  function host() {
    const informers = new Map<string, Store<KubeObject>>();
    const added: Controller[] = [];
    const h: ControllerHost = {
      clock: systemClock,
      logger,
      informer: <T extends KubeObject>(res: Resource) => {
        let store = informers.get(res.plural);
        if (!store) informers.set(res.plural, (store = new Store<KubeObject>()));
        return store as unknown as ReadStore<T>;
      },
      add: (c) => added.push(c),
    };
    return { h, informers, added };
  }

  it("watches what it needs (HTTPRoutes only with Gateway API) and reconciles when a measurement settles", async () => {
    const { h, informers, added } = host();
    const answers: ((r: QueryResult) => void)[] = [];
    const calls: string[] = [];
    const client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get"> = {
      apply: async <T extends KubeObject>(obj: T) => obj,
      delete: async () => true,
      get: async () => undefined,
      mergePatch: async <T extends KubeObject>(_r: Resource, name: string) => {
        calls.push(name);
        return { metadata: { name } } as T;
      },
    };
    const controller = registerReleaseController(h, {
      client,
      recorder: { record: async () => undefined },
      logger,
      workers: 1,
      allowlist: ALLOWLIST,
      providerFor: () => ({ query: () => new Promise((r) => answers.push(r)) }),
    });
    expect(added).toEqual([controller]);
    expect([...informers.keys()].sort()).toEqual(
      [
        ReleaseResource,
        DeploymentResource,
        ControllerRevisionResource,
        ServiceResource,
        NamespaceResource,
        SquadResource,
      ]
        .map((r) => r.plural)
        .sort(),
    );
    expect(informers.has(HTTPRouteResource.plural)).toBe(false);
    for (const s of informers.values()) s.replace([], "1");
    const stop = new AbortController();
    const cancel = new AbortController();
    running.push(stop, cancel);
    void controller.run({ stop: stop.signal, cancel: cancel.signal });

    // A Release in the middle of an analysis step: the reconcile starts a measurement.
    const status: ReleaseStatus = {
      phase: "Progressing",
      stableRevision: R1,
      stableVersion: "1",
      canaryRevision: R2,
      canaryVersion: "2",
      currentStepIndex: 1,
      stepStartedAt: new Date().toISOString(),
      analysis: { startedAt: new Date().toISOString(), step: 1, metrics: [] },
    };
    informers.get(ReleaseResource.plural)!.upsert({
      metadata: { name: "web", namespace: "shop", uid: "u", generation: 1, resourceVersion: "5" },
      spec: spec({
        template: V2,
        analysis: {
          metrics: [{ ...ERROR_RATE, prometheus: { ...ERROR_RATE.prometheus, address: "http://p:9090" } }],
        },
      }),
      status,
    });
    await vi.waitFor(() => expect(answers).toHaveLength(1));
    const before = calls.length;
    answers[0]?.({ kind: "value", value: 0 });
    // The settlement alone brings a reconcile, which records the measurement in status.
    await vi.waitFor(() => expect(calls.length).toBeGreaterThan(before));

    const withRoutes = host();
    registerReleaseController(withRoutes.h, {
      client,
      recorder: { record: async () => undefined },
      logger,
      gatewayAPI: true,
    });
    expect(withRoutes.informers.has(HTTPRouteResource.plural)).toBe(true);
  });

  it("can be closed for shutdown, more than once (the notification runner's close is tested on its own)", () => {
    const { h } = host();
    const controller = registerReleaseController(h, {
      client: {
        apply: async <T extends KubeObject>(obj: T) => obj,
        delete: async () => true,
        get: async () => undefined,
        mergePatch: async <T extends KubeObject>() => ({ metadata: {} }) as T,
      },
      recorder: { record: async () => undefined },
      logger,
      webhook: { send: async () => ({ kind: "delivered" }) },
    });
    expect(() => {
      controller.close();
      controller.close();
    }).not.toThrow();
  });
});
