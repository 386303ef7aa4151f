/**
 * Toggle debt as read from FeatureToggle statuses: which toggles can go (stale, unused, fully
 * rolled out, over the squad's limit), since when, and who still reads them. Pure; shared by the
 * plugin (`kubectl crescendo toggles`) and anything that lists a squad's debt.
 */
import type { FeatureToggle } from "./kinds.js";

import { DEBT_KINDS, type DebtKind } from "./featuretoggle.js";

export { DEBT_KINDS, type DebtKind };

export interface ToggleDebt {
  namespace: string;
  name: string;
  key: string;
  kinds: DebtKind[];
  /** When the oldest of its debts began (RFC 3339). */
  since: string;
  lastEvaluatedAt?: string;
  /** Callers that evaluated it in the last 24 h: who must change code before it is deleted. */
  callers: string[];
}

/** The toggles with debt, oldest debt first (then namespace, name). */
export function toggleDebt(toggles: readonly FeatureToggle[]): ToggleDebt[] {
  const debts: ToggleDebt[] = [];
  for (const toggle of toggles) {
    const status = toggle.status ?? {};
    const kinds: DebtKind[] = [];
    const times: string[] = [];
    for (const kind of DEBT_KINDS) {
      const condition = status.conditions?.find((c) => c.type === kind);
      const isStale = kind === "Stale" && status.stale === true;
      if (condition?.status !== "True" && !isStale) continue;
      kinds.push(kind);
      const at = isStale
        ? (status.staleSince ?? condition?.lastTransitionTime)
        : condition?.lastTransitionTime;
      if (at) times.push(at);
    }
    if (kinds.length === 0) continue;
    const since =
      times.sort((a, b) => Date.parse(a) - Date.parse(b))[0] ?? toggle.metadata.creationTimestamp ?? "";
    debts.push({
      namespace: toggle.metadata.namespace ?? "",
      name: toggle.metadata.name ?? "",
      key: status.key ?? toggle.spec?.key ?? toggle.metadata.name ?? "",
      kinds,
      since,
      ...(status.insight?.lastEvaluatedAt ? { lastEvaluatedAt: status.insight.lastEvaluatedAt } : {}),
      callers: status.insight?.callers24h ?? [],
    });
  }
  return debts.sort(
    (a, b) =>
      Date.parse(a.since) - Date.parse(b.since) ||
      a.namespace.localeCompare(b.namespace) ||
      a.name.localeCompare(b.name),
  );
}
