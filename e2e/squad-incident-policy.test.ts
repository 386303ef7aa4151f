/**
 * A Squad whose `incidentResponse` the operator refuses, against the real apiserver and the
 * operator from its entry point serving its Alertmanager receiver. The case is one the apiserver
 * accepts and only the operator can refuse: a rule label left empty in YAML (`severity:`, a null
 * the CRD keeps on purpose, since pruned it would be a rule matching every alert). The squad is
 * not stalled for it: its namespace, RBAC and isolation are reconciled and it is Ready, while
 * `IncidentResponseValid` False and one Warning say the policy is refused. An alert of the squad
 * is then recorded and only notified, the promoted Release in its window left alone; once the
 * policy is fixed the condition is True and the next alert is answered by its Revert rule.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IncidentRecord } from "../operator/src/api/incident.js";
import { ReleaseResource, SquadResource } from "../operator/src/api/kinds.js";
import type { ReleaseStatus } from "../operator/src/api/release.js";
import { revisionOf } from "../operator/src/controllers/release/revision.js";
import type { KubeClient } from "../operator/src/runtime/client.js";
import {
  EventResource,
  NamespaceResource,
  NetworkPolicyResource,
  RoleBindingResource,
} from "../operator/src/runtime/resources.js";
import type { KubeObject } from "../operator/src/runtime/types.js";
import { startReceiverOperator, type ReceiverOperator } from "./support/incident-receiver.js";
import { testClient, waitFor, waitForCondition } from "./support/kube.js";

const FIELD_MANAGER = "e2e-squad-incident-policy";
const SQUAD = "ip-pay";
const NS = "ip-shop";
const rule = (severity: string | null) => ({
  correlationWindow: "30m",
  actions: [{ match: { labels: { severity } }, do: "Revert" }],
});

type Condition = { type: string; status: string; reason: string; message: string };
type SquadObject = KubeObject & { status?: { conditions?: Condition[]; incidents?: IncidentRecord[] } };
type Rel = KubeObject & { status?: ReleaseStatus };

let client: KubeClient;
let receiver: ReceiverOperator;
const context = () => receiver.operator.tail(40);

const template = (version: string) => ({
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "web", image: `registry.example.com/web:${version}` }] },
});

async function applySquad(severity: string | null): Promise<void> {
  // Server-side apply sends the null as it is; the CRD keeps it for the operator to refuse.
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Squad",
      metadata: { name: SQUAD },
      spec: {
        namespaces: [{ name: NS }],
        members: [{ kind: "User", name: "ana@example.com", role: "lead" }],
        networkIsolation: "Squad",
        incidentResponse: rule(severity),
      },
    },
    SquadResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

async function applyRelease(version: string): Promise<void> {
  await client.apply(
    {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name: "web", namespace: NS },
      spec: {
        version,
        replicas: 1,
        template: template(version),
        strategy: { canary: { steps: [{ setWeight: 50 }] } },
      },
    },
    ReleaseResource,
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

const squad = () => client.get<SquadObject>(SquadResource, SQUAD);
const condition = (s: SquadObject | undefined, type: string) =>
  s?.status?.conditions?.find((c) => c.type === type);
const release = () => client.get<Rel>(ReleaseResource, "web", NS);

async function post(groupKey: string): Promise<number> {
  const res = await fetch(receiver.url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${receiver.token}` },
    body: JSON.stringify({
      version: "4",
      groupKey,
      status: "firing",
      receiver: "crescendo",
      alerts: [
        {
          status: "firing",
          labels: { alertname: "CheckoutFailing", namespace: NS, severity: "page" },
          startsAt: new Date().toISOString(),
          endsAt: "0001-01-01T00:00:00Z",
          fingerprint: groupKey,
        },
      ],
    }),
  });
  await res.text();
  return res.status;
}

const incidentOf = async (groupKey: string) =>
  (await squad())?.status?.incidents?.find((i) => i.groupKey === groupKey);

beforeAll(async () => {
  client = testClient();
  receiver = await startReceiverOperator("squad-incident-policy");
  await applySquad(null);
}, 60_000);

afterAll(async () => {
  await receiver?.stop();
  await client?.delete(SquadResource, SQUAD).catch(() => undefined);
  client?.close();
});

describe("a Squad whose incidentResponse the operator refuses", () => {
  const r2 = revisionOf(template("2.0.0"));

  it("is reconciled as any other (namespace, RBAC, isolation; Ready), the policy refused apart, once", async () => {
    const ready = (await waitForCondition(
      client,
      SquadResource,
      SQUAD,
      undefined,
      { type: "Ready", status: "True" },
      { timeoutMs: 60_000, context },
    )) as SquadObject;
    expect(condition(ready, "Stalled")?.status).toBe("False");
    const refused = condition(
      (await waitForCondition(
        client,
        SquadResource,
        SQUAD,
        undefined,
        { type: "IncidentResponseValid", status: "False", reason: "InvalidSpec" },
        { timeoutMs: 30_000, context },
      )) as SquadObject,
      "IncidentResponseValid",
    );
    expect(refused?.message).toMatch(
      /^spec\.incidentResponse\.actions\[0\]\.match\.labels\.severity: a label value is needed; .*only notified \(recorded and paged; nothing is reverted or killed\)/,
    );

    const ns = await client.get<KubeObject>(NamespaceResource, NS);
    expect(ns?.metadata.labels?.["crescendo.dev/squad"]).toBe(SQUAD);
    const bindings = await client.list<KubeObject>(RoleBindingResource, { namespace: NS });
    expect(bindings.items.map((b) => b.metadata.name)).toContain("crescendo-lead");
    const policies = await client.list<KubeObject>(NetworkPolicyResource, { namespace: NS });
    expect(policies.items).toHaveLength(1);

    // One Warning for the problem, however many reconciles saw it.
    const warnings = await waitFor(
      "the IncidentResponseInvalid Warning on the Squad",
      async () =>
        (
          await client.list<KubeObject & { reason: string; type: string; regarding: { name: string } }>(
            EventResource,
            { namespace: "default" },
          )
        ).items.filter((e) => e.regarding.name === SQUAD && e.reason === "IncidentResponseInvalid"),
      (found) => found.length > 0,
      { timeoutMs: 30_000, context },
    );
    expect(warnings.map((e) => e.type)).toEqual(["Warning"]);
  });

  it("only notifies an alert of the squad, with the reason, and leaves the change in its window alone", async () => {
    await applyRelease("1.0.0");
    await waitFor("web Healthy at 1.0.0", release, (r) => r?.status?.phase === "Healthy", {
      timeoutMs: 90_000,
      context,
    });
    await applyRelease("2.0.0");
    await waitFor(
      "web promoted to 2.0.0",
      release,
      (r) => r?.status?.phase === "Healthy" && r.status.stableRevision === r2,
      { timeoutMs: 90_000, context },
    );
    // The alert starts after the promotion, so the promotion is a suspect.
    await new Promise((r) => setTimeout(r, 1_500));

    expect(await post("policy-refused")).toBe(200);
    const incident = await waitFor("the incident recorded", () => incidentOf("policy-refused"), Boolean, {
      timeoutMs: 30_000,
      context,
    });
    expect(incident?.suspects.map((s) => `${s.kind} ${s.namespace}/${s.name}`)).toContain(
      `Release ${NS}/web`,
    );
    expect(incident?.actions.map((a) => a.do)).toEqual(["Notify"]);
    expect(incident?.explanation.join("\n")).toMatch(
      /the squad's incidentResponse is invalid \(spec\.incidentResponse\.actions\[0\]\.match\.labels\.severity: a label value is needed.*\): notify only until it is fixed/,
    );
    const web = await release();
    expect(web?.status?.stableRevision).toBe(r2);
    expect(web?.status?.override).toBeUndefined();
    expect(web?.metadata.annotations?.["crescendo.dev/action"]).toBeUndefined();
  });

  it("reads the fixed policy again: the condition is True and the next alert is answered by its rule", async () => {
    await applySquad("page");
    const valid = await waitForCondition(
      client,
      SquadResource,
      SQUAD,
      undefined,
      { type: "IncidentResponseValid", status: "True", reason: "Valid" },
      { timeoutMs: 30_000, context },
    );
    expect(condition(valid as SquadObject, "IncidentResponseValid")?.message).toBe(
      "1 rule, correlationWindow 30m",
    );
    expect(condition(valid as SquadObject, "Ready")?.status).toBe("True");

    expect(await post("policy-fixed")).toBe(200);
    const incident = await waitFor(
      "the second incident recorded",
      () => incidentOf("policy-fixed"),
      Boolean,
      {
        timeoutMs: 30_000,
        context,
      },
    );
    expect(incident?.actions).toContainEqual(expect.objectContaining({ do: "Revert", target: `${NS}/web` }));
    expect(incident?.explanation.join("\n")).toContain("incidentResponse actions[0] Revert match");
  });
});
