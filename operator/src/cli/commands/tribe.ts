/**
 * `tribe <name>`: the squads whose spec names the tribe, their DORA keys, the tribe's own keys,
 * the Releases in flight and the toggles (active, stale) of their namespaces.
 */
import type { FeatureToggle, Release } from "../../api/kinds.js";
import { CliError } from "../errors.js";
import { renderTribe } from "../render/tribe.js";
import type { Command } from "./command.js";
import { FEATURE_TOGGLE, RELEASE } from "./lookup.js";
import { listIn, squadNamespaces } from "./squad.js";
import { listSquads, tribesOf } from "./squads.js";

export const tribeCommand: Command = {
  name: "tribe",
  target: "tribe",
  summary: "Show a tribe: its squads and their DORA keys, Releases in flight, toggles",
  description:
    "Shows the Squads whose spec.tribe names the tribe: each squad's readiness and DORA keys over\n" +
    "30 days (as its status states them); the tribe's keys over 7 and 30 days, computed from its\n" +
    "squads' change records together; the Releases in flight (Progressing or Paused) and the\n" +
    "FeatureToggles (active, stale) in their namespaces. Tribes are cluster-wide: -n does not apply.",
  options: {},
  flagHelp: [],
  async run(env, name) {
    const all = await listSquads(env);
    const squads = all.filter((s) => s.spec?.tribe === name);
    if (squads.length === 0) {
      const known = tribesOf(all);
      const hint = known.length > 0 ? `\nhint: the tribes squads name: ${known.join(", ")}` : "";
      throw new CliError(`tribe "${name}" has no squads (no Squad sets spec.tribe: ${name})${hint}`);
    }
    const namespaces = squads.flatMap(squadNamespaces);
    const releases = await listIn<Release>(env, RELEASE, namespaces);
    const toggles = await listIn<FeatureToggle>(env, FEATURE_TOGGLE, namespaces);
    env.io.out(renderTribe(name, squads, { now: env.now(), color: env.io.color, releases, toggles }));
    return 0;
  },
};
