/**
 * Crescendo under `bench:rollback`: Releases with a `setWeight: 50`, `pause: {}` canary and a
 * background error-rate analysis (failureLimit 0), run by the compiled operator as the image runs
 * it. Done when the Release's `<release>` Service selects the stable revision and the canary
 * Deployment has zero replicas.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ReleaseResource } from "../../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../../operator/src/api/release.js";
import { DeploymentResource, ServiceResource } from "../../operator/src/runtime/resources.js";
import type { KubeObject } from "../../operator/src/runtime/types.js";
import { cpuSeconds, ROOT } from "./cluster.js";
import { Operator } from "./operator.js";
import {
  errorRateQuery,
  MAX_ERROR_RATE,
  objectName,
  podTemplate,
  type RollbackSetup,
  type RollbackSubject,
  type Stores,
} from "./rollback-subject.js";

type Release = KubeObject & { spec?: { version?: string }; status?: ReleaseStatus };

export class CrescendoSubject implements RollbackSubject {
  readonly name = "crescendo";
  readonly version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string })
    .version;
  readonly resources = [ReleaseResource, DeploymentResource, ServiceResource];
  private op: Operator | undefined;

  constructor(
    /** The compiled entry point (hack/bench/operator.ts buildOperator); undefined runs tsx. */
    private readonly entry: string | undefined,
    private readonly nodeOptions: string,
  ) {}

  async start(setup: RollbackSetup): Promise<void> {
    this.op = await Operator.start({
      kubeconfig: setup.cluster.kubeconfig,
      args: ["--allowed-prometheus-addresses", setup.prometheusUrl],
      logFile: setup.logFile,
      entry: this.entry,
      nodeOptions: this.nodeOptions,
    });
    await this.op.waitReady(120_000);
  }

  async stop(): Promise<void> {
    await this.op?.stop();
  }

  alive(): boolean {
    return this.op?.alive ?? false;
  }

  cpuSeconds(): number {
    return this.op ? (cpuSeconds(this.op.pid) ?? 0) : 0;
  }

  async apply(setup: RollbackSetup, i: number, version: string): Promise<void> {
    const name = objectName(i);
    const release = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name, namespace: setup.namespace },
      spec: {
        version,
        replicas: 1,
        template: podTemplate("rb", version),
        service: { ports: [{ name: "http", port: 80, targetPort: "http" }] },
        strategy: {
          canary: {
            steps: [{ setWeight: 50 }, { pause: {} }],
            backgroundAnalysis: { metrics: ["error-rate"] },
          },
        },
        analysis: {
          interval: `${setup.intervalSeconds}s`,
          metrics: [
            {
              name: "error-rate",
              // {{version}}: the simulator labels series by version (see rollback-subject.ts).
              prometheus: {
                address: setup.prometheusUrl,
                query: errorRateQuery("{{namespace}}", name, "{{version}}"),
              },
              thresholdRange: { max: MAX_ERROR_RATE },
              failureLimit: 0,
            },
          ],
        },
        rollback: { onFailure: "Rollback", scaleDownDelaySeconds: 0 },
      },
    };
    await setup.cluster.client.apply(release, ReleaseResource, {
      fieldManager: "crescendo-bench",
      force: true,
    });
  }

  private release(stores: Stores, namespace: string, i: number): Release | undefined {
    return stores.get("Release")?.get(`${namespace}/${objectName(i)}`) as Release | undefined;
  }

  stableAt(stores: Stores, namespace: string, i: number, version: string): boolean {
    const s = this.release(stores, namespace, i)?.status;
    return s?.phase === "Healthy" && s.stableVersion === version && (s.scaleDown ?? []).length === 0;
  }

  holding(stores: Stores, namespace: string, i: number, version: string): boolean {
    const s = this.release(stores, namespace, i)?.status;
    return (
      s?.phase === "Paused" &&
      s.pauseReason === "PauseStep" &&
      s.canaryVersion === version &&
      (s.backgroundAnalysis?.metrics ?? []).some((m) => m.successful > 0)
    );
  }

  decided(stores: Stores, namespace: string, i: number): boolean {
    return this.release(stores, namespace, i)?.status?.phase === "RolledBack";
  }

  actedOn(stores: Stores, namespace: string, i: number): boolean {
    const s = this.release(stores, namespace, i)?.status;
    if (!s?.canaryRevision || !s.stableRevision) return false;
    const name = objectName(i);
    const canary = stores.get("Deployment")?.get(`${namespace}/${name}-${s.canaryRevision}`) as
      (KubeObject & { spec?: { replicas?: number }; status?: { replicas?: number } }) | undefined;
    const service = stores.get("Service")?.get(`${namespace}/${name}`) as
      (KubeObject & { spec?: { selector?: Record<string, string> } }) | undefined;
    const canaryAtZero =
      canary === undefined || (canary.spec?.replicas === 0 && !(canary.status?.replicas ?? 0));
    return canaryAtZero && service?.spec?.selector?.["crescendo.dev/revision"] === s.stableRevision;
  }
}
