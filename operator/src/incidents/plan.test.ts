import { describe, expect, it } from "vitest";
import {
  incidentRecords,
  MAX_INCIDENT_ITEMS,
  MAX_SQUAD_INCIDENTS,
  type IncidentRecord,
} from "../api/incident.js";
import type { WebhookMessage } from "./alertmanager.js";
import type { Change, ResponsePolicy } from "./correlate.js";
import {
  incidentActionId,
  incidentId,
  incidentOf,
  planIncident,
  refiredIncidentId,
  settleActions,
  type IncidentInput,
  type ReleaseView,
} from "./plan.js";

const T0 = Date.parse("2030-01-01T03:00:00.000Z");
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const GROUP = '{}/{severity="critical"}:{alertname="HighErrorRate"}';
const ID = incidentId(GROUP);
const ACTION_ID = incidentActionId(ID);

const owners: Record<string, string> = { shop: "payments", search: "discovery" };

type AlertIn = WebhookMessage["alerts"][number];
const alert = (labels: Record<string, string>, over: Partial<AlertIn> = {}): AlertIn => ({
  status: "firing",
  labels: { alertname: "HighErrorRate", severity: "critical", ...labels },
  startsAt: iso(T0),
  endsAt: "0001-01-01T00:00:00Z",
  fingerprint: "f1",
  ...over,
});
const message = (alerts: AlertIn[], over: Partial<WebhookMessage> = {}): WebhookMessage => ({
  version: "4",
  groupKey: GROUP,
  status: alerts.every((a) => a.status === "resolved") ? "resolved" : "firing",
  alerts,
  ...over,
});

const web = (at: number, revision = "r2"): Change => ({
  kind: "Release",
  namespace: "shop",
  name: "web",
  squad: "payments",
  at: iso(at),
  revision,
});
const flag = (at: number, name = "new-checkout", namespace = "shop"): Change => ({
  kind: "FeatureToggle",
  namespace,
  name,
  squad: owners[namespace] ?? "",
  at: iso(at),
});
const searchRelease: Change = {
  kind: "Release",
  namespace: "search",
  name: "api",
  squad: "discovery",
  at: iso(T0 - 5 * MIN),
  revision: "s2",
};

const REVERT_AND_KILL: ResponsePolicy = {
  correlationWindowMs: 30 * MIN,
  actions: [
    { match: { labels: { severity: "critical" } }, do: "Revert" },
    { match: { labels: { severity: "critical" } }, do: "KillToggles" },
  ],
};

function input(over: Partial<IncidentInput> & { records?: IncidentRecord[]; policy?: ResponsePolicy } = {}) {
  const { records = [], policy = REVERT_AND_KILL, ...rest } = over;
  const releases: Record<string, ReleaseView> = {
    "shop/web": { stableRevision: "r2", phase: "Healthy" },
    "search/api": { stableRevision: "s2", phase: "Healthy" },
  };
  const base: IncidentInput = {
    message: message([alert({ namespace: "shop" })]),
    now: T0 + 2 * MIN,
    squadOf: (ns) => owners[ns],
    squad: (name) =>
      name === "payments"
        ? { policy, incidents: records }
        : name === "discovery"
          ? { incidents: [] }
          : undefined,
    changes: [web(T0 - 10 * MIN), flag(T0 - 20 * MIN), searchRelease],
    release: (ns, name) => releases[`${ns}/${name}`],
    toggle: (ns, name) => (ns === "shop" && name === "new-checkout" ? { killed: false } : undefined),
  };
  return { ...base, ...rest };
}

/** Runs the plan and feeds its records back, as the Squad's status would between notifications. */
function again(i: IncidentInput, records: IncidentRecord[], over: Partial<IncidentInput> = {}) {
  return planIncident({
    ...i,
    squad: (name) => (name === "payments" ? { policy: REVERT_AND_KILL, incidents: records } : i.squad(name)),
    ...over,
  });
}

describe("planIncident", () => {
  it("reverts the most recent Release change and kills the toggle changed in the window, once", () => {
    const plan = planIncident(input());
    expect(plan.unscoped).toEqual([]);
    expect(plan.squads).toHaveLength(1);
    const p = plan.squads[0]!;
    expect(p.squad).toBe("payments");
    expect(p.changed).toBe(true);
    expect(p.writes).toEqual([
      // The alert's start goes with the undo: delivery metrics count the recovery from it.
      {
        kind: "Release",
        namespace: "shop",
        name: "web",
        action: "undo",
        actionId: ACTION_ID,
        failureStartedAt: iso(T0),
      },
      {
        kind: "FeatureToggle",
        namespace: "shop",
        name: "new-checkout",
        action: "kill",
        actionId: ACTION_ID,
        // The kill's on-call message says why, with the incident and its alert.
        reason: expect.stringMatching(new RegExp(`^incident ${ID} \\(HighErrorRate\\): changed at `)),
      },
    ]);
    const r = p.incidents[0]!;
    expect(r).toMatchObject({
      id: ID,
      alertname: "HighErrorRate",
      firedAt: iso(T0),
      receivedAt: iso(T0 + 2 * MIN),
      alerts: ["HighErrorRate (f1)"],
    });
    expect(r.suspects.map((s) => `${s.kind} ${s.name} ${s.at}`)).toEqual([
      `Release web ${iso(T0 - 10 * MIN)}`,
      `FeatureToggle new-checkout ${iso(T0 - 20 * MIN)}`,
    ]);
    expect(r.actions.map((a) => [a.do, a.target, a.state])).toEqual([
      ["Revert", "shop/web", "Requested"],
      ["KillToggles", "shop/new-checkout", "Requested"],
      ["Notify", undefined, "Done"],
    ]);
    expect(r.explanation.join("\n")).toContain("revert Release shop/web revision r2");
    expect(p.events.map((e) => [e.reason, e.on.kind])).toEqual([
      ["IncidentOpened", "Squad"],
      ["IncidentRevert", "Release"],
      ["IncidentKill", "FeatureToggle"],
    ]);
    // The record is what the CRD accepts.
    expect(incidentRecords.safeParse(p.incidents).success).toBe(true);
  });

  it("reverts to the revision the change replaced, named, not to the controller's most recent other revision", () => {
    // r2 replaced r1; r3 was rolled out after r1 and reverted before r2 came. The controller's
    // default (the most recent ControllerRevision other than the stable) would be r3: the bad one.
    const p = planIncident(input({ changes: [{ ...web(T0 - 10 * MIN), replaced: "r1" }] })).squads[0]!;
    expect(p.writes).toEqual([
      {
        kind: "Release",
        namespace: "shop",
        name: "web",
        action: "undo",
        actionId: ACTION_ID,
        failureStartedAt: iso(T0),
        revision: "r1",
      },
    ]);
  });

  it("is idempotent: a repeat of the group (or a new leader receiving it) writes nothing again", () => {
    const i = input();
    const first = planIncident(i).squads[0]!;
    const repeat = again(i, first.incidents, { now: T0 + 7 * MIN }).squads[0]!;
    expect(repeat.writes).toEqual([]);
    expect(repeat.events).toEqual([]);
    expect(repeat.changed).toBe(false);
    expect(repeat.incidents).toEqual(first.incidents);
  });

  it("after the revert, the Release runs the previous revision: a repeat neither reverts again nor says it did not", () => {
    const i = input();
    const first = planIncident(i).squads[0]!;
    const reverted = again(i, first.incidents, {
      release: () => ({ stableRevision: "r1", phase: "Healthy" }),
      changes: [...i.changes, web(T0 + 3 * MIN, "r1")],
    }).squads[0]!;
    expect(reverted.writes).toEqual([]);
    expect(reverted.incidents[0]!.actions.filter((a) => a.do === "Revert")).toHaveLength(1);
  });

  it("a Release or toggle carrying this incident's action id was asked before (the status write was lost): asked again, not refused", () => {
    const p = planIncident(
      input({
        release: () => ({ stableRevision: "r1", phase: "Healthy", actionIds: [ACTION_ID] }),
        toggle: () => ({ killed: true, actionIds: [ACTION_ID] }),
      }),
    ).squads[0]!;
    expect(p.writes.map((w) => w.kind)).toEqual(["Release", "FeatureToggle"]);
    expect(p.incidents[0]!.actions.map((a) => a.state)).toEqual(["Requested", "Requested", "Done"]);
  });

  it("does not revert a Release that no longer runs the suspect revision, and says why", () => {
    const p = planIncident(input({ release: () => ({ stableRevision: "r3", phase: "Healthy" }) })).squads[0]!;
    expect(p.writes.map((w) => w.kind)).toEqual(["FeatureToggle"]);
    expect(p.incidents[0]!.actions[0]).toMatchObject({
      do: "Revert",
      state: "NotDone",
      result: expect.stringContaining("runs revision r3 now, not the suspect revision r2"),
    });
  });

  it("a later alert does not revert the revert: the undo an incident made is never undone by the next", () => {
    // The first incident reverted r2 (promoted at T0-10m) to r1 at T0+1m; another alert group
    // starting after the revert finds the undo as the most recent Release change.
    const undo: Change = { ...web(T0 + MIN, "r1"), undo: true };
    const later = planIncident(
      input({
        message: message([alert({ namespace: "shop" }, { startsAt: iso(T0 + 2 * MIN) })], {
          groupKey: '{}:{alertname="LatencyHigh"}',
        }),
        now: T0 + 3 * MIN,
        changes: [undo, web(T0 - 10 * MIN)],
        release: () => ({ stableRevision: "r1", phase: "Healthy" }),
      }),
    ).squads[0]!;
    expect(later.writes.filter((w) => w.kind === "Release")).toEqual([]);
    expect(later.incidents[0]!.actions[0]).toMatchObject({
      do: "Revert",
      target: "shop/web",
      state: "NotDone",
      result: expect.stringContaining("runs revision r1 now, not the suspect revision r2"),
    });
  });

  it("records a Release or toggle that is gone, and a toggle already killed, without writing", () => {
    const p = planIncident(input({ release: () => undefined, toggle: () => ({ killed: true }) })).squads[0]!;
    expect(p.writes).toEqual([]);
    expect(p.incidents[0]!.actions.map((a) => [a.do, a.state, a.result])).toEqual([
      ["Revert", "NotDone", "Release shop/web no longer exists"],
      ["KillToggles", "Done", "already killed: nothing to do"],
      ["Notify", "Done", expect.any(String)],
    ]);
    const gone = planIncident(input({ toggle: () => undefined })).squads[0]!;
    expect(gone.incidents[0]!.actions[1]).toMatchObject({
      state: "NotDone",
      result: "FeatureToggle shop/new-checkout no longer exists",
    });
  });

  it("no change in the window: nothing done, and the record says so", () => {
    const p = planIncident(input({ changes: [web(T0 - 45 * MIN), flag(T0 + MIN)] })).squads[0]!;
    expect(p.writes).toEqual([]);
    const r = p.incidents[0]!;
    expect(r.suspects).toEqual([]);
    expect(r.explanation).toEqual([
      "HighErrorRate (f1): no change of squad payments in scope in the 30m before 2030-01-01T03:00:00.000Z",
      "HighErrorRate (f1): incidentResponse actions[0] Revert, actions[1] KillToggles match",
      "Revert asked, but no Release changed in the window: nothing reverted",
      "KillToggles asked, but no FeatureToggle changed in the window: nothing killed",
    ]);
    expect(r.actions.map((a) => a.do)).toEqual(["Notify"]);
    expect(p.events.map((e) => e.reason)).toEqual(["IncidentOpened"]);
    expect(p.events[0]!.note).toContain("nothing changed");
  });

  it("a squad without a policy is notified only", () => {
    const p = planIncident(input({ squad: (n) => (n === "payments" ? { incidents: [] } : undefined) }))
      .squads[0]!;
    expect(p.writes).toEqual([]);
    expect(p.incidents[0]!.explanation).toContain(
      "HighErrorRate (f1): the squad has no incidentResponse policy: notify only",
    );
  });

  it("never acts on another squad's changes; each squad of the group gets its own incident", () => {
    const plan = planIncident(
      input({
        message: message([
          alert({ namespace: "shop" }),
          alert({ namespace: "search" }, { fingerprint: "f2" }),
        ]),
      }),
    );
    expect(plan.squads.map((s) => s.squad)).toEqual(["payments", "discovery"]);
    const discovery = plan.squads[1]!;
    // discovery has no policy: its Release changed in the window is a suspect, and left alone.
    expect(discovery.writes).toEqual([]);
    expect(discovery.incidents[0]!.suspects.map((s) => s.name)).toEqual(["api"]);
    expect(plan.squads[0]!.writes.every((w) => w.namespace === "shop")).toBe(true);
  });

  it("a mislabelled alert, or one of a squad with no Squad object, is unscoped and changes nothing", () => {
    const plan = planIncident(
      input({
        message: message([
          alert({ namespace: "search", squad: "payments" }),
          alert({ squad: "ghosts" }, { fingerprint: "f3" }),
        ]),
      }),
    );
    expect(plan.squads).toEqual([]);
    expect(plan.unscoped.map((u) => u.why)).toEqual([
      "no Squad ghosts",
      "its squad label says payments, but namespace search belongs to discovery: not acted on",
    ]);
  });

  it("crescendo_release narrows the revert to that Release", () => {
    const other: Change = { ...web(T0 - 5 * MIN, "w9"), name: "worker" };
    const p = planIncident(
      input({
        message: message([alert({ namespace: "shop", crescendo_release: "web" })]),
        changes: [web(T0 - 10 * MIN), other],
      }),
    ).squads[0]!;
    expect(p.writes.filter((w) => w.kind === "Release").map((w) => w.name)).toEqual(["web"]);
  });

  it("resolved before it was acted on: recorded with its resolution, nothing done", () => {
    const resolved = alert({ namespace: "shop" }, { status: "resolved", endsAt: iso(T0 + MIN) });
    const p = planIncident(input({ message: message([resolved]) })).squads[0]!;
    expect(p.writes).toEqual([]);
    const r = p.incidents[0]!;
    expect(r.resolvedAt).toBe(iso(T0 + MIN));
    expect(r.recoverySeconds).toBe(60);
    expect(r.explanation).toContain("every alert was resolved before it was acted on: nothing done");
    expect(p.events.map((e) => e.reason)).toEqual(["IncidentOpened", "IncidentResolved"]);
  });

  it("records the resolution of an incident acted on, once, from the alerts' endsAt", () => {
    const i = input();
    const first = planIncident(i).squads[0]!;
    const resolved = alert({ namespace: "shop" }, { status: "resolved", endsAt: iso(T0 + 4 * MIN) });
    const later = again(i, first.incidents, { message: message([resolved]), now: T0 + 5 * MIN }).squads[0]!;
    expect(later.writes).toEqual([]);
    const r = later.incidents[0]!;
    expect(r.resolvedAt).toBe(iso(T0 + 4 * MIN));
    expect(r.recoverySeconds).toBe(240);
    expect(r.actions).toEqual(first.incidents[0]!.actions);
    expect(r.explanation).not.toContain("every alert was resolved before it was acted on: nothing done");
    expect(later.events.map((e) => e.reason)).toEqual(["IncidentResolved"]);
    const repeat = again(i, later.incidents, { message: message([resolved]), now: T0 + 9 * MIN }).squads[0]!;
    expect(repeat.changed).toBe(false);
    expect(repeat.events).toEqual([]);
  });

  it("an endsAt in the future or missing resolves at the time received, never before firing", () => {
    const future = alert({ namespace: "shop" }, { status: "resolved", endsAt: iso(T0 + 60 * MIN) });
    expect(planIncident(input({ message: message([future]) })).squads[0]!.incidents[0]!.resolvedAt).toBe(
      iso(T0 + 2 * MIN),
    );
    const before = alert({ namespace: "shop" }, { status: "resolved", endsAt: iso(T0 - MIN) });
    expect(planIncident(input({ message: message([before]) })).squads[0]!.incidents[0]!.recoverySeconds).toBe(
      0,
    );
  });

  it("an alert joining the group later adds its own suspects and actions, not the ones done", () => {
    const i = input({ changes: [web(T0 - 10 * MIN)] });
    const first = planIncident(i).squads[0]!;
    const joined = alert({ namespace: "shop" }, { fingerprint: "f9", startsAt: iso(T0 + 10 * MIN) });
    const next = again(i, first.incidents, {
      message: message([alert({ namespace: "shop" }), joined]),
      changes: [web(T0 - 10 * MIN), flag(T0 + 5 * MIN)],
      now: T0 + 11 * MIN,
    }).squads[0]!;
    expect(next.writes.map((w) => `${w.kind} ${w.name}`)).toEqual(["FeatureToggle new-checkout"]);
    expect(next.incidents[0]!.alerts).toEqual(["HighErrorRate (f1)", "HighErrorRate (f9)"]);
    expect(next.incidents[0]!.firedAt).toBe(iso(T0));
  });

  it("an alert arriving later with an earlier start moves the open incident's start back, no action again", () => {
    const i = input({ changes: [web(T0 - 10 * MIN)] });
    const first = planIncident(i).squads[0]!;
    const earlier = alert({ namespace: "shop" }, { fingerprint: "f0", startsAt: iso(T0 - 3 * MIN) });
    const next = again(i, first.incidents, {
      message: message([alert({ namespace: "shop" }), earlier]),
      changes: [web(T0 - 10 * MIN)],
      now: T0 + 4 * MIN,
    }).squads[0]!;
    expect(next.writes).toEqual([]);
    expect(next.incidents[0]!.firedAt).toBe(iso(T0 - 3 * MIN));
    // Resolved: recoverySeconds counts from the moved start, as the reverted change's recovery does.
    const resolved = [alert({ namespace: "shop" }), earlier].map((a) => ({
      ...a,
      status: "resolved" as const,
      endsAt: iso(T0 + 7 * MIN),
    }));
    const done = again(i, next.incidents, { message: message(resolved), now: T0 + 8 * MIN }).squads[0]!;
    expect(done.incidents[0]).toMatchObject({ firedAt: iso(T0 - 3 * MIN), recoverySeconds: 600 });
  });

  it("once resolved, an alert with an earlier start no longer moves firedAt: recoverySeconds stays firedAt to resolvedAt", () => {
    const i = input();
    const first = planIncident(i).squads[0]!;
    const resolved = alert({ namespace: "shop" }, { status: "resolved", endsAt: iso(T0 + 4 * MIN) });
    const later = again(i, first.incidents, { message: message([resolved]), now: T0 + 5 * MIN }).squads[0]!;
    // A resend of the resolution carrying an alert of the group never seen firing, started earlier.
    const unseen = alert(
      { namespace: "shop" },
      { fingerprint: "f0", status: "resolved", startsAt: iso(T0 - 2 * MIN), endsAt: iso(T0 + 3 * MIN) },
    );
    const resend = again(i, later.incidents, {
      message: message([resolved, unseen]),
      now: T0 + 6 * MIN,
    }).squads[0]!;
    const r = resend.incidents[0]!;
    expect(r).toMatchObject({ firedAt: iso(T0), resolvedAt: iso(T0 + 4 * MIN), recoverySeconds: 240 });
    expect(resend.writes).toEqual([]);
  });

  it("keeps the newest incidents first, at most the bound", () => {
    const old: IncidentRecord[] = Array.from({ length: MAX_SQUAD_INCIDENTS }, (_, n) => ({
      id: `old${n}`,
      groupKey: `g${n}`,
      firedAt: iso(T0 - (n + 1) * 60 * MIN),
      receivedAt: iso(T0 - (n + 1) * 60 * MIN),
      alerts: [],
      suspects: [],
      actions: [],
      explanation: [],
    }));
    const p = planIncident(input({ records: old })).squads[0]!;
    expect(p.incidents).toHaveLength(MAX_SQUAD_INCIDENTS);
    expect(p.incidents[0]!.id).toBe(ID);
    expect(p.incidents.at(-1)!.id).toBe(`old${MAX_SQUAD_INCIDENTS - 2}`);
  });

  it("bounds what a hostile group can put in the record", () => {
    const many = Array.from({ length: 200 }, (_, n) =>
      alert({ namespace: "shop", alertname: "x".repeat(1000) }, { fingerprint: `f${n}` }),
    );
    const changes = Array.from({ length: 100 }, (_, n) => flag(T0 - n * 1000, `t${n}`));
    const p = planIncident(
      input({
        message: message(many, { groupKey: "k".repeat(4000) }),
        changes,
        toggle: () => ({ killed: false }),
      }),
    ).squads[0]!;
    expect(incidentRecords.safeParse(p.incidents).success).toBe(true);
    // Every toggle changed in the window is killed (the writes), though the record keeps a bounded list.
    expect(p.writes).toHaveLength(100);
  });
});

describe("planIncident's record of hostile labels", () => {
  it("replaces control characters, so no escape sequence reaches a terminal through the record or Events", () => {
    const evil = "\u001b]0;owned\u0007\u001b[2JErrors\u009b31m";
    const p = planIncident(
      input({
        message: message([alert({ namespace: "shop", alertname: evil }, { fingerprint: "f\u001b1" })]),
      }),
    ).squads[0]!;
    const texts = JSON.stringify([p.incidents[0], p.events.map((e) => e.note)]);
    expect(texts).not.toMatch(/\\u001b|\\u0007|\\u009b/);
    expect(p.incidents[0]!.alertname).toBe("\ufffd]0;owned\ufffd\ufffd[2JErrors\ufffd31m");
    expect(p.incidents[0]!.alerts).toEqual(["\ufffd]0;owned\ufffd\ufffd[2JErrors\ufffd31m (f\ufffd1)"]);
  });
});

describe("planIncident's record of a large group", () => {
  it("keeps why it reverted when the group's alerts have more lines than the record holds", () => {
    const many = Array.from({ length: 200 }, (_, n) =>
      alert({ namespace: "shop" }, { fingerprint: `f${n}` }),
    );
    const record = planIncident(input({ message: message(many) })).squads[0]!.incidents[0]!;
    expect(record.explanation).toHaveLength(MAX_INCIDENT_ITEMS * 2);
    expect(record.explanation.slice(-3)).toEqual([
      expect.stringMatching(/^… \d+ more line\(s\) about the group's alerts left out$/),
      `revert Release shop/web revision r2 at ${iso(T0 - 10 * MIN)}: the most recent Release change in the window`,
      `kill FeatureToggle shop/new-checkout at ${iso(T0 - 20 * MIN)}: changed in the window`,
    ]);
  });
});

describe("settleActions", () => {
  const requested = (): IncidentRecord[] => planIncident(input()).squads[0]!.incidents;

  it("settles a requested action from its target's lastAction of the same id", () => {
    const settled = settleActions(requested(), (kind) =>
      kind === "Release"
        ? { id: ACTION_ID, result: "returned to 1.0 (revision r1)" }
        : { id: ACTION_ID, result: "killed" },
    );
    expect(settled[0]!.actions.map((a) => [a.do, a.state, a.result])).toEqual([
      ["Revert", "Done", "returned to 1.0 (revision r1)"],
      ["KillToggles", "Done", "killed"],
      ["Notify", "Done", expect.any(String)],
    ]);
  });

  it("an ignored or refused action is NotDone with the controller's reason; another id leaves it Requested", () => {
    const settled = settleActions(requested(), (kind) =>
      kind === "Release"
        ? { id: ACTION_ID, result: "ignored: a rollout is in progress; abort it instead" }
        : { id: "someone-else", result: "re-armed" },
    );
    expect(settled[0]!.actions[0]).toMatchObject({
      state: "NotDone",
      result: "ignored: a rollout is in progress; abort it instead",
    });
    expect(settled[0]!.actions[1]).toMatchObject({ state: "Requested" });
  });

  it("returns records without requested actions as they are", () => {
    const records = requested();
    const done = settleActions(records, () => ({ id: ACTION_ID, result: "killed" }));
    expect(settleActions(done, () => undefined)[0]).toBe(done[0]);
  });
});

describe("planIncident when the group fires again after its incident resolved", () => {
  const REFIRED = T0 + 20 * MIN;
  const REFIRED_ID = `${ID}-20300101T032000Z`;
  const firing = (startsAt: number, fingerprint = "f1") =>
    alert({ namespace: "shop" }, { startsAt: iso(startsAt), fingerprint });
  const resolvedAlert = (startsAt: number, endsAt: number, fingerprint = "f1") =>
    alert(
      { namespace: "shop" },
      { status: "resolved", startsAt: iso(startsAt), endsAt: iso(endsAt), fingerprint },
    );

  /** The first incident: fired at T0, reverted r2 and killed the toggle, resolved at T0+4m. */
  function resolvedFirst(i = input()) {
    const opened = planIncident(i).squads[0]!;
    const resolved = again(i, opened.incidents, {
      message: message([resolvedAlert(T0, T0 + 4 * MIN)]),
      now: T0 + 5 * MIN,
    }).squads[0]!;
    expect(resolved.incidents[0]!.resolvedAt).toBe(iso(T0 + 4 * MIN));
    return resolved.incidents;
  }

  /** The group firing again at T0+20m, after a new promotion r3 at T0+15m. */
  const refire = (i: IncidentInput, records: IncidentRecord[], over: Partial<IncidentInput> = {}) =>
    again(i, records, {
      message: message([firing(REFIRED)]),
      now: REFIRED + MIN,
      changes: [...i.changes, web(T0 + 15 * MIN, "r3")],
      release: () => ({ stableRevision: "r3", phase: "Healthy" }),
      ...over,
    }).squads[0]!;

  it("is a new incident: its own id, record, remediation and Events; the first stays as it was", () => {
    const i = input();
    const first = resolvedFirst(i);
    const p = refire(i, first);
    expect(p.id).toBe(REFIRED_ID);
    expect(p.changed).toBe(true);
    expect(p.incidents.map((r) => r.id)).toEqual([REFIRED_ID, ID]);
    expect(p.incidents[1]).toEqual(first[0]);
    const r = p.incidents[0]!;
    expect(r).toMatchObject({
      firedAt: iso(REFIRED),
      receivedAt: iso(REFIRED + MIN),
      alerts: ["HighErrorRate (f1)"],
    });
    expect(r.resolvedAt).toBeUndefined();
    expect(r.explanation[0]).toBe(
      `fired again at ${iso(REFIRED)}: incident ${ID} of the same group resolved at ${iso(T0 + 4 * MIN)}, so this is a new incident`,
    );
    // Remediated per policy, with an action id of its own: the first incident's would read as
    // "asked already" on a Release that carries it.
    const actionId = incidentActionId(REFIRED_ID);
    expect(p.writes).toEqual([
      {
        kind: "Release",
        namespace: "shop",
        name: "web",
        action: "undo",
        actionId,
        failureStartedAt: iso(REFIRED),
      },
    ]);
    expect(r.actions.map((a) => [a.do, a.state, a.actionId])).toEqual([
      ["Revert", "Requested", actionId],
      // The toggle changed at T0-20m is out of this firing's window: nothing to kill, told.
      ["Notify", "Done", undefined],
    ]);
    expect(p.events.map((e) => e.reason)).toEqual(["IncidentOpened", "IncidentRevert"]);
    expect(p.events[0]!.note).toContain(
      `incident ${REFIRED_ID} (HighErrorRate): fired again after incident ${ID} resolved`,
    );
    expect(p.events[1]!.note).toContain(`incident ${REFIRED_ID}`);
    expect(incidentRecords.safeParse(p.incidents).success).toBe(true);
  });

  it("without a new change: still a new incident, and its record says why nothing was reverted", () => {
    const i = input();
    const first = resolvedFirst(i);
    const p = refire(i, first, {
      changes: i.changes,
      release: () => ({ stableRevision: "r1", phase: "Healthy" }),
    });
    expect(p.id).toBe(REFIRED_ID);
    expect(p.writes).toEqual([]);
    expect(p.events.map((e) => e.reason)).toEqual(["IncidentOpened"]);
    expect(p.incidents[0]!.actions[0]).toMatchObject({
      do: "Revert",
      state: "NotDone",
      result: expect.stringContaining("runs revision r1 now, not the suspect revision r2"),
    });
  });

  it("Alertmanager's repeats of the new firing (repeat_interval, a retry) change nothing more", () => {
    const i = input();
    const p = refire(i, resolvedFirst(i));
    for (const now of [REFIRED + 2 * MIN, REFIRED + 4 * 60 * MIN]) {
      const repeat = refire(i, p.incidents, {
        now,
        release: () => ({
          stableRevision: "r2",
          phase: "Healthy",
          actionIds: [incidentActionId(REFIRED_ID)],
        }),
      });
      expect(repeat.id).toBe(REFIRED_ID);
      expect(repeat.changed).toBe(false);
      expect(repeat.writes).toEqual([]);
      expect(repeat.events).toEqual([]);
      expect(repeat.incidents).toEqual(p.incidents);
    }
  });

  it("repeats of the first incident change nothing: its resolution re-sent, its firing retried late", () => {
    const i = input();
    const first = resolvedFirst(i);
    for (const late of [message([resolvedAlert(T0, T0 + 4 * MIN)]), message([firing(T0)])]) {
      const before = again(i, first, { message: late, now: T0 + 10 * MIN }).squads[0]!;
      expect(before).toMatchObject({ id: ID, changed: false, writes: [], events: [] });
      // Also once the group fired again: the new incident is neither resolved nor moved.
      const opened = refire(i, first).incidents;
      const after = again(i, opened, { message: late, now: REFIRED + 2 * MIN }).squads[0]!;
      expect(after).toMatchObject({ changed: false, writes: [], events: [] });
      expect(after.incidents).toEqual(opened);
    }
  });

  it("an alert of the group still resolving (some resolved, some firing) is the same incident", () => {
    const i = input();
    const opened = planIncident(i).squads[0]!;
    // f1 resolved, f2 (joined later) still firing: Alertmanager says `firing`, one incident.
    const mixed = again(i, opened.incidents, {
      message: message([resolvedAlert(T0, T0 + 3 * MIN), firing(T0 + MIN, "f2")]),
      now: T0 + 4 * MIN,
    }).squads[0]!;
    expect(mixed.incidents.map((r) => r.id)).toEqual([ID]);
    expect(mixed.incidents[0]!.resolvedAt).toBeUndefined();
    expect(mixed.events).toEqual([]);
    const done = again(i, mixed.incidents, {
      message: message([resolvedAlert(T0 + MIN, T0 + 6 * MIN, "f2")]),
      now: T0 + 7 * MIN,
    }).squads[0]!;
    expect(done.incidents.map((r) => r.id)).toEqual([ID]);
    expect(done.incidents[0]!.resolvedAt).toBe(iso(T0 + 6 * MIN));
  });

  it("the new incident starts with the alert that fired again, not an old one still listed resolved", () => {
    const i = input();
    const first = resolvedFirst(i);
    const p = refire(i, first, {
      message: message([resolvedAlert(T0, T0 + 4 * MIN), firing(REFIRED, "f2"), firing(REFIRED + MIN, "f3")]),
      now: REFIRED + 2 * MIN,
    });
    expect(p.id).toBe(REFIRED_ID);
    expect(p.incidents[0]!.firedAt).toBe(iso(REFIRED));
  });

  it("an alert firing that started before the resolution is a late one of the first incident, not a new one", () => {
    const i = input();
    const first = resolvedFirst(i);
    const p = refire(i, first, { message: message([firing(T0 + 3 * MIN, "f2")]) });
    expect(p.id).toBe(ID);
    expect(p.incidents.map((r) => r.id)).toEqual([ID]);
    expect(p.events.filter((e) => e.reason === "IncidentOpened")).toEqual([]);
  });

  it("resolves the new incident on its own, and a third firing is a third incident", () => {
    const i = input();
    const second = refire(i, resolvedFirst(i));
    const resolved = again(i, second.incidents, {
      message: message([resolvedAlert(REFIRED, REFIRED + 5 * MIN)]),
      now: REFIRED + 6 * MIN,
    }).squads[0]!;
    expect(resolved.id).toBe(REFIRED_ID);
    expect(resolved.events.map((e) => e.reason)).toEqual(["IncidentResolved"]);
    expect(resolved.incidents.map((r) => [r.id, r.recoverySeconds])).toEqual([
      [REFIRED_ID, 300],
      [ID, 240],
    ]);
    const third = again(i, resolved.incidents, {
      message: message([firing(T0 + 60 * MIN)]),
      now: T0 + 61 * MIN,
    }).squads[0]!;
    expect(third.incidents.map((r) => r.id)).toEqual([`${ID}-20300101T040000Z`, REFIRED_ID, ID]);
    expect(third.incidents[0]!.explanation[0]).toContain(`incident ${REFIRED_ID} of the same group resolved`);
  });

  it("the first record gone (more than the bound since): the group's own id again", () => {
    const i = input();
    const first = resolvedFirst(i);
    const p = refire(
      i,
      first.filter((r) => r.id !== ID),
    );
    expect(p.id).toBe(ID);
  });

  it("the group's incidents are told apart from another group whose digest starts the same", () => {
    expect(incidentOf(ID, [{ ...resolvedFirst()[0]!, id: `${ID}x` }], [])).toEqual({ open: ID });
  });

  it("ids: seconds, milliseconds only when two firings share a second; within the schema's bounds", () => {
    const at = "2030-01-01T03:20:00.250Z";
    expect(refiredIncidentId(ID, at, () => false)).toBe(`${ID}-20300101T032000Z`);
    expect(refiredIncidentId(ID, at, (id) => id === `${ID}-20300101T032000Z`)).toBe(
      `${ID}-20300101T032000.250Z`,
    );
    expect(incidentActionId(refiredIncidentId(ID, at, () => true)).length).toBeLessThanOrEqual(64);
  });
});

describe("planIncident when the group fires again and its resolved notification never arrived", () => {
  const REFIRED = T0 + 20 * MIN;
  const REFIRED_ID = `${ID}-20300101T032000Z`;
  const firing = (startsAt: number, fingerprint = "f1") =>
    alert({ namespace: "shop" }, { startsAt: iso(startsAt), fingerprint });
  const resolvedAlert = (startsAt: number, endsAt: number, fingerprint = "f1") =>
    alert(
      { namespace: "shop" },
      { status: "resolved", startsAt: iso(startsAt), endsAt: iso(endsAt), fingerprint },
    );

  /** The first incident, fired at T0 and reverted r2; Alertmanager's resolution then lost. */
  function openFirst(i = input()) {
    const p = planIncident(i).squads[0]!;
    expect(p.incidents[0]!.alertStarts).toEqual([{ alert: "f1", startsAt: iso(T0) }]);
    return p.incidents;
  }

  /** The alert back at T0+20m with a new startsAt, after a new promotion r3 at T0+15m. */
  const refire = (i: IncidentInput, records: IncidentRecord[], over: Partial<IncidentInput> = {}) =>
    again(i, records, {
      message: message([firing(REFIRED)]),
      now: REFIRED + MIN,
      changes: [...i.changes, web(T0 + 15 * MIN, "r3")],
      release: () => ({ stableRevision: "r3", phase: "Healthy" }),
      ...over,
    }).squads[0]!;

  it("repeats of the firing with the same startsAt (repeat_interval, retries, a new leader) stay the same incident", () => {
    const i = input();
    const first = openFirst(i);
    for (const now of [T0 + 7 * MIN, T0 + 4 * 60 * MIN, T0 + 24 * 60 * MIN]) {
      const repeat = again(i, first, { now }).squads[0]!;
      expect(repeat).toMatchObject({ id: ID, changed: false, writes: [], events: [] });
      expect(repeat.incidents).toEqual(first);
    }
  });

  it("a known alert with a later startsAt: the open incident is closed as resolved by then, inferred, and a new one opens", () => {
    const i = input();
    const first = openFirst(i);
    const p = refire(i, first);
    expect(p.id).toBe(REFIRED_ID);
    expect(p.changed).toBe(true);
    expect(p.incidents.map((r) => r.id)).toEqual([REFIRED_ID, ID]);
    // The first: resolved by the new start at the latest, marked inferred, no recovery time.
    const closed = p.incidents[1]!;
    expect(closed).toMatchObject({ resolvedAt: iso(REFIRED), resolvedFrom: "FiredAgain" });
    expect(closed.recoverySeconds).toBeUndefined();
    expect(closed.actions).toEqual(first[0]!.actions);
    expect(closed.explanation.at(-1)).toBe(
      `resolved by ${iso(REFIRED)} at the latest: no resolved notification arrived, and HighErrorRate (f1) fired again then (a later startsAt: incident ${REFIRED_ID}); when it ended is not known, so no recovery time is recorded`,
    );
    // The second: a normal new incident, remediated with its own action id.
    const r = p.incidents[0]!;
    expect(r).toMatchObject({
      firedAt: iso(REFIRED),
      receivedAt: iso(REFIRED + MIN),
      alerts: ["HighErrorRate (f1)"],
      alertStarts: [{ alert: "f1", startsAt: iso(REFIRED) }],
    });
    expect(r.resolvedAt).toBeUndefined();
    expect(r.explanation[0]).toBe(
      `fired again at ${iso(REFIRED)}: HighErrorRate (f1) came back with a later startsAt while incident ${ID} of the same group was open; its resolved notification never arrived, so it had ended by then and this is a new incident`,
    );
    const actionId = incidentActionId(REFIRED_ID);
    expect(p.writes).toEqual([
      {
        kind: "Release",
        namespace: "shop",
        name: "web",
        action: "undo",
        actionId,
        failureStartedAt: iso(REFIRED),
      },
    ]);
    expect(r.actions.map((a) => [a.do, a.state, a.actionId])).toEqual([
      ["Revert", "Requested", actionId],
      ["Notify", "Done", undefined],
    ]);
    expect(p.events.map((e) => [e.reason, e.on.kind])).toEqual([
      ["IncidentOpened", "Squad"],
      ["IncidentResolved", "Squad"],
      ["IncidentRevert", "Release"],
    ]);
    expect(p.events[0]!.note).toContain(
      `incident ${REFIRED_ID} (HighErrorRate): fired again while incident ${ID} was open (its resolution was never received)`,
    );
    expect(p.events[1]!.note).toBe(
      `incident ${ID} (HighErrorRate) ended by ${iso(REFIRED)} at the latest: its resolution was never received and the alert fired again (incident ${REFIRED_ID}); recovery time unknown`,
    );
    expect(incidentRecords.safeParse(p.incidents).success).toBe(true);
  });

  it("kills again the toggles changed in the new firing's window, with the new incident's action id", () => {
    const i = input();
    const p = refire(i, openFirst(i), { changes: [...i.changes, flag(T0 + 10 * MIN, "fast-pay")] });
    const kill = p.writes.find((w) => w.kind === "FeatureToggle");
    expect(kill).toBeUndefined(); // fast-pay is unknown to `toggle`: recorded as gone, not written
    expect(p.incidents[0]!.actions.map((a) => [a.do, a.target, a.state])).toContainEqual([
      "KillToggles",
      "shop/fast-pay",
      "NotDone",
    ]);
    const known = refire(i, openFirst(i), {
      changes: [...i.changes, flag(T0 + 10 * MIN)],
      toggle: () => ({ killed: false }),
    });
    expect(known.writes.filter((w) => w.kind === "FeatureToggle")).toEqual([
      expect.objectContaining({
        name: "new-checkout",
        action: "kill",
        actionId: incidentActionId(REFIRED_ID),
      }),
    ]);
  });

  it("never reverts the first incident's undo: the new incident's record says why nothing was reverted", () => {
    const i = input();
    const undo: Change = { ...web(T0 + 3 * MIN, "r1"), undo: true };
    const p = refire(i, openFirst(i), {
      changes: [...i.changes, undo],
      release: () => ({ stableRevision: "r1", phase: "Healthy", actionIds: [ACTION_ID] }),
    });
    expect(p.id).toBe(REFIRED_ID);
    expect(p.writes).toEqual([]);
    expect(p.incidents[0]!.explanation.join("\n")).toContain("an undo is never reverted");
    expect(p.incidents[0]!.actions[0]).toMatchObject({ do: "Revert", state: "NotDone" });
  });

  it("a new alert (a new fingerprint) joining the open group is the same incident, as before", () => {
    const i = input();
    const first = openFirst(i);
    const p = again(i, first, {
      message: message([firing(T0), firing(REFIRED, "f2")]),
      now: REFIRED + MIN,
    }).squads[0]!;
    expect(p.id).toBe(ID);
    expect(p.incidents.map((r) => r.id)).toEqual([ID]);
    expect(p.incidents[0]!.resolvedAt).toBeUndefined();
    expect(p.incidents[0]!.alertStarts).toEqual([
      { alert: "f1", startsAt: iso(T0) },
      { alert: "f2", startsAt: iso(REFIRED) },
    ]);
    // Only a new fingerprint, the first alert no longer listed: still the same incident.
    const alone = again(i, first, { message: message([firing(REFIRED, "f2")]), now: REFIRED + MIN })
      .squads[0]!;
    expect(alone.incidents.map((r) => r.id)).toEqual([ID]);
  });

  it("an out-of-order old payload (the earlier startsAt) after the new incident changes nothing", () => {
    const i = input();
    const opened = refire(i, openFirst(i)).incidents;
    for (const late of [
      message([firing(T0)]),
      message([resolvedAlert(T0, T0 + 4 * MIN)]),
      message([firing(T0), firing(T0 + MIN, "f2")]),
    ]) {
      const p = again(i, opened, { message: late, now: REFIRED + 2 * MIN }).squads[0]!;
      expect(p).toMatchObject({ changed: false, writes: [], events: [] });
      expect(p.incidents).toEqual(opened);
    }
    // And one of the group's first record, before any refire: the recorded start never moves back.
    const first = openFirst(i);
    const earlier = again(i, first, { message: message([firing(T0 - MIN)]), now: T0 + 3 * MIN }).squads[0]!;
    expect(earlier.incidents[0]!.alertStarts).toEqual([{ alert: "f1", startsAt: iso(T0) }]);
  });

  it("Alertmanager's repeats of the new firing change nothing more", () => {
    const i = input();
    const p = refire(i, openFirst(i));
    const repeat = refire(i, p.incidents, {
      now: REFIRED + 4 * 60 * MIN,
      release: () => ({ stableRevision: "r2", phase: "Healthy", actionIds: [incidentActionId(REFIRED_ID)] }),
    });
    expect(repeat).toMatchObject({ id: REFIRED_ID, changed: false, writes: [], events: [] });
    expect(repeat.incidents).toEqual(p.incidents);
  });

  it("one alert firing again while another of the incident still fires: the group never resolved, the same incident", () => {
    const i = input();
    const both = again(i, openFirst(i), {
      message: message([firing(T0), firing(T0 + MIN, "f2")]),
      now: T0 + 2 * MIN,
    }).squads[0]!.incidents;
    const flap = again(i, both, {
      message: message([firing(REFIRED), firing(T0 + MIN, "f2")]),
      now: REFIRED + MIN,
    }).squads[0]!;
    expect(flap.incidents.map((r) => r.id)).toEqual([ID]);
    expect(flap.writes).toEqual([]);
    expect(flap.events).toEqual([]);
    expect(flap.incidents[0]!.resolvedAt).toBeUndefined();
    // The flapping alert's new start is recorded, so f2 resolving later is not read as a refire.
    expect(flap.incidents[0]!.alertStarts).toEqual([
      { alert: "f1", startsAt: iso(REFIRED) },
      { alert: "f2", startsAt: iso(T0 + MIN) },
    ]);
    const f2Done = again(i, flap.incidents, {
      message: message([firing(REFIRED), resolvedAlert(T0 + MIN, REFIRED + 2 * MIN, "f2")]),
      now: REFIRED + 3 * MIN,
    }).squads[0]!;
    expect(f2Done.incidents.map((r) => r.id)).toEqual([ID]);
    expect(f2Done.events).toEqual([]);
  });

  it("an alert not recorded yet, firing since before the new start: the group never resolved, the same incident", () => {
    // f2 joined while f1's notifications were lost too: it started before f1 came back and still
    // fires, so Alertmanager never resolved the group and nothing ended unseen.
    const i = input();
    const first = openFirst(i);
    const going = again(i, first, {
      message: message([firing(REFIRED), firing(T0 + 5 * MIN, "f2")]),
      now: REFIRED + MIN,
    }).squads[0]!;
    expect(going.incidents.map((r) => [r.id, r.resolvedAt])).toEqual([[ID, undefined]]);
    expect(going.writes).toEqual([]);
    expect(going.events).toEqual([]);
    // Listed resolved after the new start: going then too.
    const late = again(i, first, {
      message: message([firing(REFIRED), resolvedAlert(T0 + 5 * MIN, REFIRED + MIN, "f2")]),
      now: REFIRED + 2 * MIN,
    }).squads[0]!;
    expect(late.incidents.map((r) => r.id)).toEqual([ID]);
    // Resolved before the new start, or started with it or after: the group had ended, a new incident.
    for (const f2 of [
      resolvedAlert(T0 + 5 * MIN, T0 + 8 * MIN, "f2"),
      firing(REFIRED, "f2"),
      firing(REFIRED + MIN, "f2"),
    ]) {
      const p = again(i, first, { message: message([firing(REFIRED), f2]), now: REFIRED + 2 * MIN })
        .squads[0]!;
      expect(p.incidents.map((r) => [r.id, r.resolvedFrom])).toEqual([
        [REFIRED_ID, undefined],
        [ID, "FiredAgain"],
      ]);
    }
  });

  it("an alert of the incident listed resolved only after the new start: still going then, the same incident", () => {
    const i = input();
    const both = again(i, openFirst(i), {
      message: message([firing(T0), firing(T0 + MIN, "f2")]),
      now: T0 + 2 * MIN,
    }).squads[0]!.incidents;
    const overlap = again(i, both, {
      message: message([firing(REFIRED), resolvedAlert(T0 + MIN, REFIRED + MIN, "f2")]),
      now: REFIRED + 2 * MIN,
    }).squads[0]!;
    expect(overlap.incidents.map((r) => r.id)).toEqual([ID]);
    // Resolved before the new start: the whole group had ended, a new incident.
    const gap = again(i, both, {
      message: message([firing(REFIRED), resolvedAlert(T0 + MIN, T0 + 5 * MIN, "f2")]),
      now: REFIRED + 2 * MIN,
    }).squads[0]!;
    expect(gap.incidents.map((r) => [r.id, r.resolvedAt, r.resolvedFrom])).toEqual([
      [REFIRED_ID, undefined, undefined],
      [ID, iso(REFIRED), "FiredAgain"],
    ]);
  });

  it("the earliest of several alerts back is the bound, and the new incident's start", () => {
    const i = input();
    const both = again(i, openFirst(i), {
      message: message([firing(T0), firing(T0 + MIN, "f2")]),
      now: T0 + 2 * MIN,
    }).squads[0]!.incidents;
    const p = again(i, both, {
      message: message([firing(REFIRED + MIN), firing(REFIRED, "f2")]),
      now: REFIRED + 2 * MIN,
    }).squads[0]!;
    expect(p.incidents.map((r) => [r.id, r.firedAt, r.resolvedAt])).toEqual([
      [REFIRED_ID, iso(REFIRED), undefined],
      [ID, iso(T0), iso(REFIRED)],
    ]);
    expect(p.incidents[1]!.explanation.at(-1)).toContain(
      "HighErrorRate (f1), HighErrorRate (f2) fired again",
    );
  });

  it("a whole firing missed (it came back and resolved unseen): both records, the second resolved as received", () => {
    const i = input();
    const p = again(i, openFirst(i), {
      message: message([resolvedAlert(REFIRED, REFIRED + 5 * MIN)]),
      now: REFIRED + 6 * MIN,
    }).squads[0]!;
    expect(p.incidents.map((r) => [r.id, r.resolvedAt, r.resolvedFrom, r.recoverySeconds])).toEqual([
      [REFIRED_ID, iso(REFIRED + 5 * MIN), undefined, 300],
      [ID, iso(REFIRED), "FiredAgain", undefined],
    ]);
    // Resolved before it was acted on: nothing written for it.
    expect(p.writes).toEqual([]);
    expect(p.events.map((e) => e.reason)).toEqual(["IncidentOpened", "IncidentResolved", "IncidentResolved"]);
  });

  it("the inferred resolution is kept within the record's firing and now", () => {
    const i = input();
    const p = refire(i, openFirst(i), {
      message: message([firing(REFIRED + 60 * MIN)]),
      now: REFIRED,
    });
    expect(p.incidents[1]!.resolvedAt).toBe(iso(REFIRED));
  });

  it("a record written before alert starts were kept merges as before, and learns them", () => {
    const i = input();
    const [legacy] = openFirst(i);
    const { alertStarts: _, ...old } = legacy!;
    const p = refire(i, [old]);
    expect(p.id).toBe(ID);
    expect(p.incidents.map((r) => r.id)).toEqual([ID]);
    expect(p.incidents[0]!.alertStarts).toEqual([{ alert: "f1", startsAt: iso(REFIRED) }]);
  });

  it("an alert without a fingerprint is known by its labels", () => {
    const i = input({ message: message([alert({ namespace: "shop" }, { fingerprint: undefined })]) });
    const first = planIncident(i).squads[0]!.incidents;
    const key = first[0]!.alertStarts![0]!.alert;
    expect(key).toMatch(/^labels:[0-9a-f]{16}$/);
    const p = refire(i, first, {
      message: message([alert({ namespace: "shop" }, { fingerprint: undefined, startsAt: iso(REFIRED) })]),
    });
    expect(p.incidents.map((r) => r.id)).toEqual([REFIRED_ID, ID]);
    // Another label set is another alert: joins the open incident.
    const other = again(i, first, {
      message: message([
        alert({ namespace: "shop", pod: "b" }, { fingerprint: undefined, startsAt: iso(REFIRED) }),
      ]),
    }).squads[0]!;
    expect(other.incidents.map((r) => r.id)).toEqual([ID]);
  });

  it("the new incident resolves on its own with its recovery time; the inferred one keeps none", () => {
    const i = input();
    const second = refire(i, openFirst(i));
    const done = again(i, second.incidents, {
      message: message([resolvedAlert(REFIRED, REFIRED + 5 * MIN)]),
      now: REFIRED + 6 * MIN,
    }).squads[0]!;
    expect(done.incidents.map((r) => [r.id, r.recoverySeconds, r.resolvedFrom])).toEqual([
      [REFIRED_ID, 300, undefined],
      [ID, undefined, "FiredAgain"],
    ]);
    expect(done.events.map((e) => e.reason)).toEqual(["IncidentResolved"]);
  });
});
