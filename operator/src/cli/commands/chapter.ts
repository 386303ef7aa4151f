/**
 * `chapter <name>`: the members whose `chapter` names it, across every Squad, and the squads
 * (and tribes) each works in. Read from the Squads' specs only.
 */
import { CliError } from "../errors.js";
import { chapterMembers, renderChapter } from "../render/chapter.js";
import type { Command } from "./command.js";
import { chaptersOf, listSquads } from "./squads.js";

export const chapterCommand: Command = {
  name: "chapter",
  target: "chapter",
  summary: "Show a chapter: its members across squads and tribes, and where each works",
  description:
    "Lists the members of every Squad whose spec.members[].chapter names the chapter, each once,\n" +
    "with the squads they work in, the squads' tribes and their role there. Chapters are\n" +
    "cluster-wide: -n does not apply.",
  options: {},
  flagHelp: [],
  async run(env, name) {
    const squads = await listSquads(env);
    if (chapterMembers(name, squads).length === 0) {
      const known = chaptersOf(squads);
      const hint = known.length > 0 ? `\nhint: the chapters members name: ${known.join(", ")}` : "";
      throw new CliError(`chapter "${name}" has no members (no Squad member sets chapter: ${name})${hint}`);
    }
    env.io.out(renderChapter(name, squads, { color: env.io.color }));
    return 0;
  },
};
