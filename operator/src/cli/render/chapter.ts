/**
 * `kubectl crescendo chapter`: a chapter (a craft across squads, e.g. backend) as its lead reads
 * it — every member whose `chapter` in a Squad's spec names it, the squads each works in, with
 * the squad's tribe and the member's role there. A person in two squads is one member with two
 * squads. Pure.
 */
import type { Squad } from "../../api/kinds.js";
import type { SquadMember } from "../../api/squad.js";
import { palette, plural, table, type Cell, type RenderOptions } from "./style.js";

/** One member of the chapter and where they work. */
export interface ChapterMember {
  kind: SquadMember["kind"];
  /** `name`, or `namespace/name` for a ServiceAccount. */
  name: string;
  squads: { squad: string; tribe?: string; role: string }[];
}

/** The chapter's members across every squad, sorted by name; each member once. */
export function chapterMembers(chapter: string, squads: readonly Squad[]): ChapterMember[] {
  const byMember = new Map<string, ChapterMember>();
  const sorted = [...squads].sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
  for (const squad of sorted) {
    for (const m of squad.spec?.members ?? []) {
      if (m.chapter !== chapter) continue;
      const name = m.kind === "ServiceAccount" ? `${m.namespace ?? ""}/${m.name}` : m.name;
      const id = `${m.kind}/${name}`;
      const member = byMember.get(id) ?? { kind: m.kind, name, squads: [] };
      byMember.set(id, member);
      const squadName = squad.metadata.name ?? "";
      // The same person listed twice in one squad (two roles) shows the squad once, both roles.
      const there = member.squads.find((s) => s.squad === squadName);
      const role = m.role ?? "member";
      if (there) there.role = [...new Set([...there.role.split(","), role])].join(",");
      else
        member.squads.push({
          squad: squadName,
          ...(squad.spec?.tribe ? { tribe: squad.spec.tribe } : {}),
          role,
        });
    }
  }
  return [...byMember.values()].sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind));
}

/** Renders the chapter: a summary line, then one row per member and squad. */
export function renderChapter(
  chapter: string,
  squads: readonly Squad[],
  options: RenderOptions = {},
): string {
  const p = palette(options.color ?? false);
  const members = chapterMembers(chapter, squads);
  if (members.length === 0) {
    return `Chapter ${p.bold(chapter)} has no members: no Squad lists a member with chapter "${chapter}".\n`;
  }
  const squadNames = new Set(members.flatMap((m) => m.squads.map((s) => s.squad)));
  const tribes = new Set(members.flatMap((m) => m.squads.flatMap((s) => (s.tribe ? [s.tribe] : []))));
  const summary =
    `Chapter ${p.bold(chapter)}: ${plural(members.length, "member")} in ${plural(squadNames.size, "squad")}` +
    (tribes.size > 0 ? ` across ${plural(tribes.size, "tribe")} (${[...tribes].sort().join(", ")})` : "");
  const rows: Cell[][] = [
    ["MEMBER", "KIND", "SQUAD", "TRIBE", "ROLE"].map((h) => ({ text: h, style: p.dim })),
    ...members.flatMap((m) =>
      m.squads.map((s, i): Cell[] => [
        i === 0 ? m.name : "",
        i === 0 ? m.kind : "",
        s.squad,
        s.tribe ?? "-",
        s.role,
      ]),
    ),
  ];
  const multi = members.filter((m) => m.squads.length > 1).length;
  const footer =
    multi > 0 ? [`${plural(multi, "member")} work${multi === 1 ? "s" : ""} in more than one squad.`] : [];
  return [summary, ...table(rows, ""), ...footer].join("\n") + "\n";
}
