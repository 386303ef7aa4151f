/**
 * `toggles [--squad=S]`: the toggle debt of a namespace or a squad, oldest first — toggles that
 * are stale, unused, fully rolled out or over the squad's limit, and the callers that still read
 * each (who must change code before the toggle is deleted). Read from the toggles' status.
 */
import type { FeatureToggle, Squad } from "../../api/kinds.js";
import { toggleDebt, type ToggleDebt } from "../../api/toggle-debt.js";
import { palette, relative, table, type Cell } from "../render/style.js";
import type { Command } from "./command.js";
import { fetchNamed, FEATURE_TOGGLE, SQUAD } from "./lookup.js";
import { listIn, squadNamespaces } from "./squad.js";

export const togglesCommand: Command = {
  name: "toggles",
  target: "squad",
  noName: "[--squad=S]",
  summary: "List toggle debt (stale, unused, fully rolled out, over limit), oldest first",
  description:
    "Lists the FeatureToggles that can go, oldest debt first: Stale (past its lifetime or\n" +
    "expiresAt), Unused (not evaluated over OFREP for N days), FullyRolledOut (one variant served\n" +
    "to everyone for N days) and OverActiveLimit, with when it was last evaluated and the callers\n" +
    "that read it in the last 24 h. In the namespace (-n), or in every namespace of a squad.",
  options: { squad: { type: "string" } },
  flagHelp: ["      --squad <name>       The squad whose namespaces to list (default: the namespace, -n)"],
  async run(env, _name, flags) {
    const squadName = flags.squad as string | undefined;
    const namespaces =
      squadName === undefined
        ? [env.namespace]
        : squadNamespaces(await fetchNamed<Squad>(env, SQUAD, squadName));
    const toggles = await listIn<FeatureToggle>(env, FEATURE_TOGGLE, namespaces);
    env.io.out(renderToggleDebt(toggleDebt(toggles), toggles.length, env.now(), env.io.color));
    return 0;
  },
};

/** The debt table, or a line saying there is none. */
export function renderToggleDebt(
  debts: readonly ToggleDebt[],
  total: number,
  now: number,
  color: boolean,
): string {
  const p = palette(color);
  if (debts.length === 0) return `No toggle debt among ${total} toggle${total === 1 ? "" : "s"}.\n`;
  const rows: Cell[][] = [
    ["NAMESPACE", "TOGGLE", "DEBT", "SINCE", "LAST EVALUATED", "CALLERS (24 h)"].map((h) => ({
      text: h,
      style: p.bold,
    })),
    ...debts.map((d) => [
      d.namespace,
      d.name,
      { text: d.kinds.join(","), style: p.warn },
      relative(d.since, now) ?? d.since,
      relative(d.lastEvaluatedAt, now) ?? "never",
      d.callers.length === 0 ? "-" : d.callers.join(","),
    ]),
  ];
  return `${table(rows, "").join("\n")}\n${debts.length} of ${total} toggles have debt.\n`;
}
