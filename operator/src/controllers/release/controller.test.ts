import { afterEach, describe, expect, it, vi } from "vitest";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../../api/kinds.js";
import type { ReleaseStatus } from "../../api/release.js";
import type { QueryResult } from "../../analysis/index.js";
import { createLogger } from "../../observability/logger.js";
import { ApiError, type KubeClient } from "../../runtime/client.js";
import { inMemoryHost } from "../in-memory-host.test-support.js";
import {
  ControllerRevisionResource,
  DeploymentResource,
  HTTPRouteResource,
  NamespaceResource,
  ServiceResource,
} from "../../runtime/resources.js";
import type { EventInput } from "../../runtime/events.js";
import type { Store } from "../../runtime/store.js";
import type { KubeObject, Resource } from "../../runtime/types.js";
import { registerReleaseController } from "./controller.js";
import { ALLOWLIST, ERROR_RATE, R1, R2, spec, V2 } from "./test-fixtures.js";

const logger = createLogger({ level: "silent" });

describe("registerReleaseController", () => {
  const running: AbortController[] = [];
  afterEach(() => {
    for (const c of running.splice(0)) c.abort();
  });

  function host() {
    const { host: h, informers, added } = inMemoryHost(logger);
    return { h, informers, added };
  }

  it("watches what it needs (HTTPRoutes only with Gateway API) and reconciles when a measurement settles", async () => {
    const { h, informers, added } = host();
    const answers: ((r: QueryResult) => void)[] = [];
    const calls: string[] = [];
    const client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get" | "list"> = {
      apply: async <T extends KubeObject>(obj: T) => obj,
      delete: async () => true,
      get: async () => undefined,
      list: async () => ({ items: [], metadata: { resourceVersion: "1" } }),
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
        FeatureToggleResource,
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
        list: async () => ({ items: [], metadata: { resourceVersion: "1" } }),
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

  it("reports a Deployment the apiserver refuses as Stalled on the Release, through the runtime", async () => {
    const { h, informers } = host();
    const storeOf = (res: Resource) => informers.get(res.plural) as Store<KubeObject>;
    const refused = new ApiError(
      422,
      "Invalid",
      'Deployment.apps "web-abc" is invalid: spec.template.spec.containers[0].image: Required value',
      { kind: "Deployment", name: "web-abc" },
      undefined,
      "PATCH /apis/apps/v1/namespaces/shop/deployments/web-abc",
    );
    let version = 100;
    const client: Pick<KubeClient, "apply" | "delete" | "mergePatch" | "get" | "list"> = {
      list: async () => ({ items: [], metadata: { resourceVersion: "1" } }),
      apply: async <T extends KubeObject>(obj: T, res: Resource) => {
        if (res.kind === DeploymentResource.kind) throw refused;
        return obj;
      },
      delete: async () => true,
      get: async () => undefined,
      mergePatch: async <T extends KubeObject>(
        res: Resource,
        name: string,
        ns: string | undefined,
        patch: unknown,
        opts?: { subresource?: string },
      ) => {
        const cached = storeOf(res).get(`${ns}/${name}`);
        if (res.kind === ReleaseResource.kind && opts?.subresource === "status" && cached) {
          // The watch brings the written status back into the cache, as the apiserver would.
          const status = (patch as { status: object }).status;
          storeOf(res).upsert({
            ...cached,
            metadata: { ...cached.metadata, resourceVersion: `${++version}` },
            status: { ...(cached as { status?: object }).status, ...status },
          } as KubeObject);
        }
        return (cached ?? { metadata: { name } }) as T;
      },
    };
    const events: EventInput[] = [];
    const controller = registerReleaseController(h, {
      client,
      recorder: { record: async (_obj, e) => void events.push(e) },
      logger,
      workers: 1,
      allowlist: ALLOWLIST,
    });
    for (const s of informers.values()) s.replace([], "1");
    const stop = new AbortController();
    const cancel = new AbortController();
    running.push(stop, cancel);
    void controller.run({ stop: stop.signal, cancel: cancel.signal });

    // A new Release: no status yet, and its first Deployment is refused.
    storeOf(ReleaseResource).upsert({
      metadata: { name: "web", namespace: "shop", uid: "u", generation: 1, resourceVersion: "5" },
      spec: spec({ analysis: undefined }),
    });
    const conditionOf = (type: string) =>
      (
        storeOf(ReleaseResource).get("shop/web") as {
          status?: { conditions?: { type: string; status: string }[] };
        }
      )?.status?.conditions?.find((c) => c.type === type);
    await vi.waitFor(
      () => expect(conditionOf("Stalled")).toMatchObject({ status: "True", reason: "ChildRejected" }),
      { timeout: 5000 },
    );
    expect(conditionOf("Stalled")).toMatchObject({
      message: expect.stringContaining("spec.template.spec.containers[0].image: Required value"),
      observedGeneration: 1,
    });
    expect(conditionOf("Ready")).toMatchObject({ status: "False", reason: "ChildRejected" });
    expect(events.filter((e) => e.reason === "ChildRejected")).toEqual([
      expect.objectContaining({ type: "Warning", note: expect.stringContaining("Deployment") }),
    ]);
  });
});
