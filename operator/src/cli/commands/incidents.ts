/**
 * `incidents [squad]`: the incidents of one Squad, with their timelines, or of every Squad the
 * user may list, newest first. Read from the Squads' status: the record the operator keeps.
 */
import type { Squad } from "../../api/kinds.js";
import { incidentsOf, renderIncidents } from "../render/incidents.js";
import type { Command } from "./command.js";
import { fetchNamed, SQUAD } from "./lookup.js";
import { listSquads } from "./squads.js";

export const incidentsCommand: Command = {
  name: "incidents",
  target: "squad",
  noName: "[squad]",
  optionalName: true,
  summary: "List the incidents Alertmanager reported and what was done: all squads, or one with timelines",
  description:
    "Lists the incidents the operator recorded from Alertmanager's notifications (the Squads'\n" +
    "status.incidents), newest first: the alert, the suspect changes, the actions taken (Revert,\n" +
    "KillToggles) and their outcome, and the recovery time once resolved. With a squad named,\n" +
    "each incident's timeline, whether on-call was told, and the reason for every decision.\n" +
    "Squads are cluster-scoped: -n does not apply.",
  options: {},
  flagHelp: [],
  async run(env, name) {
    const squads = name ? [await fetchNamed<Squad>(env, SQUAD, name)] : await listSquads(env);
    const list = incidentsOf(
      squads.map((s) => ({
        name: s.metadata.name ?? "",
        incidents: s.status?.incidents ?? [],
        notifications: s.status?.notifications ?? [],
      })),
    );
    env.io.out(renderIncidents(list, { now: env.now(), color: env.io.color, timelines: name !== "" }));
    return 0;
  },
};
