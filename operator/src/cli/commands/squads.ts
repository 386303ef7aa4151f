/**
 * Every Squad in the cluster, for the commands that look across squads (`tribe`, `chapter`).
 * Squads are cluster-scoped: one list, and a refusal says what to ask an admin for.
 */
import type { Squad } from "../../api/kinds.js";
import { explain } from "../errors.js";
import type { CommandEnv } from "./command.js";
import { SQUAD } from "./lookup.js";

export async function listSquads(env: CommandEnv): Promise<Squad[]> {
  try {
    return (await env.conn.client.list<Squad>(SQUAD.resource)).items;
  } catch (err) {
    throw explain(err, { verb: "list", resource: SQUAD.resource, server: env.conn.server });
  }
}

/** The tribes squads name, sorted, each once: what a user may have meant. */
export function tribesOf(squads: readonly Squad[]): string[] {
  return [...new Set(squads.flatMap((s) => (s.spec?.tribe ? [s.spec.tribe] : [])))].sort();
}

/** The chapters members name, sorted, each once. */
export function chaptersOf(squads: readonly Squad[]): string[] {
  const names = squads.flatMap((s) => (s.spec?.members ?? []).flatMap((m) => (m.chapter ? [m.chapter] : [])));
  return [...new Set(names)].sort();
}
