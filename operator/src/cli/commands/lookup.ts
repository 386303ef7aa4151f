/**
 * Finding the named object, and when it is not there, saying so in kubectl's words and
 * guessing what the user meant: a name that exists as another Crescendo kind gets a hint with
 * the command for that kind.
 */
import { FeatureToggleResource, ReleaseResource, SquadResource } from "../../api/kinds.js";
import type { KubeObject, Resource } from "../../runtime/types.js";
import { CliError, explain } from "../errors.js";
import type { CommandEnv } from "./command.js";

/** A Crescendo kind as the plugin names it to people. */
export interface Kind {
  resource: Resource;
  /** Lower case, as in `kubectl get <noun>`. */
  noun: string;
}

export const RELEASE: Kind = { resource: ReleaseResource, noun: "release" };
export const FEATURE_TOGGLE: Kind = { resource: FeatureToggleResource, noun: "featuretoggle" };
export const SQUAD: Kind = { resource: SquadResource, noun: "squad" };
const ALL: readonly Kind[] = [RELEASE, FEATURE_TOGGLE, SQUAD];

/** How a name may say its kind, as with kubectl: `featuretoggle/checkout`, `release/web`. */
const KIND_PREFIXES: Readonly<Record<string, Kind>> = {
  release: RELEASE,
  releases: RELEASE,
  featuretoggle: FEATURE_TOGGLE,
  featuretoggles: FEATURE_TOGGLE,
  toggle: FEATURE_TOGGLE,
  ft: FEATURE_TOGGLE,
};

/** `kind/name` split; a bare name has no kind (Release first, then FeatureToggle). */
export function splitKind(text: string): { kind?: Kind; name: string } {
  const slash = text.indexOf("/");
  if (slash < 0) return { name: text };
  const kind = KIND_PREFIXES[text.slice(0, slash).toLowerCase()];
  return kind ? { kind, name: text.slice(slash + 1) } : { name: text };
}

/**
 * A Release or, when there is none of that name, a FeatureToggle (a guarded ramp answers the
 * same commands); `kind/name` asks for one kind. Throws the Release's not-found message.
 */
export async function fetchRolling(
  env: CommandEnv,
  text: string,
): Promise<{ kind: Kind; name: string; obj: KubeObject }> {
  const { kind, name } = splitKind(text);
  if (kind) return { kind, name, obj: await fetchNamed(env, kind, name) };
  for (const candidate of [RELEASE, FEATURE_TOGGLE]) {
    let obj: KubeObject | undefined;
    try {
      obj = await env.conn.client.get<KubeObject>(candidate.resource, name, env.namespace);
    } catch (err) {
      throw explain(err, {
        verb: "get",
        resource: candidate.resource,
        namespace: env.namespace,
        server: env.conn.server,
      });
    }
    if (obj) return { kind: candidate, name, obj };
  }
  throw await notFound(env, RELEASE, name);
}

/** Reads the object, or throws the not-found message (with a hint) or the explained API error. */
export async function fetchNamed<T extends KubeObject>(
  env: CommandEnv,
  kind: Kind,
  name: string,
): Promise<T> {
  const namespace = kind.resource.namespaced ? env.namespace : undefined;
  let obj: T | undefined;
  try {
    obj = await env.conn.client.get<T>(kind.resource, name, namespace);
  } catch (err) {
    throw explain(err, { verb: "get", resource: kind.resource, namespace, server: env.conn.server });
  }
  if (!obj) throw await notFound(env, kind, name);
  return obj;
}

/** `release "x" not found in namespace "y"`, plus a hint when the name is another kind. */
export async function notFound(env: CommandEnv, kind: Kind, name: string): Promise<CliError> {
  const where = kind.resource.namespaced ? ` in namespace "${env.namespace}"` : "";
  const message = `${kind.noun} "${name}" not found${where}`;
  const other = await otherKind(env, kind, name);
  return new CliError(other ? `${message}\nhint: ${hint(env, kind, other, name)}` : message);
}

/** The first other Crescendo kind that has an object of this name; lookup errors mean "no". */
async function otherKind(env: CommandEnv, wanted: Kind, name: string): Promise<Kind | undefined> {
  for (const kind of ALL) {
    if (kind === wanted) continue;
    try {
      const found = await env.conn.client.get(
        kind.resource,
        name,
        kind.resource.namespaced ? env.namespace : undefined,
      );
      if (found) return kind;
    } catch {
      // Only a hint: no permission to look is the same as nothing found.
    }
  }
  return undefined;
}

function hint(env: CommandEnv, wanted: Kind, found: Kind, name: string): string {
  const ns = found.resource.namespaced ? ` -n ${env.namespace}` : "";
  const is = `"${name}" is a ${found.resource.kind}, not a ${wanted.resource.kind}`;
  if (found === RELEASE) {
    return `${is}: promote, abort, retry, pause and resume act on Releases; see it with "kubectl crescendo status ${name}${ns}"`;
  }
  if (found === FEATURE_TOGGLE) {
    return `${is}: rearm it ("kubectl crescendo rearm ${name}${ns}"), or act on its ramp ("kubectl crescendo status featuretoggle/${name}${ns}")`;
  }
  return `${is}: see it with "kubectl crescendo squad ${name}"`;
}
