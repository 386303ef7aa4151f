/**
 * On-call notifications end to end, against a real apiserver and the operator's real entry point:
 * a rollback's notification is delivered at least once across a leader change. The leader is
 * stopped (SIGTERM) while the webhook receiver is down; once the receiver is back, a new
 * operator process delivers the message, exactly once, with the rollback id as its
 * `Idempotency-Key`; it names the toggle the rollback kills, which sends none of its own. Then
 * a toggle killed by the kill action (as the incident receiver writes it) sends one message.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeatureToggleStatus } from "../operator/src/api/featuretoggle.js";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { SecretResource } from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { freePort, OperatorProcess } from "./support/operator.js";

const FIELD_MANAGER = "e2e-notifications";
const NS = "notify-e2e";

type Release = KubeObject & { status?: ReleaseStatus };
interface Received {
  at: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

let client: KubeClient;
let operator: OperatorProcess | undefined;
let receiver: Server | undefined;
const received: Received[] = [];
const context = () => operator?.tail(60) ?? "";

/** The webhook receiver, on a fixed port so it can be down and come back at the same URL. */
async function startReceiver(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push({
        at: Date.now(),
        headers: req.headers,
        body: JSON.parse(body) as Record<string, unknown>,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return server;
}

function releaseSpec(version: string): Record<string, unknown> {
  return {
    version,
    replicas: 2,
    template: {
      metadata: { labels: { app: "pager" } },
      spec: { containers: [{ name: "app", image: `registry.example.com/pager:${version}` }] },
    },
    service: { ports: [{ name: "http", port: 80 }] },
    strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }] } },
  };
}

async function applyRelease(version: string): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name: "pager", namespace: NS },
      spec: releaseSpec(version),
    },
    ReleaseResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

async function waitRelease(
  description: string,
  accept: (s: ReleaseStatus) => boolean,
): Promise<ReleaseStatus> {
  const r = await waitFor(
    `Release ${NS}/pager: ${description}`,
    () => client.get<Release>(ReleaseResource, "pager", NS),
    (r) => r?.status !== undefined && accept(r.status),
    { timeoutMs: 90_000, context },
  );
  return r?.status ?? {};
}

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "notifications-a" });
});

afterAll(async () => {
  await operator?.stop();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  client?.close();
});

describe("a rollback notification across a leader change", () => {
  it("is sent by the next leader once the receiver is back, exactly once, with the rollback id as Idempotency-Key", async () => {
    const port = await freePort(); // nothing listens there yet: the receiver is down
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "Squad",
        metadata: { name: NS },
        spec: { tribe: "ops", oncall: { webhookSecretRef: { name: "pager" }, channel: "#pager" } },
      },
      SquadResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );
    await waitForCondition(
      client,
      SquadResource,
      NS,
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    await client.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "pager", namespace: NS },
        stringData: { url: `http://127.0.0.1:${port}/hook` },
      },
      SecretResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );

    await applyRelease("1.0.0");
    await waitRelease("Healthy", (s) => s.phase === "Healthy");
    // A toggle guarded by the Release: its rollback kills it, and the Release's message says so.
    await applyToggle("pager-banner", { guard: { release: "pager" } });
    await applyRelease("2.0.0");
    await waitRelease("paused at its pause step", (s) => s.pauseReason === "PauseStep");
    const annotated = await kubectl([
      "annotate",
      "release",
      "pager",
      "-n",
      NS,
      "crescendo.dev/action=abort",
      "crescendo.dev/action-id=notify-e2e",
      "--overwrite",
    ]);
    expect(annotated.code, annotated.stderr).toBe(0);

    // The first leader records the rollback, its pending notification, and a failed attempt.
    const failed = await waitRelease(
      "RolledBack, with a failed delivery attempt recorded",
      (s) => s.phase === "RolledBack" && (s.notifications?.[0]?.attempts ?? 0) >= 1,
    );
    const entry = failed.notifications?.[0];
    expect(entry).toMatchObject({ revision: failed.canaryRevision, at: failed.abortedAt });
    expect(entry?.lastError).toContain(`127.0.0.1:${port}`);
    expect(entry?.deliveredAt).toBeUndefined();
    expect(entry?.nextAttemptAt).toBeDefined();

    // SIGTERM the leader while the receiver is down: the message stays pending in status.
    expect(await operator?.stop("SIGTERM")).toBe(0);
    const stopped = await client.get<Release>(ReleaseResource, "pager", NS);
    expect(stopped?.status?.notifications?.[0]?.deliveredAt).toBeUndefined();
    expect(received).toEqual([]);

    receiver = await startReceiver(port);
    const startedAt = Date.now();
    operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "notifications-b" });
    const done = await waitRelease(
      "the notification delivered",
      (s) => s.notifications?.[0]?.deliveredAt !== undefined,
    );

    expect(received).toHaveLength(1);
    const [message] = received;
    expect(message!.at).toBeGreaterThanOrEqual(startedAt);
    expect(message!.headers["idempotency-key"]).toBe(entry?.id);
    expect(message!.body).toMatchObject({
      release: "pager",
      namespace: NS,
      squad: NS,
      tribe: "ops",
      channel: "#pager",
      revision: failed.canaryRevision,
      version: "2.0.0",
      reason: "Aborted",
      at: failed.abortedAt,
      rollbackId: entry?.id,
      killedToggles: ["pager-banner"],
    });
    const banner = await toggleStatus("pager-banner");
    expect(banner?.effectiveState).toBe("KilledByRollback");
    expect(banner?.notifications).toBeUndefined();
    expect(done.notifications?.[0]?.attempts).toBeGreaterThan(entry?.attempts ?? 0);
    expect(done.notifications?.[0]?.nextAttemptAt).toBeUndefined();
    expect(await operator.metrics()).toMatch(/^crescendo_notifications_delivered_total 1$/m);

    // Nothing more is sent: not by later reconciles, not by yet another operator process.
    await operator.stop("SIGTERM");
    operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "notifications-c" });
    await kubectl(["annotate", "release", "pager", "-n", NS, "e2e/poke=1", "--overwrite"]);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(received).toHaveLength(1);
    expect(await operator.metrics()).toMatch(/^crescendo_notifications_abandoned_total 0$/m);
  });
});

describe("a toggle killed by the kill action", () => {
  it("tells the squad's on-call once, naming the incident, its alert and the re-arm command, with the kill's id as Idempotency-Key", async () => {
    // The squad, its Secret and the receiver are the first test's; this toggle has no guard.
    await applyToggle("one-click", {});
    await waitFor(
      "FeatureToggle one-click served",
      () => toggleStatus("one-click"),
      (s) => s?.effectiveState === "Enabled",
      { timeoutMs: 60_000, context },
    );
    const before = received.length;
    const reason =
      "incident e2ekill (PagerErrors): changed at 2030-01-01T00:00:00Z, in the window before the alert";
    const annotated = await kubectl([
      "annotate",
      "featuretoggle",
      "one-click",
      "-n",
      NS,
      "crescendo.dev/action=kill",
      "crescendo.dev/action-id=incident-e2ekill",
      `crescendo.dev/action-reason=${reason}`,
      "--overwrite",
    ]);
    expect(annotated.code, annotated.stderr).toBe(0);

    const done = await waitFor(
      "FeatureToggle one-click killed and its notification delivered",
      () => toggleStatus("one-click"),
      (s) => s?.effectiveState === "KilledByRollback" && s.notifications?.[0]?.deliveredAt !== undefined,
      { timeoutMs: 60_000, context },
    );
    const entry = done?.notifications?.[0];
    expect(entry).toMatchObject({ event: "Killed", incident: "e2ekill", at: done?.killedAt, attempts: 1 });
    const messages = received.slice(before);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.headers["idempotency-key"]).toBe(entry?.id);
    expect(messages[0]!.body).toEqual({
      kind: "FeatureToggle",
      event: "Killed",
      toggle: "one-click",
      namespace: NS,
      squad: NS,
      tribe: "ops",
      flag: "one-click",
      defaultVariant: "off",
      killedBy: "Incident",
      actionId: "incident-e2ekill",
      incident: "e2ekill",
      reason,
      message: `Killed by incident e2ekill: ${reason}. Everyone is served default variant "off".`,
      channel: "#pager",
      command: `kubectl crescendo status featuretoggle/one-click -n ${NS}`,
      rearmCommand: `kubectl crescendo rearm one-click -n ${NS}`,
      at: done?.killedAt,
      notificationId: entry?.id,
    });

    // Later reconciles of the killed toggle send nothing more.
    await kubectl(["annotate", "featuretoggle", "one-click", "-n", NS, "e2e/poke=1", "--overwrite"]);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(received).toHaveLength(before + 1);
  });
});

async function applyToggle(name: string, extra: Record<string, unknown>): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "FeatureToggle",
      metadata: { name, namespace: NS },
      spec: { variants: { on: true, off: false }, defaultVariant: "off", ...extra },
    },
    FeatureToggleResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

async function toggleStatus(name: string): Promise<FeatureToggleStatus | undefined> {
  return (await client.get<KubeObject & { status?: FeatureToggleStatus }>(FeatureToggleResource, name, NS))
    ?.status;
}
