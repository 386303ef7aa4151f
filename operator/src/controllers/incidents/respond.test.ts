import { describe, expect, it } from "vitest";
import type { IncidentNotification, IncidentRecord } from "../../api/incident.js";
import { Store } from "../../runtime/store.js";
import type { KubeObject } from "../../runtime/types.js";
import type { WebhookMessage } from "../../incidents/alertmanager.js";
import { actionsFor } from "../../incidents/correlate.js";
import { createResponder, policyOf } from "./respond.js";

const NOW = Date.parse("2030-01-01T03:00:11.000Z");
const FIRING: WebhookMessage = {
  version: "4",
  groupKey: '{}:{alertname="HighErrorRate"}',
  status: "firing",
  alerts: [
    {
      status: "firing",
      labels: { alertname: "HighErrorRate", namespace: "shop" },
      startsAt: "2030-01-01T03:00:00.000Z",
      endsAt: "0001-01-01T00:00:00Z",
      fingerprint: "f1",
    },
  ],
};

type Status = { incidents?: IncidentRecord[]; notifications?: IncidentNotification[] };
type Patch = {
  resource: string;
  name: string;
  body: { status?: Status; metadata?: { annotations?: Record<string, string | null> } };
};

/**
 * A responder over real stores and a client that records its patches and applies them to the
 * Squad; the squad's `incidentResponse`, and `releases` (in namespace shop), when a test needs them.
 */
function responder(oncall: boolean, incidentResponse?: unknown, releases: KubeObject[] = []) {
  const make = () => {
    const s = new Store<KubeObject>();
    s.replace([], "1");
    return s;
  };
  const squads = make();
  const namespaces = make();
  squads.upsert({
    metadata: { name: "payments", resourceVersion: "1" },
    spec: {
      namespaces: [{ name: "shop" }],
      ...(oncall ? { oncall: { webhookSecretRef: { name: "oncall" }, format: "slack" } } : {}),
      ...(incidentResponse === undefined ? {} : { incidentResponse }),
    },
  } as KubeObject);
  const releaseStore = make();
  for (const r of releases) releaseStore.upsert(r);
  namespaces.upsert({ metadata: { name: "shop", labels: { "crescendo.dev/squad": "payments" } } });
  const patches: Patch[] = [];
  const respond = createResponder({
    client: {
      get: () => Promise.resolve(undefined),
      mergePatch: (res, name, _ns, body) => {
        patches.push({ resource: res.kind, name, body: body as Patch["body"] });
        const squad = squads.get(name);
        const status = (body as Patch["body"]).status;
        if (res.kind === "Squad" && squad && status) {
          const version = String(Number(squad.metadata.resourceVersion) + 1);
          squads.upsert({ ...squad, metadata: { ...squad.metadata, resourceVersion: version }, status });
        }
        return Promise.resolve(undefined as never);
      },
    },
    recorder: { record: () => Promise.resolve() },
    logger: { info: () => undefined, warn: () => undefined },
    squads,
    namespaces,
    releases: releaseStore,
    toggles: make(),
    clock: { now: () => NOW },
  });
  return { respond, patches };
}

describe("the receiver records an incident's on-call message with it", () => {
  it("writes the incident and its pending Opened message in one status write; a repeat writes nothing", async () => {
    const { respond, patches } = responder(true);
    await respond(FIRING);
    expect(patches).toHaveLength(1);
    const status = patches[0]!.body.status!;
    expect(status.incidents).toHaveLength(1);
    const id = status.incidents![0]!.id;
    expect(status.notifications).toEqual([
      expect.objectContaining({
        id: `payments/${id}/${NOW}/opened`,
        incident: id,
        event: "Opened",
        attempts: 0,
        nextAttemptAt: new Date(NOW).toISOString(),
      }),
    ]);
    await respond(FIRING);
    expect(patches).toHaveLength(1);

    const resolved: WebhookMessage = {
      ...FIRING,
      status: "resolved",
      alerts: FIRING.alerts.map((a) => ({ ...a, status: "resolved", endsAt: "2030-01-01T03:00:10.000Z" })),
    };
    await respond(resolved);
    expect(patches).toHaveLength(2);
    const after = patches[1]!.body.status!;
    expect(after.incidents![0]!.resolvedAt).toBe("2030-01-01T03:00:10.000Z");
    expect(after.notifications?.map((n) => n.event)).toEqual(["Resolved", "Opened"]);
  });

  it("still scopes, records and pages an alert of a squad whose policy alone is refused: Notify only, and why", async () => {
    // A Revert rule behind a window the operator refuses: no rule of it is trusted.
    const { respond, patches } = responder(true, { correlationWindow: "5s", actions: [{ do: "Revert" }] });
    const summary = await respond(FIRING);
    expect(summary.unscoped).toEqual([]);
    expect(summary.incidents.map((i) => i.squad)).toEqual(["payments"]);
    const status = patches[0]!.body.status!;
    expect(status.incidents![0]!.actions.map((a) => a.do)).toEqual(["Notify"]);
    expect(status.incidents![0]!.explanation).toContain(
      "HighErrorRate (f1): the squad's incidentResponse is invalid (spec.incidentResponse.correlationWindow: correlationWindow must be between 1m and 24h): notify only until it is fixed",
    );
    expect(status.notifications?.map((n) => n.event)).toEqual(["Opened"]);
  });

  it("records no message for a squad without an on-call webhook", async () => {
    const { respond, patches } = responder(false);
    await respond(FIRING);
    expect(patches[0]!.body.status!.incidents).toHaveLength(1);
    expect(patches[0]!.body.status!.notifications).toBeUndefined();
  });
});

describe("an incident's revert", () => {
  it("names the revision the reverted change replaced as the undo's target, not one rolled out since", async () => {
    // r1 ran, r3 was promoted and reverted, then r2 replaced r1 and the alert fired: the undo must
    // return to r1. The controller's default target, the most recent other revision, is r3.
    const entry = (revision: string, finishedAt: string, extra: Record<string, string>) => ({
      revision,
      version: revision,
      startedAt: finishedAt,
      finishedAt,
      ...extra,
    });
    const web = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Release",
      metadata: { name: "web", namespace: "shop" },
      status: {
        phase: "Healthy",
        stableRevision: "r2",
        history: [
          entry("r2", "2030-01-01T02:59:00.000Z", { outcome: "Promoted", replacedRevision: "r1" }),
          entry("r3", "2030-01-01T02:55:00.000Z", { outcome: "RolledBack" }),
          entry("r3", "2030-01-01T02:54:00.000Z", { outcome: "Promoted", replacedRevision: "r1" }),
        ],
      },
    } as KubeObject;
    const { respond, patches } = responder(
      false,
      { correlationWindow: "30m", actions: [{ match: { labels: {} }, do: "Revert" }] },
      [web],
    );
    await respond(FIRING);
    const undo = patches.find((p) => p.resource === "Release")?.body.metadata?.annotations;
    expect(undo).toMatchObject({
      "crescendo.dev/action": "undo",
      "crescendo.dev/undo-revision": "r1",
      "crescendo.dev/failure-started-at": "2030-01-01T03:00:00.000Z",
    });
  });
});

const squad = (incidentResponse: unknown) => ({
  apiVersion: "crescendo.dev/v1alpha1",
  kind: "Squad",
  metadata: { name: "payments" },
  spec: { incidentResponse },
});

describe("policyOf", () => {
  it("reads the squad's rules, with the window in milliseconds", () => {
    expect(
      policyOf(
        squad({ correlationWindow: "1h", actions: [{ match: { labels: { a: "b" } }, do: "Revert" }] }),
      ),
    ).toEqual({ correlationWindowMs: 3_600_000, actions: [{ match: { labels: { a: "b" } }, do: "Revert" }] });
    expect(policyOf(squad(undefined))).toBeUndefined();
  });

  it("trusts no rule a client-side kubectl apply emptied by dropping a null label value", () => {
    const squad = {
      apiVersion: "crescendo.dev/v1alpha1",
      kind: "Squad",
      metadata: {
        name: "payments",
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({
            spec: {
              incidentResponse: { actions: [{ match: { labels: { severity: null } }, do: "Revert" }] },
            },
          }),
        },
      },
      spec: { incidentResponse: { actions: [{ match: { labels: {} }, do: "Revert" }] } },
    };
    const policy = policyOf(squad);
    expect(policy?.actions).toEqual([]);
    expect(policy?.invalid).toMatch(
      /^spec.incidentResponse.actions\[0\].match.labels.severity: a label value is needed/,
    );
  });

  it("trusts no rule of an invalid policy: Notify only, and the record says why", () => {
    // A null label value (a YAML `severity:` left empty) reaches the operator only because the
    // CRD keeps nulls; read as {} it would have made a Revert of every alert.
    const policy = policyOf(squad({ actions: [{ match: { labels: { severity: null } }, do: "Revert" }] }));
    expect(policy?.actions).toEqual([]);
    expect(
      actionsFor(
        { status: "firing", labels: { severity: "page" }, startsAt: "2030-01-01T00:00:00Z" },
        policy,
      ),
    ).toEqual({
      do: ["Notify"],
      why: "the squad's incidentResponse is invalid (spec.incidentResponse.actions[0].match.labels.severity: a label value is needed; null (an empty YAML value) would match every alert): notify only until it is fixed",
    });
  });
});
