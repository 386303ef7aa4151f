/**
 * `npm run demo`: with no cluster at hand, starts the local control plane, Prometheus,
 * Alertmanager and the operator, then shows a Squad, a Release rolling out a healthy version step
 * by step, `kubectl crescendo undo` returning to the previous revision, a bad version rolled back
 * automatically, a promoted version reverted by post-promotion verification when its error rate
 * rises afterwards, and an alert (Prometheus → Alertmanager → the operator's receiver) reverting
 * a change whose error rate rises after its verification window, recorded as an incident.
 * `--keep` leaves everything running for kubectl.
 */
import { parseArgs } from "node:util";
import type { IncidentRecord } from "../operator/src/api/incident.js";
import { ReleaseResource, SquadResource, type Release, type Squad } from "../operator/src/api/kinds.js";
import { releaseTemplate } from "../operator/src/api/raw-spec.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import { createKubeClient, type KubeClient } from "../operator/src/runtime/client.js";
import { loadKubeConfig } from "../operator/src/runtime/kubeconfig.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { OperatorProcess } from "../e2e/support/operator.js";
import { demoAlerting, type DemoAlerting } from "./demo/alerting.js";
import { kubectlWithPlugin, type Kubectl } from "./demo/plugin.js";
import { startLocalEnvironment } from "./local-env.js";

const NAMESPACE = "demo";
/** The post-promotion window: room for 3 measurements 1 s apart and then some, short enough to wait out. */
const VERIFY_FOR = "10s";
const { values: flags } = parseArgs({ options: { keep: { type: "boolean" } } });
const say = (message: string) => console.log(`\x1b[1m==>\x1b[0m ${message}`);
const indent = (text: string) => console.log(text.trimEnd().replace(/^/gm, "    "));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
          // After promotion the new revision is measured under full traffic for the window, the
          // previous one kept warm beside it: a regression reverts in one write.
          postPromotion: { duration: VERIFY_FOR, analysis: ["error-rate"] },
        },
      },
      analysis: {
        interval: "1s",
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

/** The squad's alert rule: any revision of a Release in the namespace answering over 5 % errors. */
const ALERT_RULE = {
  alert: "DemoErrorRateHigh",
  expr:
    `sum by (namespace, release, revision) (rate(http_requests_total{namespace="${NAMESPACE}",code="500"}[5s]))` +
    ` / sum by (namespace, release, revision) (rate(http_requests_total{namespace="${NAMESPACE}"}[5s])) > 0.05`,
  // The receiver maps an alert to its squad by `namespace`, and to the Release by this label.
  labels: { severity: "page", crescendo_release: "{{ $labels.release }}" },
};

/** Prints a line each time the Release's phase, step, weight or window changes, until `done`. */
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
    const verify = s.postPromotion ? ` verify=${s.postPromotion.result}` : "";
    const override = s.override ? ` override=${s.override.version ?? s.override.revision}` : "";
    const line = `phase=${s.phase ?? "-"} step=${s.currentStepIndex ?? "-"} weight=${s.canaryWeight ?? 0}% stable=${s.stableVersion ?? "-"} canary=${s.canaryVersion ?? "-"}${verify}${override}${s.message ? `  (${s.message})` : ""}`;
    if (line !== last) console.log(`    ${new Date().toISOString().slice(11, 19)}  ${line}`);
    last = line;
    if (rel && done(rel)) return rel;
    if (Date.now() > deadline) throw new Error(`the demo Release did not get there in ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** Polls the Squad's newest incident until `done` (undefined if it is not there in time). */
async function incident(
  client: KubeClient,
  done: (i: IncidentRecord) => boolean,
  timeoutMs: number,
): Promise<IncidentRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const latest = (await client.get<Squad>(SquadResource, "demo"))?.status?.incidents?.[0];
    if (latest && done(latest)) return latest;
    if (Date.now() > deadline) return undefined;
    await sleep(250);
  }
}

/** Runs a kubectl command as a user would type it, and prints it and its output. */
async function show(kubectl: Kubectl, args: string[]): Promise<void> {
  console.log(`    $ kubectl ${args.join(" ")}`);
  indent(await kubectl.run(args));
}

async function main(): Promise<void> {
  const env = await startLocalEnvironment((m) => say(m));
  let operator: OperatorProcess | undefined;
  const client = createKubeClient(loadKubeConfig({ path: env.kubeconfig }));
  let alerting: DemoAlerting | undefined;
  let kubectl: Kubectl | undefined;
  // The metrics simulator stands in for each version's pods: what they serve, by revision.
  const serve = (version: string, behaviour: { errorRate?: number; rps?: number }) =>
    env.simulator.set(
      { namespace: NAMESPACE, release: "web", revision: revisionOf(releaseTemplate(release(version, ""))) },
      behaviour,
    );
  const rollOut = async (version: string, errorRate: number) => {
    serve(version, { errorRate, rps: 100 });
    await client.apply(release(version, env.prometheusUrl), ReleaseResource, {
      fieldManager: "demo",
      force: true,
    });
  };
  try {
    alerting = await demoAlerting({ url: env.prometheusUrl, dir: env.prometheusDir }, say);
    say("starting the operator (npm start, as a child process), serving its Alertmanager receiver");
    operator = await OperatorProcess.start({
      kubeconfig: env.kubeconfig,
      name: "demo",
      env: { LOG_LEVEL: "warn" },
      allowPrometheus: [env.prometheusUrl],
      args: alerting.operatorArgs,
    });
    say("starting Alertmanager (hack/alertmanager/up), notifying the operator with a bearer token");
    const alertmanager = await alerting.start().then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err.message.split("\n")[0] : String(err)),
    );
    kubectl = await kubectlWithPlugin(env.kubectl, env.kubeconfig);

    say(`creating Squad "demo" (owns namespace "${NAMESPACE}"; a paging alert reverts its latest change)`);
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name: "demo" },
        spec: {
          tribe: "platform",
          incidentResponse: {
            correlationWindow: "30m",
            actions: [{ match: { labels: { severity: "page" } }, do: "Revert" }],
          },
        },
      },
      SquadResource,
      { fieldManager: "demo", force: true },
    );
    for (;;) {
      const squad = await client.get<Squad>(SquadResource, "demo");
      if (squad?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) break;
      await sleep(250);
    }

    say("first Release web 1.0.0: no stable revision yet, so it deploys directly");
    await rollOut("1.0.0", 0.0);
    await follow(client, (r) => r.status?.phase === "Healthy");

    say(
      `web 1.1.0 with a 1% error rate: canary 20% → analysis → 50% → pause → promoted, then verified for ${VERIFY_FOR} under full traffic`,
    );
    await rollOut("1.1.0", 0.01);
    await follow(client, (r) => r.status?.phase === "Healthy" && r.status.stableVersion === "1.1.0");

    say("suppose on-call wants 1.0.0 back now: `kubectl crescendo undo` skips steps and analysis");
    await show(kubectl, ["crescendo", "undo", "web", "-n", NAMESPACE, "--wait"]);
    serve("1.1.0", { rps: 0 }); // its pods are scaled down
    await show(kubectl, ["get", "releases", "-n", NAMESPACE]);
    say("spec.template still says 1.1.0, as Git wrote it: OVERRIDE names the revision running instead");

    say(
      "web 1.2.0 with a 30% error rate (a new template ends the override): analysis fails and Crescendo rolls back on its own",
    );
    await rollOut("1.2.0", 0.3);
    const rolledBack = await follow(client, (r) => r.status?.phase === "RolledBack");
    serve("1.2.0", { rps: 0 });
    const reason = rolledBack.status?.conditions?.find((c) => c.type === "Ready")?.message;
    say(`rolled back: ${reason ?? rolledBack.status?.message ?? ""}`);

    say(
      "web 1.3.0, healthy while it rolls out (1%): promoted, then its error rate rises to 30% under full traffic",
    );
    await rollOut("1.3.0", 0.01);
    await follow(
      client,
      (r) => r.status?.stableVersion === "1.3.0" && r.status.postPromotion?.result === "Verifying",
    );
    serve("1.3.0", { errorRate: 0.3 });
    const reverted = await follow(client, (r) => r.status?.phase === "Reverted");
    serve("1.3.0", { rps: 0 });
    const why = reverted.status?.conditions?.find((c) => c.type === "Reverted")?.message;
    say(`reverted by post-promotion analysis: ${why ?? reverted.status?.message ?? ""}`);

    if (alertmanager !== undefined) {
      say(
        `no alert-driven incident: Alertmanager did not start (${alertmanager}); see docs/incidents.md, or run it in e2e/incidents.test.ts`,
      );
    } else {
      say(
        `web 1.4.0, healthy (1%): promoted and verified for ${VERIFY_FOR}, its previous revision then scaled down`,
      );
      await rollOut("1.4.0", 0.01);
      await follow(
        client,
        (r) => r.status?.stableVersion === "1.4.0" && r.status.postPromotion?.result === "Verified",
      );
      say(
        `later, 1.4.0's error rate rises to 30%; the squad's alert rule fires (${ALERT_RULE.alert}, severity=page), Alertmanager tells Crescendo, and Squad demo's incidentResponse reverts the latest change`,
      );
      await alerting.loadRules("demo", [ALERT_RULE]);
      serve("1.4.0", { errorRate: 0.3 });
      const raised = Date.now();
      await follow(client, (r) => r.status?.phase === "Healthy" && r.status.override !== undefined);
      const acted = await incident(
        client,
        (i) => i.actions.some((a) => a.do === "Revert" && a.state !== "Requested"),
        30_000,
      );
      const revert = acted?.actions.find((a) => a.do === "Revert");
      say(
        `incident ${acted?.id ?? "?"}: ${revert?.do ?? ""} ${revert?.target ?? ""} ${revert?.state ?? ""} (${revert?.result ?? ""}), ${((Date.now() - raised) / 1000).toFixed(1)} s after the error rate rose`,
      );
      serve("1.4.0", { rps: 0 }); // its pods are scaled down: the alert resolves
      say("the alert resolves once 1.4.0 no longer serves; the incident records the recovery time");
      await incident(client, (i) => i.resolvedAt !== undefined, 60_000);
      await show(kubectl, ["crescendo", "incidents", "demo"]);
      await show(kubectl, ["get", "releases", "-n", NAMESPACE]);
    }

    const last = await client.get<Release>(ReleaseResource, "web", NAMESPACE);
    say("history (raw data for DORA metrics):");
    for (const h of last?.status?.history ?? [])
      console.log(`    ${h.version}  ${h.outcome}  ${h.reason ?? ""}`);

    if (flags.keep) {
      say(
        `everything keeps running; try:\n    export KUBECONFIG=${env.kubeconfig} PATH=${kubectl.pluginDir}:$PATH\n    ${env.kubectl} get crescendo -A\n    ${env.kubectl} crescendo status web -n ${NAMESPACE}\nCtrl-C stops it all.`,
      );
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    }
  } finally {
    await operator?.stop();
    await alerting?.stop();
    await kubectl?.stop();
    client.close();
    await env.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
