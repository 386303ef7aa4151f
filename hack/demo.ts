/**
 * `npm run demo`: with no cluster at hand, starts the local control plane, Prometheus and the
 * operator, then shows a Squad, a Release rolling out a healthy version step by step, and a
 * bad version rolled back automatically. `--keep` leaves everything running for kubectl.
 */
import { parseArgs } from "node:util";
import { ReleaseResource, SquadResource, type Release } from "../operator/src/api/kinds.js";
import { releaseTemplate } from "../operator/src/api/raw-spec.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import { createKubeClient, type KubeClient } from "../operator/src/runtime/client.js";
import { loadKubeConfig } from "../operator/src/runtime/kubeconfig.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { OperatorProcess } from "../e2e/support/operator.js";
import { startLocalEnvironment, type LocalEnvironment } from "./local-env.js";

const NAMESPACE = "demo";
const { values: flags } = parseArgs({ options: { keep: { type: "boolean" } } });
const say = (message: string) => console.log(`\x1b[1m==>\x1b[0m ${message}`);

function template(version: string) {
  return {
    metadata: { labels: { app: "web" } },
    spec: { containers: [{ name: "web", image: `registry.example.com/demo/web:${version}` }] },
  };
}

function release(version: string, prometheusUrl: string): KubeObject {
  return {
    apiVersion: "crescendo.dev/v1alpha1",
    kind: "Release",
    metadata: { name: "web", namespace: NAMESPACE },
    spec: {
      version,
      replicas: 4,
      template: template(version),
      service: { ports: [{ name: "http", port: 80 }] },
      strategy: {
        canary: {
          steps: [{ setWeight: 20 }, { analysis: {} }, { setWeight: 50 }, { pause: { duration: "5s" } }],
        },
      },
      analysis: {
        interval: "2s",
        metrics: [
          {
            name: "error-rate",
            prometheus: {
              address: prometheusUrl,
              query:
                'sum(rate(http_requests_total{namespace="{{namespace}}",revision="{{revision}}",code="500"}[10s])) / sum(rate(http_requests_total{namespace="{{namespace}}",revision="{{revision}}"}[10s]))',
            },
            thresholdRange: { max: 0.05 },
            minSamples: 3,
          },
        ],
      },
      rollback: { scaleDownDelaySeconds: 5 },
    },
  };
}

/** Prints a line each time the Release's phase, step or weight changes, until `done`. */
async function follow(
  client: KubeClient,
  done: (r: Release) => boolean,
  timeoutMs = 180_000,
): Promise<Release> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const rel = await client.get<Release>(ReleaseResource, "web", NAMESPACE);
    const s = rel?.status ?? {};
    const line = `phase=${s.phase ?? "-"} step=${s.currentStepIndex ?? "-"} weight=${s.canaryWeight ?? 0}% stable=${s.stableVersion ?? "-"} canary=${s.canaryVersion ?? "-"}${s.message ? `  (${s.message})` : ""}`;
    if (line !== last) console.log(`    ${new Date().toISOString().slice(11, 19)}  ${line}`);
    last = line;
    if (rel && done(rel)) return rel;
    if (Date.now() > deadline) throw new Error(`the demo Release did not get there in ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function rollOut(env: LocalEnvironment, client: KubeClient, version: string, errorRate: number) {
  const rel = release(version, env.prometheusUrl);
  const revision = revisionOf(releaseTemplate(rel));
  env.simulator.set({ namespace: NAMESPACE, release: "web", revision }, { errorRate, rps: 100 });
  await client.apply(rel, ReleaseResource, { fieldManager: "demo", force: true });
  return revision;
}

async function main(): Promise<void> {
  const env = await startLocalEnvironment((m) => say(m));
  let operator: OperatorProcess | undefined;
  const client = createKubeClient(loadKubeConfig({ path: env.kubeconfig }));
  try {
    say("starting the operator (npm start, as a child process)");
    operator = await OperatorProcess.start({
      kubeconfig: env.kubeconfig,
      name: "demo",
      env: { LOG_LEVEL: "warn" },
      allowPrometheus: [env.prometheusUrl],
    });

    say(`creating Squad "demo" (owns namespace "${NAMESPACE}")`);
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name: "demo" },
        spec: { tribe: "platform" },
      },
      SquadResource,
      { fieldManager: "demo", force: true },
    );
    for (;;) {
      const squad = await client.get<KubeObject>(SquadResource, "demo");
      const ready = (squad?.status as { conditions?: { type: string; status: string }[] })?.conditions;
      if (ready?.some((c) => c.type === "Ready" && c.status === "True")) break;
      await new Promise((r) => setTimeout(r, 250));
    }

    say("first Release web 1.0.0: no stable revision yet, so it deploys directly");
    await rollOut(env, client, "1.0.0", 0.0);
    await follow(client, (r) => r.status?.phase === "Healthy");

    say("web 1.1.0 with a 1% error rate: canary 20% → analysis → 50% → pause → promoted");
    await rollOut(env, client, "1.1.0", 0.01);
    await follow(client, (r) => r.status?.phase === "Healthy" && r.status.stableVersion === "1.1.0");

    say("web 1.2.0 with a 30% error rate: analysis fails and Crescendo rolls back on its own");
    await rollOut(env, client, "1.2.0", 0.3);
    const rolledBack = await follow(client, (r) => r.status?.phase === "RolledBack");
    const reason = rolledBack.status?.conditions?.find((c) => c.type === "Ready")?.message;
    say(`rolled back: ${reason ?? rolledBack.status?.message ?? ""}`);
    say("history (raw data for DORA metrics):");
    for (const h of rolledBack.status?.history ?? [])
      console.log(`    ${h.version}  ${h.outcome}  ${h.reason ?? ""}`);

    if (flags.keep) {
      say(
        `everything keeps running; try:\n    export KUBECONFIG=${env.kubeconfig}\n    ${env.kubectl} get crescendo -A\nCtrl-C stops it all.`,
      );
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    }
  } finally {
    await operator?.stop();
    client.close();
    await env.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
