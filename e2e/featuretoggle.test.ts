/**
 * FeatureToggle end to end, against a real apiserver and the operator's real entry point: the
 * `crescendo-flags` ConfigMap, OFREP served by the operator and read by the real OpenFeature
 * OFREP provider, the flagd provider in file mode agreeing with it, status conditions (Stale,
 * OverActiveLimit, InvalidSpec), the OpenFeature Operator's FeatureFlag, and a guard Release's
 * rollback killing a toggle within its own reconcile (about a second; the test prints the figure).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlagdProvider } from "@openfeature/flagd-provider";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OpenFeature, type Client, type EvaluationContext } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import { parseStrict } from "../operator/src/flags/validate.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import {
  ConfigMapResource,
  CustomResourceDefinitionResource,
  EventResource,
  FeatureFlagResource,
} from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { kubeconfigPath, kubectl, testClient, waitFor, waitForCondition } from "./support/kube.js";
import { evaluateFlag, ofrepTokens } from "./support/ofrep.js";
import { OperatorProcess } from "./support/operator.js";

const EXAMPLES = join(import.meta.dirname, "../examples");
/** A squad of this file's own, so nothing here depends on (or disturbs) the other e2e files. */
const NS = "flags-e2e";
const LIMITED_NS = "flags-e2e-limits";

let client: KubeClient;
let operator: OperatorProcess;
let tmp: string;
let tokenFor: (namespace: string) => Promise<string>;
const context = () => operator.tail(60);

interface Conditioned {
  status?: {
    conditions?: { type: string; status: string; reason: string; message: string }[];
    [field: string]: unknown;
  };
}
type Toggle = KubeObject & Conditioned;

async function apply(yaml: string): Promise<void> {
  const result = await kubectl(["apply", "-f", "-"], { input: yaml });
  expect(result.code, result.stderr).toBe(0);
}

function toggleYaml(name: string, namespace: string, spec: string): string {
  return `apiVersion: crescendo.dev/v1alpha1
kind: FeatureToggle
metadata: { name: ${name}, namespace: ${namespace} }
spec:
${spec
  .trim()
  .split("\n")
  .map((line) => `  ${line.trim()}`)
  .join("\n")}
`;
}

/**
 * One OFREP evaluation over plain HTTP (what the provider does, without its caching or retries),
 * as an app of the namespace would: with its ServiceAccount token (the operator's default auth).
 */
async function evaluate(
  namespace: string,
  key: string,
  ctx: EvaluationContext = {},
): Promise<{
  status: number;
  body: { value?: unknown; variant?: string; reason?: string; errorCode?: string };
}> {
  const res = await evaluateFlag(operator.ofrepPort, namespace, key, ctx, await tokenFor(namespace));
  return { status: res.status, body: (await res.json()) as never };
}

async function servedValue(namespace: string, key: string, ctx: EvaluationContext = {}): Promise<unknown> {
  return (await evaluate(namespace, key, ctx)).body.value;
}

function getToggle(name: string, namespace = NS): Promise<Toggle | undefined> {
  return client.get<Toggle>(FeatureToggleResource, name, namespace);
}

const condition = (obj: KubeObject | undefined, type: string) =>
  (obj as Conditioned | undefined)?.status?.conditions?.find((c) => c.type === type);

async function eventsFor(namespace: string, name: string): Promise<{ reason: string; note: string }[]> {
  const list = await client.list<KubeObject & { reason: string; note: string; regarding: { name: string } }>(
    EventResource,
    { namespace },
  );
  return list.items.filter((e) => e.regarding.name === name);
}

/** The ConfigMap's document, once it holds `keys`. */
async function flagsDocument(namespace: string, keys: string[]): Promise<string> {
  const cm = await waitFor(
    `ConfigMap ${namespace}/crescendo-flags with ${keys.join(", ")}`,
    () =>
      client.get<KubeObject & { data?: Record<string, string> }>(
        ConfigMapResource,
        "crescendo-flags",
        namespace,
      ),
    (obj) => {
      const text = obj?.data?.["flags.flagd.json"];
      if (!text) return false;
      const flags = (JSON.parse(text) as { flags: Record<string, unknown> }).flags;
      return keys.every((k) => k in flags);
    },
    { context },
  );
  return cm?.data?.["flags.flagd.json"] ?? "";
}

beforeAll(async () => {
  client = testClient();
  tokenFor = ofrepTokens(client);
  tmp = await mkdtemp(join(tmpdir(), "crescendo-e2e-flags-"));
  operator = await OperatorProcess.start({ kubeconfig: kubeconfigPath(), name: "featuretoggle" });
  await apply(`apiVersion: crescendo.dev/v1alpha1
kind: Squad
metadata: { name: ${NS} }
spec: {}
---
apiVersion: crescendo.dev/v1alpha1
kind: Squad
metadata: { name: ${LIMITED_NS} }
spec: { toggles: { maxActive: 1 } }
`);
  for (const squad of [NS, LIMITED_NS]) {
    await waitForCondition(
      client,
      SquadResource,
      squad,
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
  }
});

afterAll(async () => {
  await OpenFeature.close();
  await operator?.stop();
  client?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("examples/featuretoggle.yaml", () => {
  let ofrep: Client;
  let flagd: Client;
  let document: string;

  beforeAll(async () => {
    const squad = await kubectl(["apply", "-f", join(EXAMPLES, "squad.yaml")]);
    expect(squad.code, squad.stderr).toBe(0);
    await waitForCondition(
      client,
      SquadResource,
      "checkout",
      undefined,
      { type: "Ready", status: "True" },
      { context },
    );
    const toggles = await kubectl(["apply", "-f", join(EXAMPLES, "featuretoggle.yaml")]);
    expect(toggles.code, toggles.stderr).toBe(0);
    for (const name of ["one-click-checkout", "checkout-theme", "new-payment-form"]) {
      await waitForCondition(
        client,
        FeatureToggleResource,
        name,
        "checkout",
        { type: "Ready", status: "True" },
        { context },
      );
    }
    document = await flagsDocument("checkout", ["one-click-checkout", "checkout-theme", "payment-form-v2"]);
    const file = join(tmp, "flags.flagd.json");
    await writeFile(file, document);
    await OpenFeature.setProviderAndWait(
      "ofrep",
      new OFREPProvider({
        baseUrl: `http://127.0.0.1:${operator.ofrepPort}/namespaces/checkout`,
        headers: { Authorization: `Bearer ${await tokenFor("checkout")}` },
      }),
    );
    await OpenFeature.setProviderAndWait(
      "flagd-file",
      new FlagdProvider({ resolverType: "in-process", offlineFlagSourcePath: file }),
    );
    ofrep = OpenFeature.getClient("ofrep");
    flagd = OpenFeature.getClient("flagd-file");
  });

  it("writes the crescendo-flags ConfigMap: a document flagd-core's strict parse accepts", async () => {
    const storage = parseStrict(document);
    expect([...storage.getFlags().keys()].sort()).toEqual([
      "checkout-theme",
      "one-click-checkout",
      "payment-form-v2",
    ]);
    expect(JSON.parse(document)).toMatchObject({ metadata: { flagSetId: "checkout" } });
    const cm = await client.get<KubeObject>(ConfigMapResource, "crescendo-flags", "checkout");
    expect(cm?.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "crescendo",
      "crescendo.dev/squad": "checkout",
      "crescendo.dev/tribe": "payments",
    });
    expect(cm?.metadata.ownerReferences?.map((o) => o.name).sort()).toEqual([
      "checkout-theme",
      "new-payment-form",
      "one-click-checkout",
    ]);
  });

  it("serves them over OFREP to the real OpenFeature provider", async () => {
    // A string variant by targeting rule, and the default when no rule matches.
    expect(await ofrep.getStringDetails("checkout-theme", "x", { email: "ann@example.com" })).toMatchObject({
      value: "midnight",
      variant: "midnight",
      reason: "TARGETING_MATCH",
    });
    expect(await ofrep.getStringValue("checkout-theme", "x", { country: "at" })).toBe("spring");
    expect(await ofrep.getStringDetails("checkout-theme", "x", { country: "fr" })).toMatchObject({
      value: "classic",
      reason: "DEFAULT",
    });
    // A boolean percentage rollout: about a quarter of targeting keys, sticky per key.
    const keys = Array.from({ length: 400 }, (_, i) => `customer-${i}`);
    const split = await Promise.all(
      keys.map((k) => ofrep.getBooleanValue("one-click-checkout", false, { targetingKey: k })),
    );
    const share = split.filter(Boolean).length / split.length;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.35);
    expect(await ofrep.getBooleanValue("one-click-checkout", false, { targetingKey: "customer-7" })).toBe(
      split[7],
    );
    // The guarded toggle serves its spec while its Release is not rolled back (here: absent).
    expect(await ofrep.getBooleanValue("payment-form-v2", false, { targetingKey: "u" })).toBe(true);
    const guarded = await getToggle("new-payment-form", "checkout");
    expect(condition(guarded, "Ready")?.message).toContain("Guard Release web not found");
  });

  it("gives the same answers as the flagd provider reading the ConfigMap as a file", async () => {
    const contexts: EvaluationContext[] = [
      {},
      { targetingKey: "a", email: "ann@example.com" },
      { targetingKey: "b", country: "de" },
      ...Array.from({ length: 30 }, (_, i) => ({ targetingKey: `k-${i}`, country: i % 2 ? "at" : "us" })),
    ];
    for (const ctx of contexts) {
      for (const [key, kind] of [
        ["one-click-checkout", "boolean"],
        ["payment-form-v2", "boolean"],
        ["checkout-theme", "string"],
      ] as const) {
        const [viaOfrep, viaFile] =
          kind === "boolean"
            ? await Promise.all([
                ofrep.getBooleanDetails(key, false, ctx),
                flagd.getBooleanDetails(key, false, ctx),
              ])
            : await Promise.all([
                ofrep.getStringDetails(key, "x", ctx),
                flagd.getStringDetails(key, "x", ctx),
              ]);
        expect(viaOfrep.errorCode).toBeUndefined();
        expect({ value: viaOfrep.value, variant: viaOfrep.variant, reason: viaOfrep.reason }).toEqual({
          value: viaFile.value,
          variant: viaFile.variant,
          reason: viaFile.reason,
        });
      }
    }
  });

  it("reports toggle state and evaluations as metrics", async () => {
    const text = await operator.metrics();
    expect(text).toMatch(
      /crescendo_featuretoggle_state\{namespace="checkout",toggle="one-click-checkout",state="Enabled"\} 1/,
    );
    expect(text).toMatch(/crescendo_featuretoggle_stale\{namespace="checkout",toggle="checkout-theme"\} 0/);
    expect(text).toMatch(
      /crescendo_featuretoggle_evaluations_total\{namespace="checkout",flag="checkout-theme",reason="TARGETING_MATCH"\} [1-9]/,
    );
    expect(text).toMatch(
      /crescendo_ofrep_request_duration_seconds_count\{route="evaluate_flag",code="200"\} [1-9]/,
    );
  });
});

describe("toggles that change", () => {
  it("serves a new value once the spec changes", async () => {
    const spec = (defaultVariant: string) =>
      `variants: { "on": true, "off": false }\ndefaultVariant: "${defaultVariant}"`;
    await apply(toggleYaml("switch", NS, spec("off")));
    await waitFor(
      "switch served as false",
      () => servedValue(NS, "switch"),
      (v) => v === false,
      { context },
    );
    await apply(toggleYaml("switch", NS, spec("on")));
    await waitFor(
      "switch served as true",
      () => servedValue(NS, "switch"),
      (v) => v === true,
      { context },
    );
    const toggle = await waitFor(
      "switch status for generation 2",
      () => getToggle("switch"),
      (t) => t?.status?.["observedGeneration"] === 2,
      { context },
    );
    expect(toggle?.status).toMatchObject({ effectiveState: "Enabled", servedVariant: "on" });
  });

  it("is Stale once past expiresAt, with an Event, and still served", async () => {
    await apply(
      toggleYaml(
        "old-banner",
        NS,
        `variants: { "on": true, "off": false }\ndefaultVariant: "on"\nexpiresAt: "2020-01-01T00:00:00Z"`,
      ),
    );
    const toggle = await waitForCondition(
      client,
      FeatureToggleResource,
      "old-banner",
      NS,
      { type: "Stale", status: "True", reason: "Expired" },
      { context },
    );
    expect(toggle.status).toMatchObject({ stale: true });
    await waitFor(
      "a ToggleStale event",
      () => eventsFor(NS, "old-banner"),
      (events) => events.some((e) => e.reason === "ToggleStale"),
      { context },
    );
    expect(await servedValue(NS, "old-banner")).toBe(true);
    const columns = await kubectl(["get", "ft", "old-banner", "-n", NS]);
    expect(columns.stdout).toMatch(/old-banner\s+Enabled\s+on\s+true/);
  });

  it("marks the toggle beyond the squad's maxActive as OverActiveLimit, and still serves it", async () => {
    const spec = `variants: { "on": true, "off": false }\ndefaultVariant: "on"`;
    await apply(toggleYaml("first", LIMITED_NS, spec));
    await waitForCondition(
      client,
      FeatureToggleResource,
      "first",
      LIMITED_NS,
      { type: "OverActiveLimit", status: "False" },
      { context },
    );
    await apply(toggleYaml("second", LIMITED_NS, spec));
    const second = await waitForCondition(
      client,
      FeatureToggleResource,
      "second",
      LIMITED_NS,
      { type: "OverActiveLimit", status: "True", reason: "ActiveLimitExceeded" },
      { context },
    );
    expect(condition(second, "OverActiveLimit")?.message).toContain("allows 1");
    expect(condition(await getToggle("first", LIMITED_NS), "OverActiveLimit")?.status).toBe("False");
    expect(await servedValue(LIMITED_NS, "second")).toBe(true);
  });

  it.each([
    [
      "defaultVariant not a variant",
      `variants: { "on": true, "off": false }\ndefaultVariant: maybe`,
      'spec.defaultVariant: variant "maybe" is not defined',
    ],
    [
      "variants of mixed types",
      `variants: { "on": true, "off": "no" }\ndefaultVariant: "off"`,
      "spec.variants: all variants must have the same type",
    ],
  ])("refuses %s: Stalled InvalidSpec with the message, and not served", async (_what, spec, message) => {
    const name = `invalid-${message.includes("maybe") ? "default" : "mixed"}`;
    await apply(toggleYaml(name, NS, spec));
    const toggle = await waitForCondition(
      client,
      FeatureToggleResource,
      name,
      NS,
      { type: "Stalled", status: "True", reason: "InvalidSpec" },
      { context },
    );
    expect(condition(toggle, "Stalled")?.message).toContain(message);
    expect(condition(toggle, "Ready")?.status).toBe("False");
    expect((await evaluate(NS, name)).body.errorCode).toBe("FLAG_NOT_FOUND");
  });

  it("shows targeting that can return a missing variant as InvalidFlag in kubectl get, until it is fixed", async () => {
    const name = "ghost-variant";
    const variants = `variants: { "on": true, "off": false }\ndefaultVariant: "off"`;
    await apply(toggleYaml(name, NS, `${variants}\ntargeting: { "if": [true, "ghost", "off"] }`));
    const toggle = await waitForCondition(
      client,
      FeatureToggleResource,
      name,
      NS,
      { type: "Stalled", status: "True", reason: "InvalidFlag" },
      { context },
    );
    expect(condition(toggle, "Stalled")?.message).toContain('targeting can return variant "ghost"');
    // Served with its default variant meanwhile, so no app's evaluation errors.
    expect(await servedValue(NS, name)).toBe(false);
    // READY and REASON columns, as `kubectl get sq` and `kubectl get rel` show theirs.
    const refused = await kubectl(["get", "ft", name, "-n", NS, "--no-headers"]);
    expect(refused.stdout).toMatch(/\bFalse\s+InvalidFlag\b/);

    await apply(toggleYaml(name, NS, `${variants}\ntargeting: { "if": [true, "on", "off"] }`));
    await waitForCondition(
      client,
      FeatureToggleResource,
      name,
      NS,
      { type: "Ready", status: "True", reason: "Serving" },
      { context },
    );
    expect(await servedValue(NS, name)).toBe(true);
    const fixed = await kubectl(["get", "ft", name, "-n", NS, "--no-headers"]);
    expect(fixed.stdout).toMatch(/\bTrue\s+Serving\b/);
    await kubectl(["delete", "ft", name, "-n", NS, "--wait=false"]);
  });
});

describe("the OpenFeature Operator's FeatureFlag", () => {
  const crd = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "featureflags.core.openfeature.dev" },
    spec: {
      group: "core.openfeature.dev",
      names: {
        kind: "FeatureFlag",
        plural: "featureflags",
        singular: "featureflag",
        listKind: "FeatureFlagList",
      },
      scope: "Namespaced",
      versions: [
        {
          name: "v1beta1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  };

  afterAll(async () => {
    await client.delete(CustomResourceDefinitionResource, crd.metadata.name);
  });

  it("is written as soon as its CRD is installed, with the same flags as the ConfigMap", async () => {
    await apply(toggleYaml("ff-probe", NS, `variants: { "on": true, "off": false }\ndefaultVariant: "on"`));
    await flagsDocument(NS, ["ff-probe"]);
    expect(
      await client.get(FeatureFlagResource, "crescendo-flags", NS).catch(() => undefined),
    ).toBeUndefined();
    await client.apply(crd as KubeObject, CustomResourceDefinitionResource, {
      fieldManager: "e2e",
      force: true,
    });
    const ff = await waitFor(
      "FeatureFlag crescendo-flags",
      () =>
        client.get<KubeObject & { spec?: { flagSpec?: { flags?: Record<string, unknown> } } }>(
          FeatureFlagResource,
          "crescendo-flags",
          NS,
        ),
      (obj) => obj?.spec?.flagSpec?.flags?.["ff-probe"] !== undefined,
      { context },
    );
    const configMapFlags = JSON.parse(await flagsDocument(NS, ["ff-probe"])) as { flags: unknown };
    expect(ff?.spec?.flagSpec?.flags).toEqual(configMapFlags.flags);
  });
});

/** How a test drives the guard Release through Healthy → RolledBack → Healthy. */
interface ReleaseDriver {
  mode: string;
  /** Creates the Release and waits until it is Healthy. */
  healthy(): Promise<void>;
  /** Starts the rollback (returns once it is asked for, not once it is done). */
  rollBack(): Promise<void>;
  /** Makes the Release Healthy again and waits for it. */
  recover(): Promise<void>;
}

const GUARD_RELEASE = "guard-web";

function releaseYaml(version: string): string {
  return `apiVersion: crescendo.dev/v1alpha1
kind: Release
metadata: { name: ${GUARD_RELEASE}, namespace: ${NS} }
spec:
  version: "${version}"
  replicas: 1
  template:
    metadata: { labels: { app: ${GUARD_RELEASE} } }
    spec: { containers: [{ name: web, image: "registry.example.com/web:${version}" }] }
  strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } }
`;
}

async function releasePhase(): Promise<string | undefined> {
  const release = await client.get<KubeObject & { status?: { phase?: string } }>(
    ReleaseResource,
    GUARD_RELEASE,
    NS,
  );
  return release?.status?.phase;
}

const waitForPhase = (phases: string[], extra: (s: Record<string, unknown>) => boolean = () => true) =>
  waitFor(
    `Release ${GUARD_RELEASE} ${phases.join(" or ")}`,
    () => client.get<KubeObject & { status?: Record<string, unknown> }>(ReleaseResource, GUARD_RELEASE, NS),
    (r) => phases.includes(r?.status?.["phase"] as string) && extra(r?.status ?? {}),
    { context, timeoutMs: 120_000 },
  );

/** The operator runs the Release controller: a real rollback, asked for with the `abort` action. */
const realRollback: ReleaseDriver = {
  mode: "a real rollback by the Release controller (abort action)",
  async healthy() {
    await apply(releaseYaml("1.0.0"));
    await waitForPhase(["Healthy"]);
  },
  async rollBack() {
    await apply(releaseYaml("2.0.0"));
    // Rolling: progressing through the steps, or already held at the pause step.
    await waitForPhase(["Progressing", "Paused"], (s) => s["canaryRevision"] !== undefined);
    const annotated = await kubectl([
      "annotate",
      "release",
      GUARD_RELEASE,
      "-n",
      NS,
      "crescendo.dev/action=abort",
      "crescendo.dev/action-id=guard-e2e",
      "--overwrite",
    ]);
    expect(annotated.code, annotated.stderr).toBe(0);
  },
  async recover() {
    await apply(releaseYaml("1.0.0"));
    await waitForPhase(["Healthy"]);
  },
};

/** No Release controller: the phase is written by hand through the /status subresource. */
const handWrittenPhase: ReleaseDriver = {
  mode: "a phase written by hand through /status",
  async healthy() {
    await apply(releaseYaml("1.0.0"));
    await this.recover();
  },
  async rollBack() {
    await client.mergePatch(
      ReleaseResource,
      GUARD_RELEASE,
      NS,
      { status: { phase: "RolledBack", canaryRevision: "c0ffee" } },
      { subresource: "status" },
    );
  },
  async recover() {
    await client.mergePatch(
      ReleaseResource,
      GUARD_RELEASE,
      NS,
      { status: { phase: "Healthy" } },
      {
        subresource: "status",
      },
    );
  },
};

/**
 * A guarded toggle is killed when its Release rolls back. With the Release controller in the
 * operator (registered in main.ts), the rollback is real; without it, the phase can be written by
 * hand, but only when CRESCENDO_E2E_FAKE_RELEASE_STATUS says so (a running Release controller
 * would overwrite a hand-written phase, so the test never writes one behind its back).
 */
describe("a guard Release rolling back", () => {
  it("kills the toggle right after the rollback, with an Event, and a rearm restores it once the Release is Healthy", async (ctx) => {
    const real = /controller_runtime_max_concurrent_reconciles\{controller="release"\}/.test(
      await operator.metrics(),
    );
    if (!real && !process.env.CRESCENDO_E2E_FAKE_RELEASE_STATUS) {
      ctx.skip(
        "the operator runs no Release controller; set CRESCENDO_E2E_FAKE_RELEASE_STATUS=1 to write the guard Release's phase by hand",
      );
    }
    const driver = real ? realRollback : handWrittenPhase;
    console.log(`[e2e] guard test driven by ${driver.mode}`);
    const served = () => servedValue(NS, "guarded", { targetingKey: "u" });

    await driver.healthy();
    await apply(
      toggleYaml(
        "guarded",
        NS,
        `variants: { "on": true, "off": false }\ndefaultVariant: "off"\nrollout: { variant: "on", percentage: 100 }\nguard: { release: ${GUARD_RELEASE} }`,
      ),
    );
    await waitFor("guarded served as true", served, (v) => v === true, { context });

    // Poll the Release and OFREP together every 50 ms. The rollback happened after the last poll
    // that still saw another phase was sent, so flip time minus that is an upper bound.
    let lastNotRolledBack = Date.now();
    await driver.rollBack();
    let latencyMs: number | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const sent = Date.now();
      const [phase, value] = await Promise.all([releasePhase(), served()]);
      if (phase !== "RolledBack") lastNotRolledBack = sent;
      if (value === false) {
        latencyMs = Date.now() - lastNotRolledBack;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(
      `[e2e] guarded toggle served its default variant at most ${latencyMs ?? "∞"} ms after the rollback`,
    );
    expect(latencyMs).toBeDefined();
    // Typically 200-500 ms on an idle machine (printed above); the bound is a sanity check that
    // the kill follows the rollback's own reconcile, not a speed claim: a loaded two-core CI
    // machine measured 1.35 s.
    expect(latencyMs).toBeLessThan(5000);

    const killed = await waitFor(
      "guarded KilledByRollback in status",
      () => getToggle("guarded"),
      (t) => t?.status?.["effectiveState"] === "KilledByRollback",
      { context },
    );
    expect(killed?.status).toMatchObject({ servedVariant: "off", killedBy: expect.any(String) });
    expect(condition(killed, "KilledByRollback")).toMatchObject({
      status: "True",
      reason: "GuardRolledBack",
    });
    expect(condition(killed, "Ready")).toMatchObject({ status: "True", reason: "KilledByRollback" });
    await waitFor(
      "a ToggleKilled event",
      () => eventsFor(NS, "guarded"),
      (events) => events.some((e) => e.reason === "ToggleKilled"),
      { context },
    );

    const rearm = (id: string) =>
      kubectl([
        "annotate",
        "featuretoggle",
        "guarded",
        "-n",
        NS,
        "crescendo.dev/action=rearm",
        `crescendo.dev/action-id=${id}`,
        "--overwrite",
      ]);
    // A rearm while the Release is still rolled back is refused, and says so.
    expect((await rearm("too-early")).code).toBe(0);
    const refused = await waitFor(
      "the early rearm recorded",
      () => getToggle("guarded"),
      (t) => (t?.status?.["lastAction"] as { id?: string } | undefined)?.id === "too-early",
      { context },
    );
    expect((refused?.status?.["lastAction"] as { result: string }).result).toMatch(/^refused/);
    expect(await served()).toBe(false);

    // Healthy again is not enough on its own: a person re-arms.
    await driver.recover();
    await new Promise((r) => setTimeout(r, 300));
    expect(await served()).toBe(false);
    expect((await rearm("x")).code).toBe(0);
    await waitFor("guarded served as true again", served, (v) => v === true, { context });
    const rearmed = await waitFor(
      "guarded Enabled in status",
      () => getToggle("guarded"),
      (t) => t?.status?.["effectiveState"] === "Enabled",
      { context },
    );
    expect(rearmed?.status?.["lastAction"]).toMatchObject({ id: "x", action: "rearm", result: "re-armed" });
    await waitFor(
      "a ToggleRearmed event",
      () => eventsFor(NS, "guarded"),
      (events) => events.some((e) => e.reason === "ToggleRearmed"),
      { context },
    );
  });
});

describe("a namespace whose last toggle is deleted", () => {
  it("loses its ConfigMap, and OFREP finds no flags there", async () => {
    await apply(
      toggleYaml("lonely", LIMITED_NS, `variants: { "on": true, "off": false }\ndefaultVariant: "on"`),
    );
    await flagsDocument(LIMITED_NS, ["lonely"]);
    const deleted = await kubectl(["delete", "ft", "--all", "-n", LIMITED_NS, "--wait=true"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    await waitFor(
      "ConfigMap crescendo-flags deleted",
      () => client.get(ConfigMapResource, "crescendo-flags", LIMITED_NS),
      (cm) => cm === undefined,
      { context },
    );
    expect((await evaluate(LIMITED_NS, "lonely")).status).toBe(404);
    const text = await operator.metrics();
    expect(text).not.toContain(`namespace="${LIMITED_NS}",toggle="lonely"`);
  });
});
