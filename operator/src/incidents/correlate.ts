/**
 * Which of a squad's recent changes are suspects for an alert, and what the squad's policy
 * (`spec.incidentResponse`) says to do about them. Pure: the receiver hands in one Alertmanager
 * group, the changes it observed (Releases promoted, FeatureToggles changed) and how namespaces
 * map to squads; this decides, and says why for every decision, including "nothing changed in
 * the window, nothing done" (docs/squad.md#incident-response).
 *
 * The rules, each chosen for the on-call engineer woken at 3 a.m.:
 *
 * - **Scope.** An alert belongs to the squad owning the namespace in its `namespace` label (the
 *   operator's own record, not the alert's word); a `squad` label is used only when no namespace
 *   is named, and an alert whose `squad` label disagrees with the namespace's owner is out of
 *   scope: acting on another squad's Releases because of a mislabelled rule is the worst outcome.
 *   A `crescendo_release` label narrows the scope to that Release (and toggles of its namespace).
 *   Label names are configurable (`AlertMapping`).
 * - **Window.** A change is a suspect when it took effect within `correlationWindow` before the
 *   alert started, both edges included: `startsAt - window <= at <= startsAt`. A change after
 *   the alert started cannot have caused it.
 * - **Several alerts in one group** are judged one by one and merged per squad: suspects are the
 *   union (newest first), actions the union of what each alert's matching rule asks.
 * - **Several squads** in one group each get their own decision; one squad's alert never acts
 *   on another squad's changes.
 * - **Resolved before acted on.** A resolved alert (status `resolved`, or `endsAt` passed) asks
 *   for nothing; a squad whose alerts are all resolved gets a decision with no action, saying so.
 * - **Actions.** Every rule of `actions` whose `match.labels` all equal the alert's labels
 *   applies: `Revert` the most recent Release change among the suspects that is not an undo
 *   (reverting an undo, an earlier incident's remedy included, would redeploy what it removed), `KillToggles` every
 *   toggle change among them, `Notify` only (always done when anything is). No policy, or no
 *   rule matching: `Notify`.
 */

/** One alert as Alertmanager's webhook (version 4) sends it. */
export interface Alert {
  status: "firing" | "resolved";
  labels: Readonly<Record<string, string>>;
  startsAt: string;
  endsAt?: string;
  fingerprint?: string;
}

/** The label names an alert is mapped to a squad with. */
export interface AlertMapping {
  namespace: string;
  release: string;
  squad: string;
}

export const DEFAULT_ALERT_MAPPING: AlertMapping = {
  namespace: "namespace",
  release: "crescendo_release",
  squad: "squad",
};

/** A change that took effect at `at`: a Release revision reaching traffic, a toggle changed. */
export interface Change {
  kind: "Release" | "FeatureToggle";
  namespace: string;
  name: string;
  /** The squad owning the namespace. */
  squad: string;
  at: string;
  /** For a Release: the revision the change introduced. */
  revision?: string;
  /**
   * For a Release: the stable revision the change replaced (history `replacedRevision`), which
   * reverting the change returns to. Not simply the most recent other revision: that can be one
   * rolled back or reverted since, which a revert must not bring back.
   */
  replaced?: string;
  /**
   * For a Release: the change was an undo (a person's, or an earlier incident's revert). A
   * suspect like any change, but never reverted: reverting it would bring back the revision it
   * took away, the one an earlier incident or a person judged bad.
   */
  undo?: boolean;
}

export type ResponseAction = "Revert" | "KillToggles" | "Notify";

/** A Squad's `spec.incidentResponse`, parsed. */
export interface ResponsePolicy {
  correlationWindowMs: number;
  actions: readonly { match: { labels: Readonly<Record<string, string>> }; do: ResponseAction }[];
  /**
   * Set when the Squad's `incidentResponse` is refused (its IncidentResponseValid condition says why): no
   * rule is trusted, so every alert is Notify only, and the record says it was for this reason.
   */
  invalid?: string;
}

/** What to do for one squad, and why. */
export interface SquadDecision {
  squad: string;
  /** The alerts of this squad in the group (by fingerprint, else their labels). */
  alerts: string[];
  /** Changes within the window before an alert of the squad, newest first. */
  suspects: Change[];
  revert?: Change;
  kill: Change[];
  notify: boolean;
  /** One sentence per decision, in the order they were made. */
  explanation: string[];
  /**
   * Where the squad-wide decisions (revert, kill, nothing done) start in `explanation`; the
   * lines before are per alert. A bounded record keeps these even when a group of many alerts
   * has more per-alert lines than fit.
   */
  decidedFrom: number;
}

/** An alert that could not be given to a squad, and why. */
export interface Unscoped {
  alert: string;
  why: string;
}

export interface CorrelationInput {
  alerts: readonly Alert[];
  changes: readonly Change[];
  /** The squad owning a namespace (its `crescendo.dev/squad` label), if any. */
  squadOf: (namespace: string) => string | undefined;
  /** The squad's policy; undefined when the Squad has no `incidentResponse`. */
  policyOf: (squad: string) => ResponsePolicy | undefined;
  mapping?: AlertMapping;
  /** Used with a policy-less squad: the window suspects are listed for. */
  defaultWindowMs?: number;
  now: number;
}

export const DEFAULT_CORRELATION_WINDOW_MS = 30 * 60_000;

/** The scope of an alert: its squad, and the namespace and Release it names. */
export function scopeOf(
  alert: Alert,
  squadOf: (namespace: string) => string | undefined,
  mapping: AlertMapping = DEFAULT_ALERT_MAPPING,
): { squad: string; namespace?: string; release?: string } | { why: string } {
  const namespace = alert.labels[mapping.namespace];
  const release = alert.labels[mapping.release];
  const labelled = alert.labels[mapping.squad];
  if (namespace) {
    const owner = squadOf(namespace);
    if (!owner) return { why: `namespace ${namespace} belongs to no squad` };
    if (labelled && labelled !== owner) {
      return {
        why: `its ${mapping.squad} label says ${labelled}, but namespace ${namespace} belongs to ${owner}: not acted on`,
      };
    }
    return { squad: owner, namespace, ...(release ? { release } : {}) };
  }
  if (release) return { why: `it names Release ${release} but no ${mapping.namespace} label` };
  if (labelled) return { squad: labelled };
  return { why: `no ${mapping.namespace} or ${mapping.squad} label` };
}

/** The changes in scope that took effect in `[startsAt - window, startsAt]`, newest first. */
export function suspectsFor(
  alert: Alert,
  scope: { squad: string; namespace?: string; release?: string },
  changes: readonly Change[],
  windowMs: number,
): Change[] {
  const start = Date.parse(alert.startsAt);
  if (Number.isNaN(start)) return [];
  return changes
    .filter((c) => {
      const at = Date.parse(c.at);
      if (Number.isNaN(at) || at < start - windowMs || at > start) return false;
      if (c.squad !== scope.squad) return false;
      if (scope.namespace && c.namespace !== scope.namespace) return false;
      return !(scope.release && c.kind === "Release" && c.name !== scope.release);
    })
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
}

/** Whether the alert no longer fires (resolved, or past its end). */
export function resolved(alert: Alert, now: number): boolean {
  if (alert.status === "resolved") return true;
  const end = alert.endsAt === undefined ? NaN : Date.parse(alert.endsAt);
  // Alertmanager sends the zero time for an open-ended alert.
  return !Number.isNaN(end) && end > 0 && end <= now;
}

/**
 * The actions the policy asks for an alert: those of every rule whose labels all match (a rule
 * may revert and another kill toggles for the same alert), else Notify; and why.
 */
export function actionsFor(
  alert: Alert,
  policy: ResponsePolicy | undefined,
): { do: ResponseAction[]; why: string } {
  if (!policy) return { do: ["Notify"], why: "the squad has no incidentResponse policy: notify only" };
  if (policy.invalid !== undefined) {
    return {
      do: ["Notify"],
      why: `the squad's incidentResponse is invalid (${policy.invalid}): notify only until it is fixed`,
    };
  }
  const matching = policy.actions
    .map((a, i) => ({ ...a, i }))
    .filter((a) => Object.entries(a.match.labels).every(([k, v]) => alert.labels[k] === v));
  if (matching.length === 0) {
    return { do: ["Notify"], why: "no incidentResponse action matches its labels: notify only" };
  }
  const rules = matching.map((a) => `actions[${a.i}] ${a.do}`).join(", ");
  return { do: [...new Set(matching.map((a) => a.do))], why: `incidentResponse ${rules} match` };
}

/** One decision per squad with an alert in the group, and the alerts no squad could be given. */
export function correlate(input: CorrelationInput): { decisions: SquadDecision[]; unscoped: Unscoped[] } {
  const mapping = input.mapping ?? DEFAULT_ALERT_MAPPING;
  const bySquad = new Map<string, SquadDecision>();
  const unscoped: Unscoped[] = [];
  const asks = new Map<string, Set<ResponseAction>>();
  for (const alert of input.alerts) {
    const name = alertName(alert);
    const scope = scopeOf(alert, input.squadOf, mapping);
    if ("why" in scope) {
      unscoped.push({ alert: name, why: scope.why });
      continue;
    }
    const decision = bySquad.get(scope.squad) ?? emptyDecision(scope.squad);
    bySquad.set(scope.squad, decision);
    decision.alerts.push(name);
    const policy = input.policyOf(scope.squad);
    const windowMs = policy?.correlationWindowMs ?? input.defaultWindowMs ?? DEFAULT_CORRELATION_WINDOW_MS;
    const suspects = suspectsFor(alert, scope, input.changes, windowMs);
    mergeSuspects(decision, suspects);
    const windowText = `${Math.round(windowMs / 60_000)}m before ${alert.startsAt}`;
    decision.explanation.push(
      suspects.length === 0
        ? `${name}: no change of squad ${scope.squad} in scope in the ${windowText}`
        : `${name}: ${suspects.length} change(s) in the ${windowText}: ${suspects.map(describe).join(", ")}`,
    );
    if (resolved(alert, input.now)) {
      decision.explanation.push(`${name}: resolved before it was acted on: nothing done for it`);
      continue;
    }
    const action = actionsFor(alert, policy);
    decision.explanation.push(`${name}: ${action.why}`);
    const set = asks.get(scope.squad) ?? new Set<ResponseAction>();
    for (const a of action.do) set.add(a);
    asks.set(scope.squad, set);
  }
  for (const decision of bySquad.values()) finish(decision, asks.get(decision.squad));
  return { decisions: [...bySquad.values()], unscoped };
}

function finish(d: SquadDecision, asked: Set<ResponseAction> | undefined): void {
  d.decidedFrom = d.explanation.length;
  if (!asked) {
    d.explanation.push("every alert was resolved before it was acted on: nothing done");
    return;
  }
  d.notify = true;
  if (asked.has("Revert")) {
    const releases = d.suspects.filter((c) => c.kind === "Release");
    d.revert = releases.find((c) => !c.undo);
    const undos = releases.filter((c) => c.undo && (!d.revert || Date.parse(c.at) > Date.parse(d.revert.at)));
    const skipped =
      undos.length === 0
        ? ""
        : ` (not ${undos.map(describe).join(", ")}: an undo is never reverted, that would bring back the revision it took away)`;
    d.explanation.push(
      d.revert
        ? `revert ${describe(d.revert)}: the most recent Release change in the window${skipped}`
        : undos.length > 0
          ? `Revert asked, but the only Release changes in the window are undos${skipped}: nothing reverted`
          : "Revert asked, but no Release changed in the window: nothing reverted",
    );
  }
  if (asked.has("KillToggles")) {
    d.kill = d.suspects.filter((c) => c.kind === "FeatureToggle");
    d.explanation.push(
      d.kill.length > 0
        ? `kill ${d.kill.map(describe).join(", ")}: changed in the window`
        : "KillToggles asked, but no FeatureToggle changed in the window: nothing killed",
    );
  }
}

function mergeSuspects(d: SquadDecision, more: readonly Change[]): void {
  const key = (c: Change) => `${c.kind}/${c.namespace}/${c.name}/${c.revision ?? ""}/${c.at}`;
  const seen = new Set(d.suspects.map(key));
  d.suspects = [...d.suspects, ...more.filter((c) => !seen.has(key(c)))].sort(
    (a, b) => Date.parse(b.at) - Date.parse(a.at),
  );
}

function emptyDecision(squad: string): SquadDecision {
  return { squad, alerts: [], suspects: [], kill: [], notify: false, explanation: [], decidedFrom: 0 };
}

function alertName(alert: Alert): string {
  const name = alert.labels["alertname"] ?? "alert";
  return alert.fingerprint ? `${name} (${alert.fingerprint})` : name;
}

function describe(c: Change): string {
  const revision = c.revision ? ` revision ${c.revision}` : "";
  return `${c.kind} ${c.namespace}/${c.name}${revision}${c.undo ? " (an undo)" : ""} at ${c.at}`;
}
