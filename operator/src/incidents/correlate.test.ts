import { describe, expect, it } from "vitest";
import {
  actionsFor,
  correlate,
  resolved,
  scopeOf,
  suspectsFor,
  type Alert,
  type Change,
  type ResponsePolicy,
} from "./correlate.js";

const T0 = Date.parse("2030-01-01T03:00:00.000Z");
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const WINDOW = 30 * MIN;

const owners: Record<string, string> = { checkout: "payments", search: "discovery", cart: "payments" };
const squadOf = (ns: string) => owners[ns];

const alert = (labels: Record<string, string>, over: Partial<Alert> = {}): Alert => ({
  status: "firing",
  labels: { alertname: "HighErrorRate", ...labels },
  startsAt: iso(T0),
  ...over,
});

const release = (namespace: string, name: string, at: number, revision = "r2"): Change => ({
  kind: "Release",
  namespace,
  name,
  squad: owners[namespace] ?? "",
  at: iso(at),
  revision,
});
const toggle = (namespace: string, name: string, at: number): Change => ({
  kind: "FeatureToggle",
  namespace,
  name,
  squad: owners[namespace] ?? "",
  at: iso(at),
});

const policy = (...actions: ResponsePolicy["actions"]): ResponsePolicy => ({
  correlationWindowMs: WINDOW,
  actions,
});
const REVERT_AND_KILL = policy(
  { match: { labels: { severity: "critical" } }, do: "Revert" },
  { match: { labels: { severity: "critical" } }, do: "KillToggles" },
  { match: { labels: {} }, do: "Notify" },
);

describe("scopeOf", () => {
  it("gives an alert to the squad owning its namespace, narrowed to the Release it names", () => {
    expect(scopeOf(alert({ namespace: "checkout", crescendo_release: "web" }), squadOf)).toEqual({
      squad: "payments",
      namespace: "checkout",
      release: "web",
    });
    expect(scopeOf(alert({ namespace: "checkout", squad: "payments" }), squadOf)).toEqual({
      squad: "payments",
      namespace: "checkout",
    });
  });

  it("uses the squad label only without a namespace, and refuses one that disagrees with the owner", () => {
    expect(scopeOf(alert({ squad: "payments" }), squadOf)).toEqual({ squad: "payments" });
    expect(scopeOf(alert({ namespace: "search", squad: "payments" }), squadOf)).toEqual({
      why: "its squad label says payments, but namespace search belongs to discovery: not acted on",
    });
    expect(scopeOf(alert({ namespace: "nobody" }), squadOf)).toEqual({
      why: "namespace nobody belongs to no squad",
    });
    expect(scopeOf(alert({ crescendo_release: "web" }), squadOf)).toEqual({
      why: "it names Release web but no namespace label",
    });
    expect(scopeOf(alert({}), squadOf)).toEqual({ why: "no namespace or squad label" });
  });

  it("reads the label names it is configured with", () => {
    const mapping = { namespace: "kubernetes_namespace", release: "app", squad: "team" };
    expect(scopeOf(alert({ kubernetes_namespace: "cart", app: "basket" }), squadOf, mapping)).toEqual({
      squad: "payments",
      namespace: "cart",
      release: "basket",
    });
    expect(scopeOf(alert({ namespace: "cart" }), squadOf, mapping)).toEqual({
      why: "no kubernetes_namespace or team label",
    });
  });
});

describe("suspectsFor", () => {
  const scope = { squad: "payments", namespace: "checkout" };

  it("includes both window edges, excludes what changed before the window or after the alert started", () => {
    const changes = [
      release("checkout", "web", T0 - WINDOW - 1, "too-early"),
      release("checkout", "web", T0 - WINDOW, "at-the-start"),
      release("checkout", "web", T0 - 5 * MIN, "inside"),
      release("checkout", "web", T0, "at-the-alert"),
      release("checkout", "web", T0 + 1, "after-the-alert"),
    ];
    expect(suspectsFor(alert({}), scope, changes, WINDOW).map((c) => c.revision)).toEqual([
      "at-the-alert",
      "inside",
      "at-the-start",
    ]);
  });

  it("keeps to the squad, the namespace and the Release named; toggles of the namespace stay suspects", () => {
    const changes = [
      release("checkout", "web", T0 - MIN),
      release("checkout", "api", T0 - 2 * MIN),
      release("cart", "basket", T0 - 3 * MIN),
      release("search", "web", T0 - 4 * MIN),
      toggle("checkout", "new-pricing", T0 - 5 * MIN),
    ];
    const names = (s: { squad: string; namespace?: string; release?: string }) =>
      suspectsFor(alert({}), s, changes, WINDOW).map((c) => `${c.namespace}/${c.name}`);
    expect(names({ ...scope, release: "web" })).toEqual(["checkout/web", "checkout/new-pricing"]);
    expect(names(scope)).toEqual(["checkout/web", "checkout/api", "checkout/new-pricing"]);
    expect(names({ squad: "payments" })).toEqual([
      "checkout/web",
      "checkout/api",
      "cart/basket",
      "checkout/new-pricing",
    ]);
  });

  it("finds nothing for an alert whose start cannot be read", () => {
    expect(
      suspectsFor(alert({}, { startsAt: "soon" }), scope, [release("checkout", "web", T0)], WINDOW),
    ).toEqual([]);
  });
});

describe("resolved and actionFor", () => {
  it("reads resolved from the status, or an end in the past (not Alertmanager's zero time)", () => {
    expect(resolved(alert({}, { status: "resolved" }), T0)).toBe(true);
    expect(resolved(alert({}, { endsAt: iso(T0 - 1) }), T0)).toBe(true);
    expect(resolved(alert({}, { endsAt: iso(T0 + MIN) }), T0)).toBe(false);
    expect(resolved(alert({}, { endsAt: "0001-01-01T00:00:00Z" }), T0)).toBe(false);
  });

  it("applies every rule whose labels all match, else Notify, and says which", () => {
    expect(actionsFor(alert({ severity: "critical" }), REVERT_AND_KILL)).toEqual({
      do: ["Revert", "KillToggles", "Notify"],
      why: "incidentResponse actions[0] Revert, actions[1] KillToggles, actions[2] Notify match",
    });
    expect(actionsFor(alert({ severity: "warning" }), REVERT_AND_KILL)).toEqual({
      do: ["Notify"],
      why: "incidentResponse actions[2] Notify match",
    });
    expect(
      actionsFor(alert({}), policy({ match: { labels: { severity: "critical" } }, do: "Revert" })),
    ).toEqual({
      do: ["Notify"],
      why: "no incidentResponse action matches its labels: notify only",
    });
    expect(actionsFor(alert({}), undefined)).toEqual({
      do: ["Notify"],
      why: "the squad has no incidentResponse policy: notify only",
    });
  });
});

describe("correlate", () => {
  const changes = [
    release("checkout", "web", T0 - 10 * MIN, "web-r2"),
    release("checkout", "web", T0 - 20 * MIN, "web-r1"),
    toggle("checkout", "new-pricing", T0 - 5 * MIN),
    release("search", "web", T0 - 2 * MIN, "search-r9"),
    toggle("search", "ranking", T0 - 2 * MIN),
  ];
  const policies: Record<string, ResponsePolicy> = {
    payments: { ...REVERT_AND_KILL, actions: [REVERT_AND_KILL.actions[0]!] },
  };
  const base = { changes, squadOf, policyOf: (s: string) => policies[s], now: T0 + MIN };

  it("reverts the most recent Release change in scope and explains each decision", () => {
    const out = correlate({
      ...base,
      alerts: [
        alert(
          { namespace: "checkout", crescendo_release: "web", severity: "critical" },
          { fingerprint: "f1" },
        ),
      ],
    });
    expect(out.unscoped).toEqual([]);
    expect(out.decisions).toHaveLength(1);
    const d = out.decisions[0]!;
    expect(d).toMatchObject({ squad: "payments", alerts: ["HighErrorRate (f1)"], notify: true, kill: [] });
    expect(d.revert?.revision).toBe("web-r2");
    expect(d.suspects.map((c) => c.name)).toEqual(["new-pricing", "web", "web"]);
    expect(d.explanation).toEqual([
      `HighErrorRate (f1): 3 change(s) in the 30m before ${iso(T0)}: FeatureToggle checkout/new-pricing at ${iso(T0 - 5 * MIN)}, Release checkout/web revision web-r2 at ${iso(T0 - 10 * MIN)}, Release checkout/web revision web-r1 at ${iso(T0 - 20 * MIN)}`,
      "HighErrorRate (f1): incidentResponse actions[0] Revert match",
      `revert Release checkout/web revision web-r2 at ${iso(T0 - 10 * MIN)}: the most recent Release change in the window`,
    ]);
  });

  it("kills the toggles changed in the window when asked, and reverts as well", () => {
    const out = correlate({
      ...base,
      policyOf: () => REVERT_AND_KILL,
      alerts: [alert({ namespace: "checkout", severity: "critical" })],
    });
    const d = out.decisions[0]!;
    expect(d.revert?.revision).toBe("web-r2");
    expect(d.kill.map((c) => c.name)).toEqual(["new-pricing"]);
  });

  it("gives each squad of a group its own decision, never acting on another squad's changes", () => {
    const out = correlate({
      ...base,
      alerts: [
        alert({ namespace: "checkout", severity: "critical" }, { fingerprint: "a" }),
        alert({ namespace: "search", severity: "critical" }, { fingerprint: "b" }),
      ],
    });
    const [payments, discovery] = out.decisions;
    expect(payments?.revert?.namespace).toBe("checkout");
    expect(discovery).toMatchObject({ squad: "discovery", notify: true, kill: [] });
    expect(discovery?.revert).toBeUndefined();
    expect(discovery?.explanation).toContain(
      "HighErrorRate (b): the squad has no incidentResponse policy: notify only",
    );
    expect(discovery?.suspects.map((c) => c.namespace)).toEqual(["search", "search"]);
  });

  it("merges several alerts of one squad: suspects once each, newest first, actions united", () => {
    const out = correlate({
      ...base,
      alerts: [
        alert(
          { namespace: "checkout", crescendo_release: "web", severity: "critical" },
          { fingerprint: "a" },
        ),
        alert(
          { namespace: "checkout", severity: "warning" },
          { fingerprint: "b", startsAt: iso(T0 - 8 * MIN) },
        ),
      ],
    });
    expect(out.decisions).toHaveLength(1);
    const d = out.decisions[0]!;
    expect(d.alerts).toEqual(["HighErrorRate (a)", "HighErrorRate (b)"]);
    expect(d.suspects.map((c) => c.revision ?? c.name)).toEqual(["new-pricing", "web-r2", "web-r1"]);
    expect(d.revert?.revision).toBe("web-r2");
    expect(d.explanation).toContain(
      "HighErrorRate (b): no incidentResponse action matches its labels: notify only",
    );
  });

  it("does nothing for alerts resolved before they were acted on, and says so", () => {
    const out = correlate({
      ...base,
      alerts: [
        alert({ namespace: "checkout", severity: "critical" }, { status: "resolved", endsAt: iso(T0 + MIN) }),
      ],
    });
    const d = out.decisions[0]!;
    expect(d).toMatchObject({ notify: false, kill: [] });
    expect(d.revert).toBeUndefined();
    expect(d.explanation.slice(1)).toEqual([
      "HighErrorRate: resolved before it was acted on: nothing done for it",
      "every alert was resolved before it was acted on: nothing done",
    ]);
  });

  it("explains a Revert with no Release changed in the window: nothing reverted", () => {
    const out = correlate({
      ...base,
      alerts: [alert({ namespace: "checkout", severity: "critical" }, { startsAt: iso(T0 + 2 * 60 * MIN) })],
      now: T0 + 2 * 60 * MIN,
    });
    const d = out.decisions[0]!;
    expect(d.suspects).toEqual([]);
    expect(d.revert).toBeUndefined();
    expect(d.explanation).toEqual([
      `HighErrorRate: no change of squad payments in scope in the 30m before ${iso(T0 + 2 * 60 * MIN)}`,
      "HighErrorRate: incidentResponse actions[0] Revert match",
      "Revert asked, but no Release changed in the window: nothing reverted",
    ]);
  });

  it("never reverts an undo (an earlier incident's revert): that would redeploy the revision it took away", () => {
    const undo: Change = { ...release("checkout", "web", T0 - 2 * MIN, "web-r1"), undo: true };
    const out = correlate({
      ...base,
      changes: [undo, ...changes],
      alerts: [alert({ namespace: "checkout", severity: "critical" })],
    });
    const d = out.decisions[0]!;
    expect(d.suspects[0]).toBe(undo);
    // The change before the undo is the one a revert may still be about (and the plan finds the
    // Release no longer runs it); the undo itself is not reverted.
    expect(d.revert?.revision).toBe("web-r2");
    expect(d.explanation.at(-1)).toBe(
      `revert Release checkout/web revision web-r2 at ${iso(T0 - 10 * MIN)}: the most recent Release change in the window (not Release checkout/web revision web-r1 (an undo) at ${iso(T0 - 2 * MIN)}: an undo is never reverted, that would bring back the revision it took away)`,
    );

    const onlyUndo = correlate({
      ...base,
      changes: [undo],
      alerts: [alert({ namespace: "checkout", severity: "critical" })],
    }).decisions[0]!;
    expect(onlyUndo.revert).toBeUndefined();
    expect(onlyUndo.explanation.at(-1)).toMatch(
      /^Revert asked, but the only Release changes in the window are undos \(not Release checkout\/web revision web-r1 \(an undo\).*: nothing reverted$/,
    );
  });

  it("lists alerts it cannot give to a squad, acting on nothing for them", () => {
    const out = correlate({
      ...base,
      alerts: [alert({ namespace: "search", squad: "payments", severity: "critical" })],
    });
    expect(out.decisions).toEqual([]);
    expect(out.unscoped).toEqual([
      {
        alert: "HighErrorRate",
        why: "its squad label says payments, but namespace search belongs to discovery: not acted on",
      },
    ]);
  });
});
