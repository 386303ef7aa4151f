/**
 * Argo Rollouts under `bench:rollback`: Rollouts with the same `setWeight: 50`, `pause: {}`
 * canary and a background analysis (an AnalysisTemplate with the same Prometheus query, interval
 * and no failure tolerated). Basic canary (no traffic router): traffic follows the pods behind the
 * application's Service, so the action is done when the canary ReplicaSet is at zero pods and the
 * stable one is available.
 */
import type { KubeObject } from "../../operator/src/runtime/types.js";
import {
  AnalysisRunResource,
  AnalysisTemplateResource,
  ArgoRolloutsController,
  buildArgoRollouts,
  installArgoRolloutsCrds,
  ReplicaSetResource,
  RolloutResource,
  type ArgoRolloutsBuild,
} from "./argo-rollouts-controller.js";
import type { Cluster } from "./cluster.js";
import {
  errorRateQuery,
  MAX_ERROR_RATE,
  objectName,
  podTemplate,
  type RollbackSetup,
  type RollbackSubject,
  type Stores,
} from "./rollback-subject.js";

interface RolloutStatus {
  /** The generation this status is about, as a string. */
  observedGeneration?: string;
  phase?: string;
  currentPodHash?: string;
  stableRS?: string;
  currentStepIndex?: number;
  pauseConditions?: { reason: string }[];
  abort?: boolean;
}
type Rollout = KubeObject & {
  spec?: { template?: { spec?: { containers?: { image?: string }[] } } };
  status?: RolloutStatus;
};
type AnalysisRun = KubeObject & { status?: { phase?: string; metricResults?: { successful?: number }[] } };
type ReplicaSet = KubeObject & {
  spec?: { replicas?: number };
  status?: { replicas?: number; availableReplicas?: number };
};

const HASH_LABEL = "rollouts-pod-template-hash";
const TEMPLATE = "error-rate";

export class ArgoRolloutsSubject implements RollbackSubject {
  readonly name = "argo-rollouts";
  readonly resources = [RolloutResource, AnalysisRunResource, ReplicaSetResource];
  private controller: ArgoRolloutsController | undefined;

  private constructor(private readonly build: ArgoRolloutsBuild) {}

  get version(): string {
    return this.build.version;
  }

  static async prepare(): Promise<ArgoRolloutsSubject> {
    console.log("[setup] building the argo-rollouts controller (hack/bench/argo-rollouts/build; cached)");
    return new ArgoRolloutsSubject(await buildArgoRollouts());
  }

  async install(cluster: Cluster): Promise<void> {
    await installArgoRolloutsCrds(cluster.client, this.build);
  }

  async start(setup: RollbackSetup): Promise<void> {
    const template = {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "AnalysisTemplate",
      metadata: { name: TEMPLATE, namespace: setup.namespace },
      spec: {
        args: [{ name: "namespace" }, { name: "release" }, { name: "version" }],
        metrics: [
          {
            name: "error-rate",
            interval: `${setup.intervalSeconds}s`,
            failureLimit: 0,
            successCondition: `result[0] <= ${MAX_ERROR_RATE}`,
            provider: {
              prometheus: {
                address: setup.prometheusUrl,
                query: errorRateQuery("{{args.namespace}}", "{{args.release}}", "{{args.version}}"),
              },
            },
          },
        ],
      },
    };
    await setup.cluster.client.apply(template, AnalysisTemplateResource, {
      fieldManager: "crescendo-bench",
      force: true,
    });
    this.controller = await ArgoRolloutsController.start(this.build, setup.cluster.kubeconfig, setup.logFile);
  }

  async stop(): Promise<void> {
    await this.controller?.stop();
  }

  alive(): boolean {
    return this.controller?.alive ?? false;
  }

  cpuSeconds(): number {
    return this.controller?.cpuSeconds() ?? 0;
  }

  async apply(setup: RollbackSetup, i: number, version: string): Promise<void> {
    const name = objectName(i);
    const template = podTemplate("rb", version) as { metadata: { labels: Record<string, string> } };
    template.metadata.labels["rollout"] = name;
    const rollout = {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Rollout",
      metadata: { name, namespace: setup.namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "rb", rollout: name } },
        template,
        strategy: {
          canary: {
            steps: [{ setWeight: 50 }, { pause: {} }],
            analysis: {
              templates: [{ templateName: TEMPLATE }],
              args: [
                { name: "namespace", value: setup.namespace },
                { name: "release", value: name },
                { name: "version", value: version },
              ],
            },
          },
        },
      },
    };
    await setup.cluster.client.apply(rollout, RolloutResource, {
      fieldManager: "crescendo-bench",
      force: true,
    });
  }

  private rollout(stores: Stores, namespace: string, i: number): Rollout | undefined {
    return stores.get("Rollout")?.get(`${namespace}/${objectName(i)}`) as Rollout | undefined;
  }

  private runsOf(stores: Stores, namespace: string, i: number): AnalysisRun[] {
    const name = objectName(i);
    return (stores.get("AnalysisRun")?.list(namespace) ?? []).filter((r) =>
      (r.metadata.ownerReferences ?? []).some((o) => o.kind === "Rollout" && o.name === name),
    ) as AnalysisRun[];
  }

  private replicaSet(stores: Stores, namespace: string, i: number, hash: string): ReplicaSet | undefined {
    return (stores.get("ReplicaSet")?.list(namespace) ?? []).find(
      (rs) => rs.metadata.labels?.[HASH_LABEL] === hash && rs.metadata.labels?.["rollout"] === objectName(i),
    ) as ReplicaSet | undefined;
  }

  /** Runs `version`, in a status that has seen the latest spec. */
  private runs(r: Rollout | undefined, version: string): boolean {
    return (
      (r?.spec?.template?.spec?.containers?.[0]?.image ?? "").endsWith(`:${version}`) &&
      r?.status?.observedGeneration === String(r?.metadata.generation)
    );
  }

  stableAt(stores: Stores, namespace: string, i: number, version: string): boolean {
    const r = this.rollout(stores, namespace, i);
    const s = r?.status;
    return this.runs(r, version) && s?.phase === "Healthy" && !!s.stableRS && s.stableRS === s.currentPodHash;
  }

  holding(stores: Stores, namespace: string, i: number, version: string): boolean {
    const r = this.rollout(stores, namespace, i);
    const s = r?.status;
    return (
      this.runs(r, version) &&
      s?.stableRS !== s?.currentPodHash &&
      (s?.pauseConditions ?? []).some((p) => p.reason === "CanaryPauseStep") &&
      this.runsOf(stores, namespace, i).some(
        (run) => run.status?.phase === "Running" && (run.status.metricResults?.[0]?.successful ?? 0) > 0,
      )
    );
  }

  decided(stores: Stores, namespace: string, i: number): boolean {
    return this.runsOf(stores, namespace, i).some((run) => run.status?.phase === "Failed");
  }

  actedOn(stores: Stores, namespace: string, i: number): boolean {
    const s = this.rollout(stores, namespace, i)?.status;
    if (!s?.currentPodHash || !s.stableRS || s.currentPodHash === s.stableRS) return false;
    const canary = this.replicaSet(stores, namespace, i, s.currentPodHash);
    const stable = this.replicaSet(stores, namespace, i, s.stableRS);
    const canaryAtZero =
      canary === undefined || (canary.spec?.replicas === 0 && !(canary.status?.replicas ?? 0));
    return canaryAtZero && (stable?.status?.availableReplicas ?? 0) >= 1;
  }
}
