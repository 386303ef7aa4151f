/**
 * Status tells the truth: when the apiserver refuses an object the operator derives from a spec,
 * the spec's own status says so within seconds — `kubectl wait --for=condition=Stalled` answers,
 * `kubectl get` shows it, a Warning Event names the field — and fixing the spec clears it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import {
  LimitRangeResource,
  NamespaceResource,
  NetworkPolicyResource,
  RoleBindingResource,
} from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { OperatorProcess } from "./support/operator.js";

let client: KubeClient;
let operator: OperatorProcess;
const context = () => operator.tail();

beforeAll(async () => {
  client = testClient();
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "status-truth" });
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

const squadYaml = (name: string, spec: string) => `
apiVersion: crescendo.dev/v1alpha1
kind: Squad
metadata:
  name: ${name}
spec:
  members:
    - { kind: User, name: lead@example.com, role: lead }
  networkIsolation: Squad
${spec}
`;

async function apply(yaml: string): Promise<void> {
  const result = await kubectl(["apply", "-f", "-"], { input: yaml });
  expect(result.code, result.stderr).toBe(0);
}

/** `kubectl wait --for=condition=Stalled` on the object, as a GitOps user would. */
async function kubectlWaitStalled(resource: string, namespace?: string): Promise<void> {
  const started = Date.now();
  const result = await kubectl([
    "wait",
    ...(namespace ? ["-n", namespace] : []),
    "--for=condition=Stalled",
    "--timeout=30s",
    resource,
  ]);
  expect(result.code, `${result.stderr}\n${await context()}`).toBe(0);
  expect(Date.now() - started).toBeLessThan(30_000);
}

function stalledOf(obj: KubeObject | undefined) {
  const conditions = (
    obj?.status as { conditions?: { type: string; status: string; reason: string; message: string }[] }
  )?.conditions;
  return conditions?.find((c) => c.type === "Stalled");
}

async function warningEvents(
  name: string,
  namespace = "default",
): Promise<{ reason: string; note: string }[]> {
  const result = await kubectl([
    "get",
    "events.events.k8s.io",
    "-n",
    namespace,
    "--field-selector",
    `regarding.name=${name},type=Warning`,
    "-o",
    "json",
  ]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { items: { reason: string; note: string }[] }).items;
}

describe("a Squad whose derived object the apiserver refuses", () => {
  it.each([
    ["a negative pod quota", 'quota:\n    hard: { pods: "-5" }', "spec.hard[pods]"],
    ["a quota key that is not a resource name", 'quota:\n    hard: { "cpu!!": "1" }', "cpu!!"],
    [
      "a LimitRange whose min is above its max",
      'limits:\n    min: { cpu: "2" }\n    max: { cpu: "1" }',
      "min",
    ],
  ])(
    "is Stalled with the apiserver's message for %s, and the rest is applied",
    async (_what, spec, field) => {
      const name = `st-${Math.random().toString(36).slice(2, 8)}`;
      await apply(squadYaml(name, `  ${spec}`));
      await kubectlWaitStalled(`squad/${name}`);
      const squad = await client.get<KubeObject>(SquadResource, name);
      const stalled = stalledOf(squad);
      expect(stalled?.reason).toBe("ChildRejected");
      expect(stalled?.message).toContain(field);

      // `kubectl get` shows it: READY False.
      const row = await kubectl(["get", "squad", name, "--no-headers"]);
      expect(row.stdout).toMatch(/\bFalse\b/);

      // One Warning Event with the apiserver's words.
      const events = await waitFor(
        `a ChildRejected Warning Event on squad ${name}`,
        () => warningEvents(name),
        (items) => items.some((e) => e.reason === "ChildRejected"),
        { context },
      );
      expect(events.filter((e) => e.reason === "ChildRejected")).toHaveLength(1);
      expect(events.find((e) => e.reason === "ChildRejected")?.note).toContain(field);

      // Everything else is in place: the namespace, the lead's binding, the isolation policy.
      expect(await client.get(NamespaceResource, name)).toBeDefined();
      expect(await client.get(RoleBindingResource, "crescendo-lead", name)).toBeDefined();
      expect(await client.get(NetworkPolicyResource, "crescendo-isolation", name)).toBeDefined();

      // Fixing the spec clears it.
      await apply(squadYaml(name, ""));
      await waitForCondition(
        client,
        SquadResource,
        name,
        undefined,
        { type: "Ready", status: "True" },
        { context },
      );
      expect(stalledOf(await client.get<KubeObject>(SquadResource, name))?.status).toBe("False");
      await kubectl(["delete", "squad", name, "--wait=false"]);
    },
  );

  it("refuses a quota that is not a quantity at admission, naming the field", async () => {
    const result = await kubectl(["apply", "-f", "-"], {
      input: squadYaml("not-a-quantity", "  quota:\n    hard: { requests.cpu: lots }"),
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("spec.quota.hard.requests.cpu");
  });

  it("is Stalled when a namespace label value has spaces, and nothing goes into that namespace", async () => {
    const name = `st-${Math.random().toString(36).slice(2, 8)}`;
    await apply(squadYaml(name, `  namespaces:\n    - name: ${name}\n      labels: { team: "two words" }`));
    await kubectlWaitStalled(`squad/${name}`);
    const stalled = stalledOf(await client.get<KubeObject>(SquadResource, name));
    expect(stalled?.reason).toBe("ChildRejected");
    expect(stalled?.message).toContain("two words");
    expect(await client.get(LimitRangeResource, "crescendo-limits", name)).toBeUndefined();
    await apply(squadYaml(name, `  namespaces:\n    - name: ${name}\n      labels: { team: two-words }`));
    await waitForCondition(
      client,
      SquadResource,
      name,
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    await kubectl(["delete", "squad", name, "--wait=false"]);
  });

  it("brings a squad waiting on another squad's namespace up to date when that Squad is deleted", async () => {
    const suffix = Math.random().toString(36).slice(2, 8);
    const [owner, waiting, shared] = [`own-${suffix}`, `wait-${suffix}`, `shared-${suffix}`];
    await apply(squadYaml(owner, `  namespaces:\n    - name: ${shared}`));
    await waitForCondition(
      client,
      SquadResource,
      owner,
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    await apply(squadYaml(waiting, `  namespaces:\n    - name: ${shared}`));
    const stalled = await waitForCondition(
      client,
      SquadResource,
      waiting,
      undefined,
      { type: "Stalled", status: "True", reason: "NamespaceConflict" },
      { context },
    );
    expect(stalledOf(stalled)?.message).toContain(`belongs to squad "${owner}"`);

    await kubectl(["delete", "squad", owner]);
    await waitFor(
      `squad ${waiting} to say that ${owner} no longer exists`,
      () => client.get<KubeObject>(SquadResource, waiting),
      (obj) => stalledOf(obj)?.message.includes("no longer exists") === true,
      { context, timeoutMs: 15_000 },
    );
    await kubectl(["delete", "squad", waiting, "--wait=false"]);
  });

  it("keeps the operator healthy throughout", async () => {
    const res = await fetch(`http://127.0.0.1:${operator.healthPort}/healthz`);
    expect(res.status).toBe(200);
  });
});

const releaseYaml = (name: string, namespace: string, container: string) => `
apiVersion: crescendo.dev/v1alpha1
kind: Release
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  version: "1.0.0"
  replicas: 1
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers: ${container}
  service:
    ports: [{ name: http, port: 80, targetPort: 8080 }]
  strategy:
    canary:
      steps: [{ setWeight: 50 }]
`;

const GOOD = "[{ name: app, image: registry.example.com/app:1 }]";

describe("a Release whose Deployment the apiserver refuses", () => {
  const namespace = "st-releases";
  beforeAll(async () => {
    await kubectl(["create", "namespace", namespace]);
  });

  it.each([
    ["a container without an image", "[{ name: app }]", "image"],
    ["no containers at all", "[]", "containers"],
  ])("is Stalled within seconds for %s, and fixing it clears it", async (_what, containers, field) => {
    const name = `r${Math.random().toString(36).slice(2, 8)}`;
    await apply(releaseYaml(name, namespace, containers));
    await kubectlWaitStalled(`release/${name}`, namespace);
    const stalled = stalledOf(await client.get<KubeObject>(ReleaseResource, name, namespace));
    expect(stalled?.reason).toBe("ChildRejected");
    expect(stalled?.message).toContain(field);
    const events = await waitFor(
      `a ChildRejected Warning Event on release ${name}`,
      () => warningEvents(name, namespace),
      (items) => items.some((e) => e.reason === "ChildRejected"),
      { context },
    );
    expect(events.filter((e) => e.reason === "ChildRejected")).toHaveLength(1);

    await apply(releaseYaml(name, namespace, GOOD));
    await waitForCondition(
      client,
      ReleaseResource,
      name,
      namespace,
      { type: "Ready", status: "True" },
      { context },
    );
    expect(stalledOf(await client.get<KubeObject>(ReleaseResource, name, namespace))?.status).toBe("False");
  });

  it("does not hide a refused update behind the previous generation's Healthy", async () => {
    const name = "upd";
    await apply(releaseYaml(name, namespace, GOOD));
    await waitForCondition(
      client,
      ReleaseResource,
      name,
      namespace,
      { type: "Ready", status: "True" },
      { context },
    );
    await apply(releaseYaml(name, namespace, "[{ name: app }]"));
    await kubectlWaitStalled(`release/${name}`, namespace);
    const release = await client.get<KubeObject>(ReleaseResource, name, namespace);
    expect(stalledOf(release)).toMatchObject({
      reason: "ChildRejected",
      observedGeneration: release?.metadata.generation,
    });
    const row = await kubectl(["get", "release", name, "-n", namespace, "--no-headers"]);
    expect(row.stdout).toMatch(/\bFalse\b/);
    // The previous revision keeps serving meanwhile.
    const deployments = await kubectl([
      "get",
      "deployments",
      "-n",
      namespace,
      "-l",
      `crescendo.dev/release=${name}`,
      "-o",
      "name",
    ]);
    expect(deployments.stdout.trim().split("\n")).toHaveLength(1);
  });

  it("refuses at admission a Release name too long for the objects derived from it", async () => {
    const result = await kubectl(["apply", "-f", "-"], {
      input: releaseYaml("a".repeat(60), namespace, GOOD),
    });
    expect(result.code).not.toBe(0);
    // The refusal names the field and the limit (docs/release.md gives the same number).
    expect(result.stderr).toMatch(/metadata\.name: Invalid value: .*at most 55 characters/);
    expect(await client.get(ReleaseResource, "a".repeat(60), namespace)).toBeUndefined();
  });
});
