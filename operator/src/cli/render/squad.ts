/**
 * `kubectl crescendo squad`: a squad at a glance — its namespaces and whether they are in
 * place, its Releases by phase, its FeatureToggles, and its delivery metrics (DORA keys over
 * 7 and 30 days, with their levels) as the Squad controller summarised them in status. Pure, like the status renderer.
 */
import type { FeatureToggle, Release, Squad } from "../../api/kinds.js";
import { deliveryTable, openFailuresLine } from "./delivery.js";
import { phaseColor } from "./status.js";
import {
  fields,
  join,
  palette,
  plural,
  relative,
  table,
  type Cell,
  type Palette,
  type RenderOptions,
} from "./style.js";

export interface SquadRenderOptions extends RenderOptions {
  /** The Releases in the squad's namespaces, listed one per line when given. */
  releases?: readonly Release[];
  /** The FeatureToggles in the squad's namespaces; killed and stale ones are named when given. */
  toggles?: readonly FeatureToggle[];
}

/** Renders the Squad as sections separated by blank lines, ending in a newline. */
export function renderSquad(squad: Squad, options: SquadRenderOptions = {}): string {
  const now = options.now ?? Date.now();
  const p = palette(options.color ?? false);
  const spec = squad.spec ?? {};
  const status = squad.status ?? {};
  const ready = status.conditions?.find((c) => c.type === "Ready");
  // Apart from Ready: a refused incident policy stalls nothing, but its alerts are only notified.
  const policy = status.conditions?.find((c) => c.type === "IncidentResponseValid");
  const members = spec.members ?? [];
  const roles = (["lead", "member", "viewer"] as const).flatMap((role) => {
    const n = members.filter((m) => (m.role ?? "member") === role).length;
    return n === 0 ? [] : [plural(n, role)];
  });

  const overview = fields(
    [
      ["Squad", p.bold(join([squad.metadata.name, spec.tribe && `(tribe ${spec.tribe})`], " "))],
      ["Mission", spec.mission],
      [
        "Ready",
        ready &&
          `${(ready.status === "True" ? p.ok : p.warn)(ready.status)} (${ready.reason})${ready.message ? `: ${ready.message}` : ""}`,
      ],
      ["Members", members.length === 0 ? "none" : `${members.length} (${join(roles)})`],
      ["Isolation", spec.networkIsolation],
      [
        "Incidents",
        policy &&
          (policy.status === "True"
            ? `policy ${p.ok("valid")}: ${policy.message}`
            : `policy ${p.bad("refused")} (${policy.reason}): ${policy.message}`),
      ],
    ],
    10,
  );

  const namespaces = status.namespaces ?? [];
  const namespaceLines = [
    `Namespaces  ${status.namespaceCount ?? namespaces.length}`,
    ...table(
      namespaces.map((n): Cell[] => [
        n.name,
        n.ready ? { text: "ready", style: p.ok } : { text: "not ready", style: p.bad },
        n.message ?? "",
      ]),
    ),
  ];

  const r = status.releases;
  const releaseLines = [
    `Releases    ${
      r
        ? `${r.total}: ${join([
            phaseCount(p, "Progressing", r.progressing, "progressing"),
            phaseCount(p, "Paused", r.paused, "paused"),
            phaseCount(p, "Healthy", r.healthy, "healthy"),
            phaseCount(p, "Degraded", r.degraded, "degraded"),
            phaseCount(p, "RolledBack", r.rolledBack, "rolled back"),
          ])}`
        : p.dim("not reported yet")
    }`,
    ...releaseTable(options.releases, p),
  ];

  const t = status.toggles;
  const maxActive = spec.toggles?.maxActive;
  const toggleLines = [
    `Toggles     ${
      t
        ? `${t.total}: ${join([
            `${t.active} active${maxActive !== undefined ? ` (max ${maxActive})` : ""}`,
            t.stale > 0 ? p.warn(`${t.stale} stale`) : "0 stale",
            t.killed > 0 ? p.bad(`${t.killed} killed`) : "0 killed",
          ])}`
        : p.dim("not reported yet")
    }`,
    ...toggleAttention(options.toggles, p, now),
  ];

  const d = status.delivery;
  const deliveryLines = d
    ? [
        "Delivery (DORA keys from the Releases' history; levels of the 2024 DORA report)",
        ...deliveryTable(d, p),
        ...openFailuresLine(d, p),
      ]
    : [];

  const conditions = status.conditions ?? [];
  const conditionLines =
    conditions.length === 0
      ? []
      : [
          "Conditions",
          ...table([
            ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"].map((h) => ({ text: h, style: p.dim })),
            ...conditions.map((c) => [
              c.type,
              c.status,
              c.reason,
              relative(c.lastTransitionTime, now) ?? "",
              c.message,
            ]),
          ]),
        ];

  return (
    [[...overview, ...namespaceLines, ...releaseLines, ...toggleLines], deliveryLines, conditionLines]
      .filter((lines) => lines.length > 0)
      .map((lines) => lines.join("\n"))
      .join("\n\n") + "\n"
  );
}

function phaseCount(p: Palette, phase: string, n: number, label: string): string {
  const text = `${n} ${label}`;
  return n > 0 ? phaseColor(p, phase)(text) : text;
}

function releaseTable(releases: readonly Release[] | undefined, p: Palette): string[] {
  if (!releases || releases.length === 0) return [];
  const sorted = [...releases].sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
  return table([
    ["NAMESPACE", "NAME", "PHASE", "STABLE", "CANARY", "WEIGHT"].map((h) => ({ text: h, style: p.dim })),
    ...sorted.map((rel): Cell[] => {
      const s = rel.status ?? {};
      const phase = s.phase ?? "Unknown";
      return [
        rel.metadata.namespace ?? "",
        rel.metadata.name ?? "",
        { text: phase, style: phaseColor(p, phase) },
        s.stableVersion ?? "",
        s.canaryVersion ?? "",
        s.canaryRevision && s.phase !== "RolledBack" ? `${s.canaryWeight ?? 0}%` : "",
      ];
    }),
  ]);
}

/** The toggles that need a person: killed by a rollback (re-arm) or stale (remove). */
function toggleAttention(toggles: readonly FeatureToggle[] | undefined, p: Palette, now: number): string[] {
  const needs = (toggles ?? []).filter(
    (t) => t.status?.effectiveState === "KilledByRollback" || t.status?.stale === true,
  );
  if (needs.length === 0) return [];
  return table(
    needs.map((t): Cell[] => {
      const killed = t.status?.effectiveState === "KilledByRollback";
      return [
        t.metadata.namespace ?? "",
        t.metadata.name ?? "",
        killed ? { text: "killed", style: p.bad } : { text: "stale", style: p.warn },
        killed
          ? `by ${t.spec?.guard?.release ?? "its guard"}'s rollback ${relative(t.status?.killedAt, now) ?? ""}; kubectl crescendo rearm ${t.metadata.name ?? ""} -n ${t.metadata.namespace ?? ""}`
          : `since ${relative(t.status?.staleSince, now) ?? "?"}; remove it from the code, then delete it`,
      ];
    }),
  );
}
