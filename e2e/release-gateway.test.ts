/**
 * Release with Gateway API traffic routing, end to end: a real apiserver with the Gateway API
 * standard CRDs, so the operator watches HTTPRoutes (it decides that once, at start-up, from the
 * CRD). No Gateway implementation runs: the HTTPRoute is stored with a parentRef to a Gateway
 * that does not exist, and what is tested is what Crescendo owns, the backendRefs' weights. A
 * watch on the route records every weight it ever carries, so short-lived weights are seen too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import {
  DeploymentResource,
  HTTPRouteResource,
  NamespaceResource,
  ServiceResource,
} from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, testClient, waitFor } from "./support/kube.js";
import { OperatorProcess } from "./support/operator.js";

const FIELD_MANAGER = "e2e-release-gateway";
const NS = "rel-gateway";
const RELEASE = "shop";
const ROUTE = "shop-route";

let client: KubeClient;
let operator: OperatorProcess;
const context = () => operator.tail(60);

type Release = KubeObject & { status?: ReleaseStatus };
type BackendRef = { name: string; port?: number; weight?: number };
type Route = KubeObject & { spec?: { rules?: { backendRefs?: BackendRef[] }[] } };

function template(version: string): Record<string, unknown> {
  return {
    metadata: { labels: { app: RELEASE } },
    spec: { containers: [{ name: "app", image: `registry.example.com/${RELEASE}:${version}` }] },
  };
}

function releaseSpec(tpl: Record<string, unknown>, version: string): Record<string, unknown> {
  return {
    version,
    replicas: 4,
    template: tpl,
    service: { ports: [{ name: "http", port: 80 }] },
    strategy: {
      canary: {
        steps: [{ setWeight: 30 }, { pause: {} }, { setWeight: 60 }],
        trafficRouting: { gatewayAPI: { httpRoute: ROUTE } },
      },
    },
  };
}

async function applyRelease(tpl: Record<string, unknown>, version: string): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name: RELEASE, namespace: NS },
      spec: releaseSpec(tpl, version),
    },
    ReleaseResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

async function waitRelease(
  description: string,
  accept: (s: ReleaseStatus) => boolean,
): Promise<ReleaseStatus> {
  const release = await waitFor(
    `Release ${NS}/${RELEASE}: ${description}`,
    () => client.get<Release>(ReleaseResource, RELEASE, NS),
    (r) => r?.status !== undefined && accept(r.status),
    { timeoutMs: 90_000, context },
  );
  return release?.status ?? {};
}

async function annotate(action: string, id: string): Promise<void> {
  await client.mergePatch(ReleaseResource, RELEASE, NS, {
    metadata: { annotations: { "crescendo.dev/action": action, "crescendo.dev/action-id": id } },
  });
}

async function getRoute(): Promise<Route | undefined> {
  return client.get<Route>(HTTPRouteResource, ROUTE, NS);
}

/** `stable/canary` weights of the rule that references the Release's Services. */
function weightsOf(route: Route | undefined): string | undefined {
  const refs = route?.spec?.rules?.[0]?.backendRefs ?? [];
  const weight = (name: string) => refs.find((r) => r.name === name)?.weight ?? 1;
  return refs.length === 0 ? undefined : `${weight(`${RELEASE}-stable`)}/${weight(`${RELEASE}-canary`)}`;
}

async function stableRevision(): Promise<string | undefined> {
  const svc = await client.get<KubeObject & { spec: { selector: Record<string, string> } }>(
    ServiceResource,
    `${RELEASE}-stable`,
    NS,
  );
  return svc?.spec.selector["crescendo.dev/revision"];
}

/**
 * Watches the route from `resourceVersion` on and records its weights each time they change,
 * so the test can assert the whole sequence, not only what a poll happened to see.
 */
function recordWeights(resourceVersion: string): { seen: string[]; stop: () => void } {
  const seen: string[] = [];
  const abort = new AbortController();
  void (async () => {
    try {
      const events = client.watch<Route>(
        HTTPRouteResource,
        {
          namespace: NS,
          fieldSelector: `metadata.name=${ROUTE}`,
          resourceVersion,
          allowWatchBookmarks: false,
          timeoutSeconds: 600,
        },
        abort.signal,
      );
      for await (const event of events) {
        if (event.type !== "ADDED" && event.type !== "MODIFIED") continue;
        const weights = weightsOf(event.object);
        if (weights !== undefined && weights !== seen.at(-1)) seen.push(weights);
      }
    } catch (err) {
      if (!abort.signal.aborted) seen.push(`watch failed: ${String(err)}`);
    }
  })();
  return { seen, stop: () => abort.abort() };
}

async function waitWeights(description: string, want: string): Promise<void> {
  await waitFor(
    `HTTPRoute ${NS}/${ROUTE} at ${want} (${description})`,
    getRoute,
    (r) => weightsOf(r) === want,
    {
      timeoutMs: 60_000,
      context,
    },
  );
}

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "release-gateway" });
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

describe("Gateway API traffic routing", () => {
  it("weights the HTTPRoute step by step, then all on the promoted revision; abort puts it back at once", async () => {
    await client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }, NamespaceResource, {
      fieldManager: FIELD_MANAGER,
      force: true,
    });
    const created = await client.apply<KubeObject>(
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: ROUTE, namespace: NS },
        spec: {
          // No such Gateway: the route is stored all the same, and only its weights matter here.
          parentRefs: [{ name: "no-such-gateway" }],
          hostnames: ["shop.example.com"],
          rules: [
            {
              backendRefs: [
                { name: `${RELEASE}-stable`, port: 80, weight: 100 },
                { name: `${RELEASE}-canary`, port: 80, weight: 0 },
              ],
            },
          ],
        },
      },
      HTTPRouteResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );
    const weights = recordWeights(created.metadata.resourceVersion ?? "0");
    try {
      const v1 = template("1");
      const v2 = template("2");
      const [r1, r2] = [revisionOf(v1), revisionOf(v2)];
      await applyRelease(v1, "1.0.0");
      await waitRelease("Healthy at 1.0.0", (s) => s.phase === "Healthy" && s.stableRevision === r1);
      expect(weightsOf(await getRoute())).toBe("100/0");

      // setWeight 30, then held by the pause step. The canary weight in status is read from the
      // route as the HTTPRoute informer holds it.
      await applyRelease(v2, "2.0.0");
      await waitWeights("setWeight 30", "70/30");
      let status = await waitRelease("held by the pause step", (s) => s.pauseReason === "PauseStep");
      expect(status).toMatchObject({
        canaryRevision: r2,
        currentStepIndex: 1,
        desiredWeight: 30,
        canaryWeight: 30,
      });
      expect(weightsOf(await getRoute())).toBe("70/30");

      // Someone edits the weights during the pause. A pause without duration requeues nothing,
      // so only the HTTPRoute watch (mapped to the Release naming the route) can bring the
      // reconcile that restores them.
      await client.mergePatch(HTTPRouteResource, ROUTE, NS, {
        spec: {
          rules: [
            {
              backendRefs: [
                { name: `${RELEASE}-stable`, port: 80, weight: 50 },
                { name: `${RELEASE}-canary`, port: 80, weight: 50 },
              ],
            },
          ],
        },
      });
      await waitWeights("restored after an edit", "70/30");
      status = (await client.get<Release>(ReleaseResource, RELEASE, NS))?.status ?? {};
      expect(status).toMatchObject({ phase: "Paused", pauseReason: "PauseStep", currentStepIndex: 1 });

      // promote: setWeight 60, then the scale-up and the promotion, all on stable again.
      await annotate("promote", "p1");
      status = await waitRelease("promoted", (s) => s.phase === "Healthy" && s.stableRevision === r2);
      expect(status.history?.[0]).toMatchObject({ revision: r2, outcome: "Promoted" });
      expect(weightsOf(await getRoute())).toBe("100/0");
      expect(await stableRevision()).toBe(r2);
      await waitFor(
        "the weights seen through the rollout",
        async () => weights.seen,
        (seen) => seen.at(-1) === "100/0" && seen.length >= 6,
        { timeoutMs: 10_000, context },
      );
      // Traffic only ever moved as the steps say: never more than asked, never backwards.
      expect(weights.seen).toEqual(["100/0", "70/30", "50/50", "70/30", "40/60", "100/0"]);

      // A rollback moves all traffic back in the reconcile that decides it: by the time the
      // status says RolledBack, the route already carries no canary traffic.
      const v3 = template("3");
      const r3 = revisionOf(v3);
      await applyRelease(v3, "3.0.0");
      await waitRelease(
        "3.0.0 held by the pause step",
        (s) => s.pauseReason === "PauseStep" && s.canaryRevision === r3,
      );
      expect(weightsOf(await getRoute())).toBe("70/30");
      await annotate("abort", "a1");
      status = await waitRelease("rolled back", (s) => s.phase === "RolledBack");
      expect(weightsOf(await getRoute())).toBe("100/0");
      expect(status).toMatchObject({ stableRevision: r2, canaryRevision: r3, canaryWeight: 0 });
      expect(status.conditions?.find((c) => c.type === "RolledBack")?.reason).toBe("Aborted");
      expect(await stableRevision()).toBe(r2);
      await waitFor(
        "the aborted canary at zero replicas",
        () =>
          client.get<KubeObject & { spec: { replicas: number } }>(DeploymentResource, `${RELEASE}-${r3}`, NS),
        (d) => d?.spec.replicas === 0,
        { context },
      );
      expect(weights.seen.slice(-3)).toEqual(["100/0", "70/30", "100/0"]);
    } finally {
      weights.stop();
    }
  });
});
