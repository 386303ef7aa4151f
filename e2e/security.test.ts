/**
 * Each hole of issue #13 tried the way an attacker would, on the local control plane with the
 * operator's real entry point and its default configuration:
 * - a namespace `edit` user pointing a Release's Prometheus address at a loopback server with
 *   the fragment, query and userinfo tricks: refused at admission, naming the field; at the
 *   server plainly: the Release is Stalled (`PrometheusAddressNotAllowed`); through an allowed
 *   address that redirects to it: the redirect is not followed and no body reaches status or
 *   Events. The server (which counts requests) is never asked;
 * - apps reading flags through the real OpenFeature OFREP provider with ServiceAccount tokens
 *   from the TokenRequest API: their own namespace yes, a namespace that shares with their squad
 *   yes, another namespace 403, no token / another audience / garbage 401;
 * - oversized and slow requests cut off, while the server keeps answering others.
 */
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OpenFeature } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import { ResourceQuotaResource, RoleBindingResource } from "../operator/src/runtime/resources.js";
import { helmTemplate } from "../hack/helm.js";
import type { KubeObject, Resource } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { evaluateFlag, serviceAccountToken } from "./support/ofrep.js";
import { OperatorProcess } from "./support/operator.js";

const FIELD_MANAGER = "crescendo-e2e";
const ADMISSION_KINDS: Record<string, Resource> = Object.fromEntries(
  [
    ["ValidatingAdmissionPolicy", "validatingadmissionpolicies"],
    ["ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings"],
  ].map(([kind, plural]) => [
    kind,
    { group: "admissionregistration.k8s.io", version: "v1", kind: kind!, plural: plural!, namespaced: false },
  ]),
);
const RoleResource: Resource = {
  group: "rbac.authorization.k8s.io",
  version: "v1",
  kind: "Role",
  plural: "roles",
  namespaced: true,
};
/** Three squads: A's apps may read B's flags (B shares with squad A), not C's. */
const A = "sec-a";
const B = "sec-b";
const C = "sec-c";
const ATTACKER = "mallory@example.com";

let client: KubeClient;
let operator: OperatorProcess;
let target: Server;
let targetUrl: string;
let targetRequests = 0;
/** An allowed "Prometheus" that answers every query with a redirect to the target. */
let redirector: Server;
let redirectorUrl: string;
let redirectorRequests = 0;
const context = () => operator.tail(60);

beforeAll(async () => {
  client = testClient();
  // What the attacker wants the operator to fetch: it counts every request it gets.
  target = createServer((_req, res) => {
    targetRequests++;
    res.end("AKIAIOSFODNN7EXAMPLE secret-access-key");
  });
  await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;

  redirector = createServer((_req, res) => {
    redirectorRequests++;
    res.writeHead(302, { Location: `${targetUrl}/latest/meta-data/` });
    res.end("redirecting to AKIAIOSFODNN7EXAMPLE");
  });
  await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
  redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;

  // The platform allows the redirector (a Prometheus gone bad), not the target.
  operator = await OperatorProcess.start({
    kubeconfig: kubeconfigPath(),
    name: "security",
    allowPrometheus: [redirectorUrl],
  });
  for (const [squad, spec] of [
    // A is isolated, lets `monitoring` in, and has a quota: what the guardrails below protect.
    [A, { networkIsolation: "Squad", allowIngressFrom: ["monitoring"], quota: { hard: { pods: "50" } } }],
    [B, { toggles: { readableBy: [{ squad: A }] } }],
    [C, {}],
  ] as const) {
    await client.apply(
      { apiVersion: "crescendo.dev/v1alpha1", kind: "Squad", metadata: { name: squad }, spec },
      SquadResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );
    await waitForCondition(
      client,
      SquadResource,
      squad,
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    await client.apply(
      {
        apiVersion: "crescendo.dev/v1alpha1",
        kind: "FeatureToggle",
        metadata: { name: "secret-feature", namespace: squad },
        spec: { variants: { on: `${squad}-on`, off: "off" }, defaultVariant: "on" },
      },
      FeatureToggleResource,
      { fieldManager: FIELD_MANAGER, force: true },
    );
    await waitForCondition(
      client,
      FeatureToggleResource,
      "secret-feature",
      squad,
      { type: "Ready", status: "True" },
      { context },
    );
  }
  // The attacker may edit Releases in A, as the chart's edit aggregation allows (written out
  // here, so this file does not depend on the chart being installed), nothing more.
  await client.apply(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "release-editor", namespace: A },
      rules: [
        {
          apiGroups: ["crescendo.dev"],
          resources: ["releases"],
          verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
      ],
    },
    RoleResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
  await client.apply(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "mallory-releases", namespace: A },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "release-editor" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: ATTACKER }],
    },
    RoleBindingResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
  await client.apply(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "mallory-edit", namespace: A },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: ATTACKER }],
    },
    RoleBindingResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
});

afterAll(async () => {
  await OpenFeature.close();
  await operator?.stop();
  await new Promise((resolve) => target?.close(resolve));
  await new Promise((resolve) => redirector?.close(resolve));
  client?.close();
});

describe("analysis addresses, as a namespace edit user", () => {
  const release = (address: string, name = "ssrf", version = "1") => `apiVersion: crescendo.dev/v1alpha1
kind: Release
metadata: { name: ${name}, namespace: ${A} }
spec:
  version: "${version}"
  template:
    metadata: { labels: { app: ${name} } }
    spec: { containers: [{ name: app, image: "registry.example.com/ssrf:${version}" }] }
  strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: {} }] } }
  analysis:
    interval: 1s
    metrics:
      - name: steal
        prometheus: { address: "${address}", query: up }
        thresholdRange: { max: 1 }
`;

  it.each([
    ["the fragment trick", (u: string) => `${u}/latest/meta-data/iam/security-credentials/#`, "fragment"],
    ["the query trick", (u: string) => `${u}/latest/meta-data/?x=`, "query"],
    [
      "userinfo hiding the host",
      (u: string) => `http://prometheus.monitoring:9090@${u.slice(7)}/`,
      "userinfo",
    ],
    ["a file URL", () => "file:///etc/passwd", "http or https"],
  ])("refuses %s at admission, naming the field", async (_trick, address, _word) => {
    const result = await kubectl(["apply", "-f", "-"], { input: release(address(targetUrl)), as: ATTACKER });
    expect(result.code, result.stdout).not.toBe(0);
    expect(result.stderr).toContain("spec.analysis.metrics[0].prometheus.address");
    expect(result.stderr).toContain("without userinfo, query, fragment or percent-encoding");
    expect(targetRequests).toBe(0);
  });

  const statusOf = async (name: string) =>
    (await client.get<KubeObject & { status?: ReleaseStatus }>(ReleaseResource, name, A))?.status;

  it("stalls a Release naming an address the platform did not allow, and never asks it", async () => {
    const applied = await kubectl(["apply", "-f", "-"], {
      input: release(`${targetUrl}/`, "ssrf-plain"),
      as: ATTACKER,
    });
    expect(applied.code, applied.stderr).toBe(0);
    const status = await waitFor(
      "ssrf-plain Stalled with PrometheusAddressNotAllowed",
      () => statusOf("ssrf-plain"),
      (s) => s?.conditions?.some((c) => c.type === "Stalled" && c.status === "True") ?? false,
      { context },
    );
    expect(status?.conditions?.find((c) => c.type === "Stalled")).toMatchObject({
      reason: "PrometheusAddressNotAllowed",
      message: expect.stringContaining(`spec.analysis.metrics[0].prometheus.address "${targetUrl}/"`),
    });
    // Nothing deployed, nothing measured: the Release is not acted on at all.
    expect(status?.phase).toBeUndefined();
    const described = await kubectl(["describe", "release", "ssrf-plain", "-n", A], { as: ATTACKER });
    expect(described.stdout).toContain("PrometheusAddressNotAllowed");
    await new Promise((r) => setTimeout(r, 3_000));
    expect(targetRequests).toBe(0);
  });

  it("asks an allowed address that redirects, never follows it, and copies none of its body", async () => {
    for (const version of ["1", "2"]) {
      const applied = await kubectl(["apply", "-f", "-"], {
        input: release(redirectorUrl, "ssrf-redirect", version),
        as: ATTACKER,
      });
      expect(applied.code, applied.stderr).toBe(0);
      if (version === "1") {
        await waitFor(
          "ssrf-redirect Healthy at 1",
          () => statusOf("ssrf-redirect"),
          (s) => s?.phase === "Healthy",
          { context },
        );
      }
    }
    const status = await waitFor(
      "a measurement of the redirecting address",
      () => statusOf("ssrf-redirect"),
      (s) => (s?.analysis?.metrics[0]?.measurements.length ?? 0) > 0,
      { context },
    );
    expect(redirectorRequests).toBeGreaterThan(0);
    expect(targetRequests).toBe(0);
    const message = status?.analysis?.metrics[0]?.measurements.at(-1)?.message ?? "";
    expect(message).toContain("HTTP 302");
    expect(message).toContain("redirect, which is not followed");
    const everything = JSON.stringify(status);
    expect(everything).not.toContain("AKIA");
    expect(everything).not.toContain("/latest/meta-data");
    const events = await kubectl(["get", "events", "-n", A, "-o", "json"]);
    expect(events.stdout).not.toContain("AKIA");
  });

  it("the attacker really may create Releases: a plain address passes admission", async () => {
    const result = await kubectl(["apply", "--dry-run=server", "-f", "-"], {
      input: release(targetUrl),
      as: ATTACKER,
    });
    expect(result.code, result.stderr).toBe(0);
  });
});

describe("OFREP, per namespace", () => {
  const port = () => operator.ofrepPort;

  it("an app reads its own namespace's flags through the real OpenFeature OFREP provider", async () => {
    const token = await serviceAccountToken(client, A);
    await OpenFeature.setProviderAndWait(
      "sec-a-own",
      new OFREPProvider({
        baseUrl: `http://127.0.0.1:${port()}/namespaces/${A}`,
        headersFactory: () => [["Authorization", `Bearer ${token}`]],
      }),
    );
    const details = await OpenFeature.getClient("sec-a-own").getStringDetails("secret-feature", "default");
    expect(details).toMatchObject({ value: `${A}-on`, variant: "on" });
  });

  it("reads a namespace whose Squad shares with its squad, and gets 403 for one that does not", async () => {
    const token = await serviceAccountToken(client, A);
    const shared = await evaluateFlag(port(), B, "secret-feature", {}, token);
    expect(shared.status).toBe(200);
    expect(await shared.json()).toMatchObject({ value: `${B}-on` });
    const other = await evaluateFlag(port(), C, "secret-feature", {}, token);
    expect(other.status).toBe(403);
    const body = (await other.json()) as { errorDetails?: string; value?: unknown };
    expect(body.value).toBeUndefined();
    expect(body.errorDetails).toContain(`may read the flags of namespace ${A}`);
    // Sharing is one way: B's apps do not read A's flags.
    const back = await evaluateFlag(port(), A, "secret-feature", {}, await serviceAccountToken(client, B));
    expect(back.status).toBe(403);
  });

  it("the real provider gets no value from another namespace", async () => {
    const token = await serviceAccountToken(client, A);
    await OpenFeature.setProvider(
      "sec-a-reads-c",
      new OFREPProvider({
        baseUrl: `http://127.0.0.1:${port()}/namespaces/${C}`,
        headersFactory: () => [["Authorization", `Bearer ${token}`]],
      }),
    );
    const details = await OpenFeature.getClient("sec-a-reads-c").getStringDetails(
      "secret-feature",
      "default",
    );
    expect(details.value).toBe("default");
    expect(details.errorCode).toBeDefined();
  });

  it("401 without a token, with a token for another audience, and with garbage", async () => {
    const none = await evaluateFlag(port(), A, "secret-feature", {}, undefined);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await none.json()).toMatchObject({ errorDetails: expect.stringContaining("no token") });
    const apiAudience = await serviceAccountToken(
      client,
      A,
      "app",
      "https://kubernetes.default.svc.cluster.local",
    );
    expect((await evaluateFlag(port(), A, "secret-feature", {}, apiAudience)).status).toBe(401);
    expect((await evaluateFlag(port(), A, "secret-feature", {}, "not-a-jwt")).status).toBe(401);
    const forged = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(
      JSON.stringify({ aud: ["crescendo-ofrep"], sub: `system:serviceaccount:${C}:app` }),
    ).toString("base64url")}.c2ln`;
    expect((await evaluateFlag(port(), C, "secret-feature", {}, forged)).status).toBe(401);
  });
});

describe("OFREP server limits", () => {
  const url = () => `http://127.0.0.1:${operator.ofrepPort}/namespaces/${A}/ofrep/v1/evaluate/flags`;

  it("refuses an oversized body with 413", async () => {
    const token = await serviceAccountToken(client, A);
    const res = await fetch(url(), {
      method: "POST",
      headers: { "content-type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ context: { pad: "x".repeat(100 * 1024) } }),
    });
    expect(res.status).toBe(413);
  });

  it("refuses oversized headers with 431", async () => {
    const res = await fetch(url(), { method: "POST", headers: { "X-Pad": "x".repeat(32 * 1024) } });
    expect(res.status).toBe(431);
  });

  it("cuts off a client that drips its headers, and keeps serving others meanwhile", async () => {
    const { port } = new URL(url());
    const started = Date.now();
    const outcome = await new Promise<{ response: string; ms: number }>((resolve) => {
      const socket = connect(Number(port), "127.0.0.1");
      let response = "";
      let timer: NodeJS.Timeout | undefined;
      socket.on("data", (d) => (response += d.toString()));
      socket.on("error", () => {});
      socket.on("close", () => {
        clearInterval(timer);
        resolve({ response, ms: Date.now() - started });
      });
      socket.on("connect", () => {
        socket.write(`POST /namespaces/${A}/ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: x\r\n`);
        let i = 0;
        timer = setInterval(() => socket.write(`X-Drip-${i++}: x\r\n`), 500);
      });
    });
    expect(outcome.response).toMatch(/^HTTP\/1\.1 408/);
    expect(outcome.ms).toBeLessThan(9_000);
    const token = await serviceAccountToken(client, A);
    expect((await evaluateFlag(operator.ofrepPort, A, "secret-feature", {}, token)).status).toBe(200);
  });
});

describe("admission guardrails (the chart's ValidatingAdmissionPolicies), as a squad member", () => {
  const policies: { res: Resource; name: string }[] = [];

  beforeAll(async () => {
    // The chart's own policies as `helm template` renders them; the suite's operator and this
    // test's admin run as crescendo-admin, so that user is the exempt one here.
    const rendered = await helmTemplate("crescendo-system", [
      "admissionPolicies.exemptUsers={crescendo-admin}",
    ]);
    for (const obj of rendered.filter((o) => o.kind in ADMISSION_KINDS)) {
      const res = ADMISSION_KINDS[obj.kind]!;
      await client.apply(obj, res, { fieldManager: FIELD_MANAGER, force: true });
      policies.push({ res, name: obj.metadata.name });
    }
    expect(policies.map((p) => p.res.kind).sort()).toEqual([
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
      "ValidatingAdmissionPolicyBinding",
    ]);
  });

  afterAll(async () => {
    for (const { res, name } of policies) await client.delete(res, name);
  });

  /**
   * Runs kubectl as the attacker until the apiserver refuses (a new policy takes a moment to be
   * loaded), then returns the refusal.
   */
  async function refused(args: string[] | (() => string[]), input?: string): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const argv = typeof args === "function" ? args() : args;
      const result = await kubectl(argv, { as: ATTACKER, ...(input ? { input } : {}) });
      if (result.code !== 0) return result.stderr;
      if (Date.now() > deadline) throw new Error(`not refused: kubectl ${argv.join(" ")}\n${result.stdout}`);
      // Accepted before the policy was loaded: try again.
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  it("a member cannot rewrite crescendo-flags or delete the isolation NetworkPolicy", async () => {
    // A new value each time (and --overwrite): kubectl sends nothing for a label already set.
    const rewrite = await refused(() => [
      "-n",
      A,
      "label",
      "--overwrite",
      "configmap",
      "crescendo-flags",
      `tampered=${Date.now()}`,
    ]);
    expect(rewrite).toContain(`ConfigMap ${A}/crescendo-flags is managed by Crescendo`);
    expect(rewrite).toContain("only the operator may update it");
    const remove = await refused(["-n", A, "delete", "networkpolicy", "crescendo-isolation"]);
    expect(remove).toContain(`NetworkPolicy ${A}/crescendo-isolation is managed by Crescendo`);
    expect(remove).toContain("only the operator may delete it");
    const forged = await refused(
      ["-n", A, "create", "-f", "-"],
      `apiVersion: v1
kind: ConfigMap
metadata: { name: lookalike, labels: { app.kubernetes.io/managed-by: crescendo } }
data: { flags.json: "{}" }
`,
    );
    expect(forged).toContain("only the operator may create it");
    // The operator itself still writes them: the flags document follows a toggle edit.
    await client.mergePatch(FeatureToggleResource, "secret-feature", A, { spec: { defaultVariant: "off" } });
    await waitFor(
      "crescendo-flags serving the new default",
      async () => (await kubectl(["-n", A, "get", "configmap", "crescendo-flags", "-o", "json"])).stdout,
      (out) => out.includes('\\"defaultVariant\\":\\"off\\"') || /defaultVariant[^,]*off/.test(out),
      { context },
    );
  });

  const policy = (name: string, from: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: ${name} }
spec:
  podSelector: {}
  ingress: [${from}]
`;

  it.each([
    ["an allow-all rule", "{}", "an ingress rule without `from` admits every source"],
    [
      "an ipBlock",
      "{ from: [{ ipBlock: { cidr: 0.0.0.0/0 } }] }",
      "an ipBlock peer admits addresses outside it",
    ],
    [
      "another squad's namespaces",
      `{ from: [{ namespaceSelector: { matchLabels: { crescendo.dev/squad: ${C} } } }] }`,
      `a namespaceSelector must pin crescendo.dev/squad: ${A} or a namespace the Squad allows (spec.allowIngressFrom: monitoring)`,
    ],
    ["every namespace", "{ from: [{ namespaceSelector: {} }] }", "a namespaceSelector must pin"],
  ])("a member's NetworkPolicy admitting %s is refused, saying why", async (_what, from, why) => {
    const stderr = await refused(["-n", A, "apply", "-f", "-"], policy("mine", from));
    expect(stderr).toContain(`namespace ${A} is isolated to squad ${A} (Squad spec.networkIsolation)`);
    expect(stderr).toContain(why);
  });

  it("a member's NetworkPolicy within the squad or from an allowed namespace is accepted", async () => {
    const from = `{ from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { crescendo.dev/squad: ${A} } } }, { namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: monitoring } } }] }`;
    const result = await kubectl(["-n", A, "apply", "-f", "-"], {
      input: policy("within", from),
      as: ATTACKER,
    });
    expect(result.code, result.stderr).toBe(0);
    await kubectl(["-n", A, "delete", "networkpolicy", "within"], { as: ATTACKER });
  });

  it("a key added by hand to the squad's ResourceQuota is removed, with a Warning Event", async () => {
    // As a cluster admin (exempt from the policy), the way a quota drifts when no policy guards it.
    const patched = await kubectl([
      "-n",
      A,
      "patch",
      "resourcequota",
      "crescendo-quota",
      "--type",
      "merge",
      "-p",
      '{"spec":{"hard":{"count/deployments.apps":"0"}}}',
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    const hard = await waitFor(
      "the hand-added quota key removed",
      async () =>
        (
          await client.get<KubeObject & { spec?: { hard?: Record<string, string> } }>(
            ResourceQuotaResource,
            "crescendo-quota",
            A,
          )
        )?.spec?.hard ?? {},
      (h) => !("count/deployments.apps" in h),
      { context },
    );
    expect(hard).toEqual({ pods: "50" });
    const events = await kubectl([
      "get",
      "events",
      "-A",
      "--field-selector",
      "reason=ManualChangeReverted",
      "-o",
      "json",
    ]);
    expect(events.stdout).toContain(
      `removed keys count/deployments.apps added by hand to ResourceQuota ${A}/crescendo-quota`,
    );
  });

  it("a Squad may not adopt a system namespace: refused at admission, and its lead gets nothing there", async () => {
    const applied = await kubectl(["apply", "-f", "-"], {
      input: `apiVersion: crescendo.dev/v1alpha1
kind: Squad
metadata: { name: sec-grabber }
spec:
  namespaces: [{ name: kube-public, adopt: true }]
  members: [{ kind: User, name: ${ATTACKER}, role: lead }]
`,
    });
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toContain("spec.namespaces[0].name");
    expect(applied.stderr).toContain("a Squad may not own a system namespace");
    const can = await kubectl(["auth", "can-i", "create", "rolebindings", "-n", "kube-public"], {
      as: ATTACKER,
    });
    expect(can.stdout.trim()).toBe("no");
  });
});
