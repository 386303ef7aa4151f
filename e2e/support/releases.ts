/**
 * What the Release e2e tests do over and over: a namespace to work in, a Release applied and
 * waited on until its status says what the test expects, the pod template of `<app>:<version>`,
 * the error-rate analysis metric, and how the simulated pods of a revision behave.
 */
import { inject } from "vitest";
import { ReleaseResource } from "../../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../../operator/src/api/release.js";
import { revisionOf } from "../../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../../operator/src/runtime/client.js";
import { EventResource, NamespaceResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import { waitFor } from "./kube.js";
import { setRevisionBehaviour, type RevisionBehaviour } from "./metrics-simulator.js";

export type Release = KubeObject & { status?: ReleaseStatus };
export type ReleaseEvent = KubeObject & {
  reason?: string;
  type?: string;
  note?: string;
  regarding?: { name?: string };
};

/** The pod template of one container running `registry.example.com/<app>:<version>`. */
export function podTemplate(app: string, version: string): Record<string, unknown> {
  return {
    metadata: { labels: { app } },
    spec: { containers: [{ name: "app", image: `registry.example.com/${app}:${version}` }] },
  };
}

/** The condition `type` of a Release status, if it has one. */
export const condition = (s: ReleaseStatus, type: string) => s.conditions?.find((c) => c.type === type);

/** The series of the revision a query is about; the operator fills the template in. */
export const SELECTOR = 'namespace="{{namespace}}",release="{{release}}",revision="{{revision}}"';

/** Share of 500s over the last 10 s of the revision measured, failing above 5 %. */
export function errorRateMetric(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "error-rate",
    prometheus: {
      address: inject("prometheusUrl"),
      query:
        `sum(rate(http_requests_total{${SELECTOR},code="500"}[10s]))` +
        ` / sum(rate(http_requests_total{${SELECTOR}}[10s]))`,
    },
    interval: "2s",
    thresholdRange: { max: 0.05 },
    minSamples: 2,
    ...over,
  };
}

/**
 * Sets how the simulated pods of `template`'s revision of a Release behave: their error rate and
 * latency, as Prometheus sees them.
 */
export async function setPodBehaviour(
  namespace: string,
  release: string,
  template: unknown,
  behaviour: Partial<Pick<RevisionBehaviour, "errorRate" | "latencySeconds">>,
): Promise<void> {
  await setRevisionBehaviour(inject("simulatorAddress"), {
    namespace,
    release,
    revision: revisionOf(template),
    ...behaviour,
  });
}

export interface ReleaseHelperOptions {
  /** The client of the test file (a getter: it is created in beforeAll). */
  client: () => KubeClient;
  /** Field manager of the test file's server-side applies. */
  fieldManager: string;
  /** What a timed-out wait prints besides the Release (the operator's log tail). */
  context: () => string | Promise<string>;
  /** How long `waitRelease` waits unless told otherwise. */
  waitTimeoutMs: number;
}

/** The namespace and Release helpers of one test file, bound to its client and field manager. */
export function releaseHelpers(o: ReleaseHelperOptions) {
  const apply = { fieldManager: o.fieldManager, force: true };

  async function createNamespace(name: string): Promise<void> {
    await o
      .client()
      .apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } }, NamespaceResource, apply);
  }

  /** Server-side applies a Release (the whole spec: fields left out are removed, as with kubectl apply). */
  async function applyRelease(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    await o
      .client()
      .apply(
        { apiVersion: "crescendo.dev/v1alpha1", kind: "Release", metadata: { name, namespace }, spec },
        ReleaseResource,
        apply,
      );
  }

  function getRelease(namespace: string, name: string): Promise<Release | undefined> {
    return o.client().get<Release>(ReleaseResource, name, namespace);
  }

  /** Waits until the Release's status is accepted; returns that status. */
  async function waitRelease(
    namespace: string,
    name: string,
    description: string,
    accept: (status: ReleaseStatus) => boolean,
    timeoutMs = o.waitTimeoutMs,
  ): Promise<ReleaseStatus> {
    const release = await waitFor(
      `Release ${namespace}/${name}: ${description}`,
      () => getRelease(namespace, name),
      (r) => r?.status !== undefined && accept(r.status),
      { timeoutMs, context: o.context },
    );
    return release?.status ?? {};
  }

  /** The Events of the namespace about the object `name`. */
  async function eventsFor(namespace: string, name: string): Promise<ReleaseEvent[]> {
    const list = await o.client().list<ReleaseEvent>(EventResource, { namespace });
    return list.items.filter((e) => e.regarding?.name === name);
  }

  return { createNamespace, applyRelease, getRelease, waitRelease, eventsFor };
}
