/**
 * The kubectl plugin end to end, against a real apiserver, run as a user runs it: a child
 * process with KUBECONFIG. For `status` and the actions no operator runs: the test writes the
 * Release's status through the /status subresource itself, standing in for the controller, so
 * what the plugin shows is exactly what was written (an analysis mid-step, a killed toggle). For
 * `squad`, last, the operator runs and computes the Squad's status from a Squad and a Release the
 * test applies, so the plugin is proven against what the Squad controller really writes.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  FeatureToggleResource,
  ReleaseResource,
  SquadResource,
  type Squad,
} from "../operator/src/api/kinds.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { loadKubeConfig } from "../operator/src/runtime/kubeconfig.js";
import { NamespaceResource, RoleBindingResource } from "../operator/src/runtime/resources.js";
import type { KubeObject, Resource } from "../operator/src/runtime/types.js";
import { kubeconfigPath, testClient, waitFor } from "./support/kube.js";
import { OperatorProcess } from "./support/operator.js";

const ROOT = join(import.meta.dirname, "..");
const NS = "cli-e2e";
/** The namespace of the Squad the operator reconciles; it creates the namespace itself. */
const SQUAD_NS = "cli-e2e-squad";
const run = promisify(execFile);

const ServiceAccountResource: Resource = {
  group: "",
  version: "v1",
  kind: "ServiceAccount",
  plural: "serviceaccounts",
  namespaced: true,
};
const RoleResource: Resource = {
  group: "rbac.authorization.k8s.io",
  version: "v1",
  kind: "Role",
  plural: "roles",
  namespaced: true,
};
/** TokenRequest is a subresource of the ServiceAccount: POST .../serviceaccounts/<name>/token. */
const tokenRequestFor = (serviceAccount: string): Resource => ({
  group: "",
  version: "v1",
  kind: "TokenRequest",
  plural: `serviceaccounts/${serviceAccount}/token`,
  namespaced: true,
});

let client: KubeClient;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `kubectl-crescendo` from source as a child process, as kubectl would run the plugin. */
async function plugin(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--import", "tsx", join(ROOT, "operator/src/cli/main.ts"), ...args],
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfigPath(), ...env }, timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Starts the plugin and keeps it running, for --watch and --wait. */
function startPlugin(args: string[]) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "operator/src/cli/main.ts"), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, KUBECONFIG: kubeconfigPath() },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

const at = (secondsAgo: number) =>
  new Date(Date.now() - secondsAgo * 1000).toISOString().replace(/\.\d+Z$/, "Z");

const releaseSpec = {
  version: "1.5.0",
  replicas: 4,
  template: {
    metadata: { labels: { app: "web" } },
    spec: { containers: [{ name: "web", image: "registry.example/web:1.5.0" }] },
  },
  strategy: {
    canary: {
      steps: [{ setWeight: 20 }, { pause: { duration: "1m" } }, { analysis: {} }, { setWeight: 60 }],
    },
  },
  analysis: {
    interval: "30s",
    metrics: [
      {
        name: "error-rate",
        prometheus: { query: 'sum(rate(errors{revision="{{revision}}"}[1m]))' },
        thresholdRange: { max: 0.05 },
      },
      {
        name: "latency-p99",
        prometheus: { query: 'histogram_quantile(0.99, rate(latency_bucket{revision="{{revision}}"}[1m]))' },
        compareToStable: { maxRatio: 1.2 },
      },
    ],
  },
};

/** What the controller would write during the analysis step. */
const analysingStatus = {
  observedGeneration: 1,
  phase: "Progressing",
  message: "step 2: analysing (error-rate 0.012 <= max 0.05)",
  stableRevision: "6b8d1e0",
  stableVersion: "1.4.2",
  canaryRevision: "7f9c2a1",
  canaryVersion: "1.5.0",
  currentStepIndex: 2,
  desiredWeight: 20,
  canaryWeight: 20,
  rolloutStartedAt: at(240),
  stepStartedAt: at(60),
  replicas: 4,
  readyReplicas: 5,
  analysis: {
    startedAt: at(60),
    step: 2,
    metrics: [
      {
        name: "error-rate",
        successful: 2,
        failed: 0,
        inconclusive: 0,
        consecutiveInconclusive: 0,
        measurements: [
          { at: at(45), phase: "Successful", value: "0.01", message: "error-rate 0.01 <= max 0.05" },
          { at: at(15), phase: "Successful", value: "0.012", message: "error-rate 0.012 <= max 0.05" },
        ],
      },
      {
        name: "latency-p99",
        successful: 1,
        failed: 0,
        inconclusive: 0,
        consecutiveInconclusive: 0,
        measurements: [
          {
            at: at(15),
            phase: "Successful",
            value: "0.33",
            stableValue: "0.3",
            message: "latency-p99 canary 0.33 vs stable 0.3: ratio 1.1 <= maxRatio 1.2",
          },
        ],
      },
    ],
  },
  conditions: [
    {
      type: "Ready",
      status: "False",
      reason: "Progressing",
      message: "step 2: analysing (error-rate 0.012 <= max 0.05)",
      lastTransitionTime: at(240),
      observedGeneration: 1,
    },
  ],
};

async function setStatus(res: Resource, name: string, namespace: string | undefined, status: object) {
  await client.mergePatch(res, name, namespace, { status }, { subresource: "status" });
}

async function ensure(obj: KubeObject, res: Resource): Promise<void> {
  const existing = await client.get(res, obj.metadata.name ?? "", obj.metadata.namespace);
  if (existing) await client.delete(res, obj.metadata.name ?? "", obj.metadata.namespace);
  await waitFor(
    `${res.kind} ${obj.metadata.name} gone`,
    () => client.get(res, obj.metadata.name ?? "", obj.metadata.namespace),
    (o) => o === undefined,
  );
  await client.create(obj, res);
}

beforeAll(async () => {
  client = testClient();
  // A namespace left terminating by an earlier run against the same cluster must go first.
  const ns = await waitFor(
    `namespace ${NS} not terminating`,
    () => client.get(NamespaceResource, NS),
    (n) => n?.metadata.deletionTimestamp === undefined,
    { timeoutMs: 120_000 },
  );
  if (!ns) await client.create({ metadata: { name: NS } }, NamespaceResource);
  await ensure({ metadata: { name: "web", namespace: NS }, spec: releaseSpec }, ReleaseResource);
  await setStatus(ReleaseResource, "web", NS, analysingStatus);

  await ensure(
    {
      metadata: { name: "one-click", namespace: NS },
      spec: { variants: { on: true, off: false }, defaultVariant: "off", guard: { release: "web" } },
    },
    FeatureToggleResource,
  );
  await setStatus(FeatureToggleResource, "one-click", NS, {
    effectiveState: "KilledByRollback",
    servedVariant: "off",
    killedAt: at(600),
  });
});

afterAll(async () => {
  await client?.delete(SquadResource, "cli-squad");
  await client?.delete(NamespaceResource, SQUAD_NS);
  await client?.delete(NamespaceResource, NS);
  client?.close();
});

describe("status", () => {
  it("shows phase, step, weights and measurements against thresholds", async () => {
    const r = await plugin(["status", "web", "-n", NS]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Phase\s+Progressing/);
    expect(r.stdout).toContain("Step         2/5  analysis of all metrics");
    expect(r.stdout).toContain("Traffic      canary desired 20%, achieved 20%");
    expect(r.stdout).toContain("Stable       1.4.2 (revision 6b8d1e0)");
    expect(r.stdout).toContain("Canary       1.5.0 (revision 7f9c2a1)");
    expect(r.stdout).toContain("error-rate: value <= 0.05");
    expect(r.stdout).toMatch(/Successful\s+0\.012\s+error-rate 0\.012 <= max 0\.05/);
    expect(r.stdout).toContain("latency-p99: canary / stable <= 1.2");
    expect(r.stdout).toContain("0.33 vs stable 0.3");
    expect(r.stdout).not.toContain("\x1b[");
  });

  it("--watch redraws when the status changes and ends on Ctrl-C", async () => {
    const p = startPlugin(["status", "web", "-n", NS, "--watch"]);
    try {
      await waitFor(
        "the first render",
        async () => p.stdout(),
        (s) => /Phase\s+Progressing/.test(s),
        {
          context: p.stderr,
        },
      );
      await setStatus(ReleaseResource, "web", NS, {
        ...analysingStatus,
        desiredWeight: 60,
        currentStepIndex: 3,
      });
      await waitFor(
        "a redraw",
        async () => p.stdout(),
        (s) => s.includes("canary desired 60%"),
        {
          context: p.stderr,
        },
      );
      expect(p.stdout()).toMatch(/\n--- \d{4}-\d\d-\d\dT[\d:.]+Z ---\n/);
    } finally {
      p.child.kill("SIGINT");
    }
    expect(await p.exited).toBe(0);
    await setStatus(ReleaseResource, "web", NS, analysingStatus);
  });
});

describe("actions", () => {
  it("promote sets the action annotations and leaves the spec alone", async () => {
    const before = (await client.get<KubeObject>(ReleaseResource, "web", NS))!;
    const r = await plugin(["promote", "web", "-n", NS]);
    expect(r.code, r.stderr).toBe(0);
    const after = (await client.get<KubeObject>(ReleaseResource, "web", NS))!;
    const id = after.metadata.annotations?.["crescendo.dev/action-id"];
    expect(after.metadata.annotations?.["crescendo.dev/action"]).toBe("promote");
    expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(r.stdout).toContain(`requested promote of release "web" in namespace "${NS}" (action-id ${id})`);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec).toEqual(before.spec);

    const full = await plugin(["promote", "--full", "web", "-n", NS]);
    expect(full.code, full.stderr).toBe(0);
    const again = (await client.get<KubeObject>(ReleaseResource, "web", NS))!;
    expect(again.metadata.annotations?.["crescendo.dev/action"]).toBe("promote-full");
    expect(again.metadata.annotations?.["crescendo.dev/action-id"]).not.toBe(id);
    expect(again.metadata.generation).toBe(before.metadata.generation);
  });

  it("--wait prints the result once the controller records this action id", async () => {
    const p = startPlugin(["pause", "web", "-n", NS, "--wait", "--timeout", "60s"]);
    // Play the controller: act on the annotation and record it in status.lastAction.
    const annotated = await waitFor(
      "the pause annotation",
      () => client.get<KubeObject>(ReleaseResource, "web", NS),
      (o) => o?.metadata.annotations?.["crescendo.dev/action"] === "pause",
      { context: p.stderr },
    );
    const id = annotated!.metadata.annotations!["crescendo.dev/action-id"]!;
    await setStatus(ReleaseResource, "web", NS, {
      lastAction: { id, action: "pause", acceptedAt: at(0), result: "paused" },
    });
    expect(await p.exited, p.stderr()).toBe(0);
    expect(p.stdout()).toContain("done: paused\n");
  });

  it("abort on a missing release exits 1 with the not-found message", async () => {
    const r = await plugin(["abort", "missing", "-n", NS]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: release "missing" not found in namespace "${NS}"\n`);
  });

  it("rearm annotates a FeatureToggle, and on a Release says what it is", async () => {
    const r = await plugin(["rearm", "one-click", "-n", NS]);
    expect(r.code, r.stderr).toBe(0);
    const toggle = await client.get<KubeObject>(FeatureToggleResource, "one-click", NS);
    expect(toggle?.metadata.annotations?.["crescendo.dev/action"]).toBe("rearm");
    expect(toggle?.metadata.annotations?.["crescendo.dev/action-id"]).toBeTruthy();

    const wrong = await plugin(["rearm", "web", "-n", NS]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`featuretoggle "web" not found in namespace "${NS}"`);
    expect(wrong.stderr).toContain('"web" is a Release, not a FeatureToggle');
  });

  it("an unknown command prints the usage and exits 2", async () => {
    const r = await plugin(["frobnicate", "web"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stderr).toContain("Commands:");
  });
});

describe("a user who may only read Releases", () => {
  let viewerKubeconfig: string;

  beforeAll(async () => {
    const sa = "cli-viewer";
    await ensure({ metadata: { name: sa, namespace: NS } }, ServiceAccountResource);
    await ensure(
      {
        metadata: { name: "release-reader", namespace: NS },
        rules: [{ apiGroups: ["crescendo.dev"], resources: ["releases"], verbs: ["get", "list", "watch"] }],
      },
      RoleResource,
    );
    await ensure(
      {
        metadata: { name: "release-reader", namespace: NS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "release-reader" },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace: NS }],
      },
      RoleBindingResource,
    );
    const request = await client.create<KubeObject>(
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        metadata: { namespace: NS },
        spec: { expirationSeconds: 3600 },
      },
      tokenRequestFor(sa),
    );
    const token = (request.status as { token: string }).token;
    const admin = loadKubeConfig({ path: kubeconfigPath() });
    viewerKubeconfig = join(mkdtempSync(join(tmpdir(), "crescendo-cli-")), "viewer.kubeconfig");
    writeFileSync(
      viewerKubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name: "test",
            // The admin's cluster as loaded; one left to client-node (a proxy, say) is copied as is.
            cluster:
              admin.via === "native"
                ? {
                    server: admin.server,
                    ...(admin.tls.ca && "data" in admin.tls.ca
                      ? { "certificate-authority-data": admin.tls.ca.data.toString("base64") }
                      : {}),
                    ...(admin.tls.ca && "file" in admin.tls.ca
                      ? { "certificate-authority": admin.tls.ca.file }
                      : {}),
                    ...(admin.tls.insecure ? { "insecure-skip-tls-verify": true } : {}),
                    ...(admin.tls.serverName ? { "tls-server-name": admin.tls.serverName } : {}),
                  }
                : (admin.kubeconfig.clusters as { cluster: unknown }[])[0]!.cluster,
          },
        ],
        users: [{ name: sa, user: { token } }],
        contexts: [{ name: "viewer", context: { cluster: "test", user: sa, namespace: NS } }],
        "current-context": "viewer",
      }),
    );
  });

  it("can see a Release's status", async () => {
    const r = await plugin(["status", "web", "--kubeconfig", viewerKubeconfig]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Release      ${NS}/web`);
  });

  it("is told promote is forbidden, and the plugin exits 1", async () => {
    const before = (await client.get<KubeObject>(ReleaseResource, "web", NS))!;
    const r = await plugin(["promote", "web", "--kubeconfig", viewerKubeconfig]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: you may not patch releases in namespace ${NS} (forbidden)\n`);
    const after = (await client.get<KubeObject>(ReleaseResource, "web", NS))!;
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });
});

// Last: the operator started here reconciles every Release it sees, the hand-written ones above too.
describe("squad, with the status the operator computed", () => {
  let operator: OperatorProcess | undefined;
  let squad: Squad;

  beforeAll(async () => {
    await ensure(
      {
        metadata: { name: "cli-squad" },
        spec: {
          tribe: "cli-payments",
          namespaces: [{ name: SQUAD_NS }],
          toggles: { maxActive: 5 },
          members: [{ kind: "User", name: "cli-alice", chapter: "cli-backend" }],
        },
      },
      SquadResource,
    );
    operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "cli" });
    // The Squad controller creates the namespace; the Release goes in once it exists.
    await waitFor(
      `namespace ${SQUAD_NS}`,
      () => client.get(NamespaceResource, SQUAD_NS),
      (n) => n !== undefined && n.metadata.deletionTimestamp === undefined,
      { timeoutMs: 120_000 },
    );
    await ensure(
      {
        metadata: { name: "api", namespace: SQUAD_NS },
        spec: {
          version: "2.0.0",
          replicas: 1,
          template: {
            metadata: { labels: { app: "api" } },
            spec: { containers: [{ name: "api", image: "registry.example/api:2.0.0" }] },
          },
          strategy: { canary: { steps: [{ setWeight: 50 }] } },
        },
      },
      ReleaseResource,
    );
    await ensure(
      {
        metadata: { name: "new-checkout", namespace: SQUAD_NS },
        spec: { variants: { on: true, off: false }, defaultVariant: "off" },
      },
      FeatureToggleResource,
    );
    squad = (await waitFor(
      "the operator's status of Squad cli-squad: Ready, one Healthy Release, one toggle",
      () => client.get<Squad>(SquadResource, "cli-squad"),
      (s) =>
        s?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true &&
        s.status.releases?.healthy === 1 &&
        s.status.toggles?.total === 1 &&
        s.status.delivery !== undefined,
      { timeoutMs: 120_000 },
    ))!;
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it("renders namespaces, releases, toggles and delivery metrics as the operator reported them", async () => {
    const r = await plugin(["squad", "cli-squad"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("cli-squad (tribe cli-payments)");
    const ready = squad.status!.conditions!.find((c) => c.type === "Ready")!;
    expect(r.stdout).toContain(`Ready       True (${ready.reason}): ${ready.message}`);
    expect(ready.message).toBe("1 namespace ready");
    expect(r.stdout).toMatch(new RegExp(`${SQUAD_NS}\\s+ready`));
    expect(r.stdout).toContain(
      "Releases    1: 0 progressing, 0 paused, 1 healthy, 0 degraded, 0 rolled back",
    );
    expect(r.stdout).toMatch(new RegExp(`${SQUAD_NS}\\s+api\\s+Healthy\\s+2\\.0\\.0`));
    expect(r.stdout).toContain("Toggles     1: 1 active (max 5), 0 stale, 0 killed");
    const month = squad.status!.delivery!.last30d!;
    const week = squad.status!.delivery!.last7d!;
    const rate = (w: typeof month) =>
      w.changeFailRate === undefined ? "no change" : `${w.changeFailRate} \\(${w.failedChanges} of`;
    expect(r.stdout).toMatch(new RegExp(`Change failure rate\\s+${rate(week)}.*\\s+${rate(month)}`));
    expect(r.stdout).toMatch(
      new RegExp(
        `Deployment frequency\\s+${week.deployments} \\(\\S+/day\\)\\s+${month.deployments} \\(\\S+/day\\)`,
      ),
    );
  });

  it("renders the squad's tribe: its keys as the status states them, nothing in flight, its toggles", async () => {
    const r = await plugin(["tribe", "cli-payments"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Tribe     cli-payments\nSquads    1 (1 ready)");
    expect(r.stdout).toContain("Toggles   1: 1 active, 0 stale");
    const month = squad.status!.delivery!.last30d!;
    expect(r.stdout).toMatch(
      new RegExp(
        `\n  cli-squad\\s+True\\s+${month.deployments} \\(\\S+/day\\)\\s.*\\s0\\s+1 active, 0 stale\n`,
      ),
    );
    expect(r.stdout).toContain("Releases in flight  none");
  });

  it("renders the chapter of the squad's member", async () => {
    const r = await plugin(["chapter", "cli-backend"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Chapter cli-backend: 1 member in 1 squad across 1 tribe (cli-payments)");
    expect(r.stdout).toMatch(/\ncli-alice\s+User\s+cli-squad\s+cli-payments\s+member\n/);
  });
});
