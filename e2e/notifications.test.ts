/**
 * On-call notifications end to end, against a real apiserver and the operator's real entry point:
 * a rollback's notification is delivered at least once across a leader change. The leader is
 * stopped (SIGTERM) while the webhook receiver is down; once the receiver is back, a new
 * operator process delivers the message, exactly once, with the rollback id as its
 * `Idempotency-Key`.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
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
    });
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
