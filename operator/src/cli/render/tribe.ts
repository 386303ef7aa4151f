/**
 * `kubectl crescendo tribe`: a tribe at a glance, as its lead reads it on a Monday — each squad
 * with its DORA keys over 30 days (as its Squad status states them), the tribe's own keys over
 * 7 and 30 days computed from its squads' change records (so one change counts once, and a
 * tribe's median is a median of changes, not of squads' medians), the Releases in flight and
 * the toggles: how many are active, and which are stale. Pure, like the squad renderer.
 */
import type { ChangeRecord, DeliveryWindow } from "../../api/delivery.js";
import type { FeatureToggle, Release, Squad } from "../../api/kinds.js";
import { changeKey } from "../../delivery/changes.js";
import { deliveryWindow } from "../../delivery/figures.js";
import { deliveryTable, openFailuresLine } from "./delivery.js";
import { phaseColor } from "./status.js";
import {
  fields,
  formatDuration,
  palette,
  relative,
  table,
  type Cell,
  type Palette,
  type RenderOptions,
} from "./style.js";

export interface TribeRenderOptions extends RenderOptions {
  /** The Releases in the squads' namespaces; those in flight are listed. */
  releases?: readonly Release[];
  /** The FeatureToggles in the squads' namespaces; the stale ones are listed. */
  toggles?: readonly FeatureToggle[];
}

/** Phases of a Release whose rollout has not ended: a person may still have to act. */
const IN_FLIGHT = new Set(["Progressing", "Paused"]);

/** Whether a Release is rolling out (or held mid-rollout). */
export function inFlight(release: Release): boolean {
  return IN_FLIGHT.has(release.status?.phase ?? "");
}

/**
 * The tribe's change records: every squad's, each change once (a namespace that moved between
 * two squads of the tribe is in both their ledgers).
 */
export function tribeRecords(squads: readonly Squad[]): ChangeRecord[] {
  const byKey = new Map<string, ChangeRecord>();
  for (const squad of squads) {
    for (const r of squad.status?.delivery?.changes ?? [])
      if (!byKey.has(changeKey(r))) byKey.set(changeKey(r), r);
  }
  return [...byKey.values()];
}

/** Renders the tribe as sections separated by blank lines, ending in a newline. */
export function renderTribe(
  tribe: string,
  squads: readonly Squad[],
  options: TribeRenderOptions = {},
): string {
  const now = options.now ?? Date.now();
  const p = palette(options.color ?? false);
  const sorted = [...squads].sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
  const squadOf = squadByNamespace(sorted);
  const ready = sorted.filter((s) => readyStatus(s) === "True").length;
  const releases = options.releases ?? [];
  const toggles = options.toggles ?? [];

  const overview = fields(
    [
      ["Tribe", p.bold(tribe)],
      ["Squads", `${sorted.length} (${ready} ready)`],
      [
        "Releases",
        `${releases.length} in the squads' namespaces, ${releases.filter(inFlight).length} in flight`,
      ],
      [
        "Toggles",
        `${toggles.length}: ${toggles.filter((t) => t.status?.effectiveState === "Enabled").length} active, ${staleCount(toggles, p)}`,
      ],
    ],
    8,
  );

  const squadLines = [
    "Squads (DORA keys over 30 days, from each Squad's status)",
    ...table([
      ["SQUAD", "READY", "DEPLOYMENTS", "LEAD TIME", "FAIL RATE", "RECOVERY", "IN FLIGHT", "TOGGLES"].map(
        (h) => ({ text: h, style: p.dim }),
      ),
      ...sorted.map((s): Cell[] => {
        const name = s.metadata.name ?? "";
        const month = s.status?.delivery?.last30d;
        const r = readyStatus(s);
        const t = s.status?.toggles;
        return [
          name,
          r === "True" ? { text: "True", style: p.ok } : { text: r ?? "Unknown", style: p.warn },
          deployments(month),
          month?.changeLeadTimeSeconds === undefined
            ? "-"
            : formatDuration(month.changeLeadTimeSeconds * 1000),
          month?.changeFailRate ?? "-",
          month?.failedDeploymentRecoveryTimeSeconds === undefined
            ? "-"
            : formatDuration(month.failedDeploymentRecoveryTimeSeconds * 1000),
          String(releases.filter((rel) => inFlight(rel) && squadOf(rel) === name).length),
          t ? `${t.active} active, ${t.stale} stale` : "-",
        ];
      }),
    ]),
  ];

  const records = tribeRecords(sorted);
  const windows = { last7d: deliveryWindow(records, now, 7), last30d: deliveryWindow(records, now, 30) };
  const deliveryLines = [
    "Delivery of the tribe (its squads' changes together; levels of the 2024 DORA report)",
    ...deliveryTable(windows, p),
    ...openFailuresLine(windows, p),
  ];

  const flying = releases.filter(inFlight).sort((a, b) => key(a).localeCompare(key(b)));
  const flightLines =
    flying.length === 0
      ? ["Releases in flight  none"]
      : [
          "Releases in flight",
          ...table([
            ["SQUAD", "NAMESPACE", "NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "STARTED"].map((h) => ({
              text: h,
              style: p.dim,
            })),
            ...flying.map((rel): Cell[] => {
              const s = rel.status ?? {};
              const phase = s.phase ?? "Unknown";
              return [
                squadOf(rel) ?? "",
                rel.metadata.namespace ?? "",
                rel.metadata.name ?? "",
                { text: s.pauseReason ? `${phase} (${s.pauseReason})` : phase, style: phaseColor(p, phase) },
                s.stableVersion ?? "",
                s.canaryVersion ?? "",
                `${s.canaryWeight ?? 0}%`,
                relative(s.rolloutStartedAt, now) ?? "",
              ];
            }),
          ]),
        ];

  const stale = toggles
    .filter((t) => t.status?.stale === true)
    .sort((a, b) => (a.status?.staleSince ?? "").localeCompare(b.status?.staleSince ?? ""));
  const staleLines =
    stale.length === 0
      ? []
      : [
          "Stale toggles (remove them from the code, then delete them)",
          ...table([
            ["SQUAD", "NAMESPACE", "TOGGLE", "STALE SINCE"].map((h) => ({ text: h, style: p.dim })),
            ...stale.map((t): Cell[] => [
              squadOf(t) ?? "",
              t.metadata.namespace ?? "",
              t.metadata.name ?? "",
              { text: relative(t.status?.staleSince, now) ?? "?", style: p.warn },
            ]),
          ]),
        ];

  return (
    [[...overview], squadLines, deliveryLines, flightLines, staleLines]
      .filter((lines) => lines.length > 0)
      .map((lines) => lines.join("\n"))
      .join("\n\n") + "\n"
  );
}

function readyStatus(squad: Squad): string | undefined {
  return squad.status?.conditions?.find((c) => c.type === "Ready")?.status;
}

function deployments(w: DeliveryWindow | undefined): string {
  return w ? `${w.deployments} (${(w.deployments / 30).toFixed(2)}/day)` : "-";
}

function staleCount(toggles: readonly FeatureToggle[], p: Palette): string {
  const n = toggles.filter((t) => t.status?.stale === true).length;
  return n > 0 ? p.warn(`${n} stale`) : "0 stale";
}

function key(obj: { metadata: { namespace?: string; name?: string } }): string {
  return `${obj.metadata.namespace ?? ""}/${obj.metadata.name ?? ""}`;
}

/** The squad an object belongs to, by its namespace: as the squads report them, else as specified. */
function squadByNamespace(
  squads: readonly Squad[],
): (obj: { metadata: { namespace?: string } }) => string | undefined {
  const owner = new Map<string, string>();
  for (const s of squads) {
    const name = s.metadata.name ?? "";
    const reported = s.status?.namespaces?.map((n) => n.name) ?? [];
    const specified = s.spec?.namespaces?.map((n) => n.name) ?? [];
    const all = reported.length > 0 ? reported : specified.length > 0 ? specified : [name];
    for (const ns of all) if (!owner.has(ns)) owner.set(ns, name);
  }
  return (obj) => owner.get(obj.metadata.namespace ?? "");
}
