/**
 * `kubectl crescendo undo <release> [--to-revision R] [--yes]`: reads the Release and its
 * ControllerRevisions, picks the target (`undo-target.ts`), asks for confirmation when it is
 * older than `spec.rollbackWindow`, and returns the annotations the action sets with it: the
 * revision is always named, so the controller returns to exactly the one confirmed.
 */
import { createInterface } from "node:readline/promises";
import { ANNOTATIONS, LABELS } from "../../api/common.js";
import type { ReleaseSpec, ReleaseStatus } from "../../api/release.js";
import { ControllerRevisionResource } from "../../runtime/resources.js";
import type { KubeObject } from "../../runtime/types.js";
import { CliError, explain } from "../errors.js";
import type { CommandEnv, Flags } from "./command.js";
import { fetchNamed, RELEASE } from "./lookup.js";
import { DEFAULT_ROLLBACK_WINDOW, previousRevisions, undoTarget } from "./undo-target.js";

type ReleaseObject = KubeObject & { spec?: Partial<ReleaseSpec>; status?: ReleaseStatus };

export async function prepareUndo(
  env: CommandEnv,
  name: string,
  flags: Flags,
): Promise<Record<string, string | null>> {
  // `release/<name>` names the kind outright, as the other actions accept.
  const bare = name.replace(/^releases?\//, "");
  const release = await fetchNamed<ReleaseObject>(env, RELEASE, bare);
  let items: KubeObject[];
  try {
    const list = await env.conn.client.list(ControllerRevisionResource, {
      namespace: env.namespace,
      labelSelector: `${LABELS.release}=${bare}`,
    });
    items = list.items;
  } catch (err) {
    throw explain(err, {
      verb: "list",
      resource: ControllerRevisionResource,
      namespace: env.namespace,
      server: env.conn.server,
    });
  }
  const stable = release.status?.stableRevision;
  const window = release.spec?.rollbackWindow?.revisions ?? DEFAULT_ROLLBACK_WINDOW;
  const requested = typeof flags["to-revision"] === "string" ? flags["to-revision"] : undefined;
  const target = undoTarget(previousRevisions(items, stable), stable, requested, window);
  if ("error" in target) throw new CliError(`cannot undo release "${name}": ${target.error}`);
  const what = `${target.version ?? ""} (revision ${target.revision})`.trim();
  if (target.confirm && !flags.yes) {
    const question =
      `revision ${target.revision} is previous revision #${target.position}, older than the rollback ` +
      `window of ${window}: return release "${name}" to ${what}?`;
    if (!(await confirm(env, question))) {
      throw new CliError(`not confirmed: ${question.replace(/\?$/, "")} needs --yes (or "y" at the prompt)`);
    }
  }
  env.io.out(`undoing release "${name}" to ${what}, skipping steps and analysis\n`);
  // A person's undo answers no incident: an alert start left by one must not be read as its own.
  return { [ANNOTATIONS.undoRevision]: target.revision, [ANNOTATIONS.failureStartedAt]: null };
}

/** Asks on the terminal; with no terminal (a script, CI) there is nobody to ask: not confirmed. */
async function confirm(env: CommandEnv, question: string): Promise<boolean> {
  if (!env.io.isTTY || !process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `, { signal: env.signal });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
