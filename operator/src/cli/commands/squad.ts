/**
 * `squad <name>`: the Squad's own status (namespaces, counts, delivery metrics, conditions),
 * plus its Releases and the toggles that need a person, listed from its namespaces when the
 * user may read them.
 */
import type { FeatureToggle, Release, Squad } from "../../api/kinds.js";
import { ApiError } from "../../runtime/client.js";
import type { KubeObject } from "../../runtime/types.js";
import { renderSquad } from "../render/squad.js";
import type { Command, CommandEnv } from "./command.js";
import { fetchNamed, FEATURE_TOGGLE, RELEASE, SQUAD, type Kind } from "./lookup.js";

export const squadCommand: Command = {
  name: "squad",
  target: "squad",
  summary: "Show a Squad: namespaces, Releases by phase, toggles, delivery metrics, conditions",
  description:
    "Shows a Squad as its controller summarised it: each namespace and whether it is in place,\n" +
    "Releases by phase, FeatureToggles (active, stale, killed), the delivery metrics (DORA four\n" +
    "keys) and conditions; then the Releases and the toggles needing attention in its namespaces.\n" +
    "Squads are cluster-scoped: -n does not apply.",
  options: {},
  flagHelp: [],
  async run(env, name) {
    const squad = await fetchNamed<Squad>(env, SQUAD, name);
    const namespaces = squadNamespaces(squad);
    const releases = await listIn<Release>(env, RELEASE, namespaces);
    const toggles = await listIn<FeatureToggle>(env, FEATURE_TOGGLE, namespaces);
    env.io.out(renderSquad(squad, { now: env.now(), color: env.io.color, releases, toggles }));
    return 0;
  },
};

/** The squad's namespaces as reported, else as specified, else the one named after it. */
export function squadNamespaces(squad: Squad): string[] {
  const reported = squad.status?.namespaces?.map((n) => n.name);
  if (reported && reported.length > 0) return reported;
  const specified = squad.spec?.namespaces?.map((n) => n.name);
  return specified && specified.length > 0 ? specified : [squad.metadata.name ?? ""];
}

/** Lists a kind in each namespace; a namespace the user may not read is skipped with a note. */
export async function listIn<T extends KubeObject>(
  env: CommandEnv,
  kind: Kind,
  namespaces: string[],
): Promise<T[]> {
  const found: T[] = [];
  for (const namespace of namespaces) {
    try {
      found.push(...(await env.conn.client.list<T>(kind.resource, { namespace })).items);
    } catch (err) {
      const why =
        err instanceof ApiError && err.status === 403 ? "forbidden" : String((err as Error).message);
      env.io.err(`note: cannot list ${kind.resource.plural} in namespace ${namespace} (${why})\n`);
    }
  }
  return found;
}
