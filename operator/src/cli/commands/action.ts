/**
 * The manual actions: promote, promote --full, abort, retry, pause, resume on a
 * Release and rearm on a FeatureToggle. Each sets two annotations with a JSON merge patch —
 * never the spec, which a GitOps tool would revert — and the controller acts once per id,
 * recording what it did in `status.lastAction`. `--wait` watches for that record.
 */
import { randomBytes } from "node:crypto";
import { ANNOTATIONS, duration, parseDuration, type Action, type LastAction } from "../../api/common.js";
import { isNotFound } from "../../runtime/client.js";
import type { KubeObject } from "../../runtime/types.js";
import { CliError, explain, UsageError } from "../errors.js";
import type { Command, CommandEnv, Flags, OptionsConfig } from "./command.js";
import { follow } from "./follow.js";
import { FEATURE_TOGGLE, notFound, RELEASE, splitKind, type Kind } from "./lookup.js";
import { prepareUndo } from "./undo.js";

/** A unique action id: the UTC time to the second, readable in `status.lastAction`, plus randomness. */
export function newActionId(now: number = Date.now()): string {
  const stamp = new Date(now)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(4).toString("hex")}`;
}

/** The merge patch that requests an action: annotations only. */
export function actionPatch(
  action: Action,
  id: string,
  extra: Record<string, string | null> = {},
): { metadata: { annotations: Record<string, string | null> } } {
  return {
    metadata: { annotations: { ...extra, [ANNOTATIONS.action]: action, [ANNOTATIONS.actionId]: id } },
  };
}

const DEFAULT_TIMEOUT = "2m";

const WAIT_OPTIONS: OptionsConfig = {
  wait: { type: "boolean" },
  timeout: { type: "string" },
};
const WAIT_HELP = [
  "      --wait               Wait until the controller has acted and print its result",
  `      --timeout <dur>      How long --wait waits, e.g. 30s, 5m (default ${DEFAULT_TIMEOUT})`,
];

interface ActionDefinition {
  name: string;
  kind: Kind;
  summary: string;
  description: string;
  options?: OptionsConfig;
  flagHelp?: string[];
  /** The action to request; by default the command's name. */
  action?: (flags: Flags) => Action;
  /** Reads what the action needs and returns more annotations to set with it (e.g. undo's revision). */
  /** A null value removes the annotation (JSON merge patch). */
  prepare?: (env: CommandEnv, name: string, flags: Flags) => Promise<Record<string, string | null>>;
}

function actionCommand(def: ActionDefinition): Command {
  return {
    name: def.name,
    target: def.kind === FEATURE_TOGGLE ? "toggle" : "release",
    summary: def.summary,
    description:
      `${def.description}\n\n` +
      (def.kind === RELEASE
        ? "On a FeatureToggle with spec.rollout.steps (featuretoggle/<name>, or a name that is no\n" +
          "Release) it acts on the toggle's guarded ramp the same way.\n\n"
        : "") +
      `Sets the annotations ${ANNOTATIONS.action} and ${ANNOTATIONS.actionId} (a JSON merge patch on\n` +
      "metadata only, so GitOps tools leave it alone). The controller acts once per action-id and\n" +
      "records the outcome in status.lastAction.",
    options: { ...def.options, ...WAIT_OPTIONS },
    flagHelp: [...(def.flagHelp ?? []), ...WAIT_HELP],
    run: (env, name, flags) => requestAction(env, def, name, flags),
  };
}

async function requestAction(
  env: CommandEnv,
  def: ActionDefinition,
  name: string,
  flags: Flags,
): Promise<number> {
  const timeoutMs = waitTimeout(flags, def.name);
  const action = def.action?.(flags) ?? (def.name as Action);
  const extra = (await def.prepare?.(env, name, flags)) ?? {};
  const id = env.actionId();
  const target = await patchAction(env, def.kind, name, actionPatch(action, id, extra));
  const { kind, patched } = target;
  name = target.name;
  const { noun } = kind;
  env.io.out(`requested ${action} of ${noun} "${name}" in namespace "${env.namespace}" (action-id ${id})\n`);
  if (timeoutMs === undefined) {
    const see =
      kind === RELEASE
        ? `kubectl crescendo status ${name} -n ${env.namespace}`
        : `kubectl get ${noun} ${name} -n ${env.namespace} -o jsonpath='{.status.lastAction}'`;
    env.io.out(`the controller acts on it once; "${see}" shows the result under last action\n`);
    return 0;
  }
  env.io.out(`waiting up to ${flags.timeout ?? DEFAULT_TIMEOUT} for the controller to act...\n`);
  const done = await waitForAction(env, kind, name, id, patched, timeoutMs);
  const result = done.result ?? "(no result recorded)";
  if (/^(ignored|refused)\b/.test(result)) throw new CliError(`the controller did not act: ${result}`);
  env.io.out(`done: ${result}\n`);
  return 0;
}

/**
 * Patches the action onto the named object. A Release action on a bare name that is no Release
 * goes to the FeatureToggle of that name (its guarded ramp answers promote, abort, retry, pause
 * and resume); `featuretoggle/<name>` or `release/<name>` says which.
 */
async function patchAction(
  env: CommandEnv,
  wanted: Kind,
  text: string,
  patch: ReturnType<typeof actionPatch>,
): Promise<{ kind: Kind; name: string; patched: KubeObject }> {
  const split = wanted === RELEASE ? splitKind(text) : { name: text };
  const name = split.name;
  const candidates = split.kind ? [split.kind] : wanted === RELEASE ? [RELEASE, FEATURE_TOGGLE] : [wanted];
  for (const kind of candidates) {
    try {
      const patched = await env.conn.client.mergePatch<KubeObject>(kind.resource, name, env.namespace, patch);
      return { kind, name, patched };
    } catch (err) {
      if (isNotFound(err)) continue;
      throw explain(err, {
        verb: "patch",
        resource: kind.resource,
        namespace: env.namespace,
        server: env.conn.server,
      });
    }
  }
  throw await notFound(env, split.kind ?? wanted, name);
}

/** `--reason`, trimmed; null (the annotation removed) when absent or empty. */
function reasonOf(flags: Flags): string | null {
  const text = typeof flags.reason === "string" ? flags.reason.trim() : "";
  return text === "" ? null : text;
}

/** The --timeout in ms when --wait is set, undefined without --wait. */
function waitTimeout(flags: Flags, command: string): number | undefined {
  const text = typeof flags.timeout === "string" ? flags.timeout : undefined;
  if (text !== undefined && !duration.safeParse(text).success) {
    throw new UsageError(`--timeout must be a duration such as 30s, 5m or 1h, not "${text}"`, command);
  }
  if (text !== undefined && !flags.wait) throw new UsageError("--timeout only applies with --wait", command);
  return flags.wait ? parseDuration(text ?? DEFAULT_TIMEOUT) : undefined;
}

async function waitForAction(
  env: CommandEnv,
  kind: Kind,
  name: string,
  id: string,
  patched: KubeObject,
  timeoutMs: number,
): Promise<LastAction> {
  const actedOn = (obj: KubeObject | undefined) => {
    const last = (obj?.status as { lastAction?: LastAction } | undefined)?.lastAction;
    return last?.id === id ? last : undefined;
  };
  let done = actedOn(patched);
  let deleted = false;
  const timeout = AbortSignal.timeout(timeoutMs);
  if (!done) {
    await follow({
      client: env.conn.client,
      resource: kind.resource,
      name,
      namespace: env.namespace,
      resourceVersion: patched.metadata.resourceVersion ?? "",
      signal: AbortSignal.any([env.signal, timeout]),
      server: env.conn.server,
      onChange: (obj) => {
        deleted = obj === undefined;
        done = actedOn(obj);
        return deleted || done !== undefined;
      },
    });
  }
  if (done) return done;
  if (deleted) throw new CliError(`${kind.noun} "${name}" was deleted before the controller acted`);
  const pending = `the request stays: the controller will still act on action-id ${id} once`;
  if (env.signal.aborted) throw new CliError(`interrupted; ${pending}`);
  throw new CliError(
    `the controller has not acted after ${formatMs(timeoutMs)}: is the Crescendo operator running? ${pending}`,
  );
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}

export const actionCommands: Command[] = [
  actionCommand({
    name: "promote",
    kind: RELEASE,
    summary: "Continue the rollout past the current step (--full: skip to the end)",
    description:
      "Moves the rollout past its current step: a pause step, an analysis, or a blue-green preview\n" +
      "awaiting promotion. With --full, skips every remaining step and promotes (after scale-up).",
    options: { full: { type: "boolean" } },
    flagHelp: ["      --full               Skip all remaining steps (action promote-full)"],
    action: (flags) => (flags.full ? "promote-full" : "promote"),
  }),
  actionCommand({
    name: "abort",
    kind: RELEASE,
    summary: "Roll back: all traffic to the stable revision, canary scaled to zero",
    description:
      "Rolls the rollout back at once. Right after a promotion, while the previous revision is\n" +
      "still kept, switches back to it.",
  }),
  actionCommand({
    name: "retry",
    kind: RELEASE,
    summary: "Restart a rolled-back rollout, or re-run a failed or inconclusive step",
    description:
      "On a RolledBack Release, starts the same revision's rollout again from step 0. On a rollout\n" +
      "held by a failed or inconclusive analysis, re-runs the step.",
  }),
  actionCommand({
    name: "pause",
    kind: RELEASE,
    summary: "Hold the rollout where it is",
    description: "Holds the rollout at its current step until resume (spec.paused is the declarative way).",
  }),
  actionCommand({
    name: "resume",
    kind: RELEASE,
    summary: "Continue a rollout held by pause or by a problem",
    description:
      "Continues a rollout held by the pause action or by a problem (inconclusive or failed analysis,\n" +
      "progress deadline). A pause step or a blue-green preview waits for promote instead.",
  }),
  actionCommand({
    name: "undo",
    kind: RELEASE,
    summary: "Return a steady Release to a previous revision at once, skipping steps and analysis",
    description:
      "Returns the Release to a previous revision kept in its ControllerRevisions (by default the most\n" +
      "recent one) in one write: traffic straight to it, no steps, no analysis. spec.template stays as\n" +
      "GitOps wrote it: status.override (the OVERRIDE column) says an undone revision runs, until a new\n" +
      "spec.template rolls out. A target older than spec.rollbackWindow (default 2) asks for confirmation.",
    options: { "to-revision": { type: "string" }, yes: { type: "boolean", short: "y" } },
    flagHelp: [
      "      --to-revision <rev>  The revision to return to (default: the most recent previous one)",
      "  -y, --yes                Do not ask for confirmation outside the rollback window",
    ],
    prepare: prepareUndo,
  }),
  actionCommand({
    name: "kill",
    kind: FEATURE_TOGGLE,
    summary: "Kill a FeatureToggle: everyone gets its default variant until it is re-armed",
    description:
      "Serves the toggle's default variant to everyone from the next evaluation, guarded or not,\n" +
      "until a person re-arms it (rearm, or a spec change). The squad's on-call is told, with the\n" +
      "reason given.",
    options: { reason: { type: "string" } },
    flagHelp: ["      --reason <text>      Why: the on-call message says it (crescendo.dev/action-reason)"],
    prepare: async (_env, _name, flags) => ({ [ANNOTATIONS.actionReason]: reasonOf(flags) }),
  }),
  actionCommand({
    name: "rearm",
    kind: FEATURE_TOGGLE,
    summary: "Re-enable a killed FeatureToggle",
    description:
      "Serves the toggle's spec again after a kill. A toggle killed by its guard Release's rollback\n" +
      "is re-armed only once the Release is Healthy again: refused (and recorded so) until then.",
    // A kill's reason must not outlive it: a later kill would be told with it.
    prepare: async () => ({ [ANNOTATIONS.actionReason]: null }),
  }),
];
