/**
 * Guarded toggle rollouts end to end: the operator's real entry point ramps FeatureToggles
 * (`spec.rollout.steps`) while a test app evaluates them with the real OpenFeature server SDK and
 * OFREP provider, labels its request metrics by flag and variant with an OpenFeature hook, and a
 * real Prometheus scrapes it. The analysis judges the variant's users against the default
 * variant's: a healthy toggle reaches 100%, one whose "on" variant fails requests is returned to
 * its default at its first analysis step, and the squad's on-call is told exactly once, through a
 * loopback webhook receiver. A metric on an address the platform did not allow is never asked.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { OpenFeature } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { FeatureToggleResource, SquadResource } from "../operator/src/api/kinds.js";
import type { ToggleNotification, ToggleRolloutStatus } from "../operator/src/api/toggle-rollout.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { EventResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { serviceAccountToken } from "./support/ofrep.js";
import { freePort, OperatorProcess } from "./support/operator.js";
import { ToggleApp } from "./support/toggle-app.js";

const NS = "ramps-e2e";
let client: KubeClient;
let operator: OperatorProcess;
let app: ToggleApp;
let receiver: Server | undefined;
/** What the squad's on-call webhook received. */
const received: { headers: IncomingHttpHeaders; body: Record<string, unknown> }[] = [];
const context = () => operator.tail(80);

/** The squad's on-call webhook: a loopback receiver that records every POST. */
async function startReceiver(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push({ headers: req.headers, body: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(204).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${port}/hooks/ramps` };
}

type Toggle = KubeObject & {
  status?: {
    rollout?: ToggleRolloutStatus;
    notifications?: ToggleNotification[];
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};

/** The error ratio of a variant's requests; `{{variant}}` is the rollout variant, then the default. */
const ERROR_RATIO =
  '(sum(rate(app_requests_total{namespace="{{namespace}}",flag="{{flag}}",variant="{{variant}}",code="500"}[5s])) or vector(0))' +
  ' / sum(rate(app_requests_total{namespace="{{namespace}}",flag="{{flag}}",variant="{{variant}}"}[5s]))';

function rampYaml(name: string, address: string): string {
  return `apiVersion: crescendo.dev/v1alpha1
kind: FeatureToggle
metadata: { name: ${name}, namespace: ${NS} }
spec:
  variants: { "on": true, "off": false }
  defaultVariant: "off"
  rollout:
    variant: "on"
    steps:
    - setWeight: 1
    - pause: { duration: 2s }
    - setWeight: 5
    - analysis: {}
    - setWeight: 25
    - analysis: {}
    - setWeight: 50
    - pause: { duration: 1s }
    - setWeight: 100
    analysis:
      interval: 1s
      metrics:
      - name: error-rate
        prometheus:
          address: ${address}
          query: '${ERROR_RATIO}'
        compareToStable: { maxIncrease: 0.05 }
        minSamples: 2
        inconclusiveLimit: 20
`;
}

async function apply(yaml: string): Promise<void> {
  const result = await kubectl(["apply", "-f", "-"], { input: yaml });
  expect(result.code, result.stderr).toBe(0);
}

const getToggle = (name: string) => client.get<Toggle>(FeatureToggleResource, name, NS);
const condition = (t: Toggle | undefined, type: string) =>
  t?.status?.conditions?.find((c) => c.type === type);

async function events(name: string): Promise<{ type: string; reason: string; note: string }[]> {
  const list = await client.list<
    KubeObject & { type: string; reason: string; note: string; regarding: { name: string } }
  >(EventResource, { namespace: NS });
  return list.items.filter((e) => e.regarding.name === name);
}

/** Waits until the app's fresh observations of `flag` show everyone (at least 100 users) on `variant`. */
async function everyoneGets(flag: string, variant: string): Promise<void> {
  app.resetObservations();
  await waitFor(
    `every user of the app served ${flag}=${variant}`,
    () => Promise.resolve(app.share(flag, variant)),
    (s) => s.users >= 100 && s.share === 1,
    { timeoutMs: 60_000, context },
  );
}

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "featuretoggle-rollout" });
  const hook = await startReceiver();
  receiver = hook.server;
  await apply(`apiVersion: crescendo.dev/v1alpha1
kind: Squad
metadata: { name: ${NS} }
spec:
  oncall: { webhookSecretRef: { name: oncall-webhook }, channel: "#ramps" }
`);
  await waitForCondition(
    client,
    SquadResource,
    NS,
    undefined,
    { type: "Ready", status: "True" },
    { context },
  );
  await apply(`apiVersion: v1
kind: Secret
metadata: { name: oncall-webhook, namespace: ${NS} }
stringData: { url: "${hook.url}" }
`);
  app = new ToggleApp(NS, [
    { flag: "good-ramp" },
    // Every request on "on" fails: with a share of them, the few 5 % and 25 % users' requests
    // could all fall in the passing part (the app picks by a request counter) and the ramp finish.
    { flag: "bad-ramp", failing: { variant: "on", share: 1 } },
  ]);
  await app.start(operator.ofrepPort, await serviceAccountToken(client, NS), inject("prometheusTargetsDir"));
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await OpenFeature.close();
  await operator?.stop();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  client?.close();
});

describe("guarded toggle rollouts", () => {
  it("ramps a healthy toggle 1 -> 100% through its analyses, and records the completion", async () => {
    await apply(rampYaml("good-ramp", inject("prometheusUrl")));
    const shares = new Set<number>();
    const done = await waitFor(
      "FeatureToggle good-ramp ramp Completed",
      async () => {
        const t = await getToggle("good-ramp");
        if (t?.status?.rollout) shares.add(t.status.rollout.percentage);
        return t;
      },
      (t) => t?.status?.rollout?.phase === "Completed" || t?.status?.rollout?.phase === "RolledBack",
      { timeoutMs: 240_000, intervalMs: 250, context },
    );
    const rollout = done?.status?.rollout;
    expect(rollout, JSON.stringify(rollout)).toMatchObject({
      phase: "Completed",
      percentage: 100,
      variant: "on",
    });
    expect(Date.parse(rollout?.completedAt ?? "")).toBeGreaterThan(Date.parse(rollout?.startedAt ?? ""));
    // The last analysis passed on real measurements of both variants' users.
    expect(rollout?.analysis?.metrics[0]).toMatchObject({ name: "error-rate", failed: 0 });
    expect(rollout?.analysis?.metrics[0]?.successful).toBeGreaterThanOrEqual(2);
    expect(rollout?.analysis?.metrics[0]?.measurements.at(-1)).toHaveProperty("stableValue");
    // Seen on the way: the ramp went through intermediate shares, not straight to 100.
    expect(
      [...shares].some((s) => s > 0 && s < 100),
      [...shares].join(","),
    ).toBe(true);
    expect(condition(done, "Ready")).toMatchObject({ status: "True", reason: "Serving" });
    expect((await events("good-ramp")).map((e) => e.reason)).toEqual(
      expect.arrayContaining(["RolloutStarted", "RolloutStep", "RolloutCompleted"]),
    );
    await everyoneGets("good-ramp", "on");
  }, 300_000);

  it("returns a toggle whose variant fails requests to its default at the first failing step", async () => {
    await apply(rampYaml("bad-ramp", inject("prometheusUrl")));
    const done = await waitFor(
      "FeatureToggle bad-ramp ramp RolledBack",
      () => getToggle("bad-ramp"),
      (t) => t?.status?.rollout?.phase === "RolledBack" || t?.status?.rollout?.phase === "Completed",
      { timeoutMs: 240_000, intervalMs: 250, context },
    );
    const rollout = done?.status?.rollout;
    expect(rollout, JSON.stringify(rollout)).toMatchObject({
      phase: "RolledBack",
      percentage: 0,
      failedMetric: "error-rate",
    });
    // Back at the first failing step: an analysis step (index 3 after setWeight 5, or 5 after
    // 25 % when the few 5 % users had not yet produced an error in the rate window), never
    // past it, and the failing measurement is the analysis's last: the first failure ended it.
    expect([3, 5], JSON.stringify(rollout)).toContain(rollout?.currentStepIndex);
    const measured = rollout?.analysis?.metrics[0];
    expect(measured?.failed).toBe(1);
    expect(measured?.measurements.at(-1)?.phase).toBe("Failed");
    expect(rollout?.message).toContain('default variant "off"');
    expect(condition(done, "Stalled")).toMatchObject({ status: "True", reason: "RolledBack" });
    expect(condition(done, "Stalled")?.message).toContain("error-rate");
    const warning = await waitFor(
      "a RolloutRolledBack Warning Event",
      () => events("bad-ramp"),
      (list) => list.some((e) => e.reason === "RolloutRolledBack"),
      { timeoutMs: 30_000, context },
    );
    expect(warning.find((e) => e.reason === "RolloutRolledBack")).toMatchObject({ type: "Warning" });
    await everyoneGets("bad-ramp", "off");

    // The squad's on-call is told once: the rollback's write recorded the message, and it is
    // delivered with the rollback's id as Idempotency-Key, naming the toggle, flag, variant and metric.
    const delivered = await waitFor(
      "the ramp's rollback notification delivered",
      () => getToggle("bad-ramp"),
      (t) => t?.status?.notifications?.[0]?.deliveredAt !== undefined,
      { timeoutMs: 60_000, context },
    );
    const entry = delivered?.status?.notifications?.[0];
    expect(delivered?.status?.notifications).toHaveLength(1);
    expect(entry).toMatchObject({
      reason: "AnalysisFailed",
      metric: "error-rate",
      variant: "on",
      attempts: 1,
    });
    // Later reconciles (the app's evaluations keep insight moving) send nothing more.
    await new Promise((r) => setTimeout(r, 3_000));
    const forRamp = received.filter((m) => m.body["toggle"] === "bad-ramp");
    expect(forRamp.map((m) => m.headers["idempotency-key"])).toEqual([entry?.id]);
    expect(forRamp[0]?.body).toMatchObject({
      kind: "FeatureToggle",
      toggle: "bad-ramp",
      namespace: NS,
      squad: NS,
      channel: "#ramps",
      flag: "bad-ramp",
      variant: "on",
      defaultVariant: "off",
      reason: "AnalysisFailed",
      metric: "error-rate",
      command: `kubectl crescendo status featuretoggle/bad-ramp -n ${NS}`,
      at: rollout?.rolledBackAt,
      rollbackId: entry?.id,
    });
    // A completed ramp is no rollback: nothing was sent for it.
    expect(received.filter((m) => m.body["toggle"] === "good-ramp")).toEqual([]);
  }, 300_000);

  it("never asks a Prometheus the platform did not allow: the toggle is Stalled and serves its default", async () => {
    await apply(rampYaml("elsewhere-ramp", "http://127.0.0.1:9"));
    const t = await waitForCondition(
      client,
      FeatureToggleResource,
      "elsewhere-ramp",
      NS,
      { type: "Stalled", status: "True", reason: "PrometheusAddressNotAllowed" },
      { timeoutMs: 60_000, context },
    );
    expect((t as Toggle).status?.rollout).toBeUndefined();
    expect(condition(t as Toggle, "Stalled")?.message).toContain(
      "spec.rollout.analysis.metrics[0].prometheus.address",
    );
  }, 120_000);
});
