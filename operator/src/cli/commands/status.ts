/**
 * `status <release> [--watch]`: renders the Release; with --watch, redraws on every change
 * until Ctrl-C. A terminal is cleared before each redraw; a pipe or file gets a separator line
 * instead, so the output stays a readable log.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import { LABELS } from "../../api/common.js";
import type { FeatureToggle, Release, Squad } from "../../api/kinds.js";
import { NamespaceResource } from "../../runtime/resources.js";
import { renderStatus } from "../render/status.js";
import type { Command, CommandEnv } from "./command.js";
import { follow } from "./follow.js";
import type { KubeObject } from "../../runtime/types.js";
import { renderToggleStatus } from "../render/toggle-status.js";
import { FEATURE_TOGGLE, fetchRolling, RELEASE, SQUAD, type Kind } from "./lookup.js";

/** Cursor home, clear screen. */
export const CLEAR_SCREEN = "\x1b[H\x1b[2J";

export const statusCommand: Command = {
  name: "status",
  target: "release",
  summary: "Show a Release's rollout (or a FeatureToggle's ramp): phase, step, analysis, history",
  description:
    "Shows where the rollout is and why: phase and hold reason, the current step of N, desired and\n" +
    "achieved canary weight, stable and canary revisions and versions, every analysis measurement\n" +
    "with its value against the metric's threshold, conditions, the last manual action and recent\n" +
    "rollouts. With --watch, redraws whenever the Release changes; Ctrl-C ends it.\n" +
    "A name that is not a Release but a FeatureToggle (or featuretoggle/<name>) shows the toggle's\n" +
    "guarded ramp: its share, steps, analysis and conditions.",
  options: { watch: { type: "boolean", short: "w" } },
  flagHelp: ["  -w, --watch              Redraw on every change until Ctrl-C"],
  async run(env, text, flags) {
    const found = await fetchRolling(env, text);
    const { name } = found;
    if (found.kind === FEATURE_TOGGLE) {
      const render = (t: KubeObject) =>
        renderToggleStatus(t as FeatureToggle, { now: env.now(), color: env.io.color });
      if (!flags.watch) env.io.out(render(found.obj));
      else await watchStatus(env, FEATURE_TOGGLE, name, found.obj, render);
      return 0;
    }
    const release = found.obj as Release;
    const defaultMetrics = await squadDefaultMetrics(env);
    const render = (r: KubeObject) =>
      renderStatus(r as Release, {
        now: env.now(),
        color: env.io.color,
        ...(defaultMetrics ? { defaultMetrics } : {}),
      });
    if (!flags.watch) {
      env.io.out(render(release));
      return 0;
    }
    await watchStatus(env, RELEASE, name, release, render);
    return 0;
  },
};

async function watchStatus(
  env: CommandEnv,
  kind: Kind,
  name: string,
  release: KubeObject,
  render: (r: KubeObject) => string,
): Promise<void> {
  let first = true;
  const draw = (text: string) => {
    if (env.io.isTTY) {
      env.io.out(`${CLEAR_SCREEN}${text}\nwatching for changes; Ctrl-C to stop\n`);
    } else {
      env.io.out(`${first ? "" : `--- ${new Date(env.now()).toISOString()} ---\n`}${text}`);
    }
    first = false;
  };
  draw(render(release));
  await follow<KubeObject>({
    client: env.conn.client,
    resource: kind.resource,
    name,
    namespace: env.namespace,
    resourceVersion: release.metadata.resourceVersion ?? "",
    signal: env.signal,
    server: env.conn.server,
    onChange: (obj) =>
      draw(
        obj
          ? render(obj)
          : `${kind.noun} "${name}" in namespace "${env.namespace}" was deleted; waiting for it to come back\n`,
      ),
    onRetry: (err, delayMs) =>
      env.io.err(
        `watch interrupted (${err instanceof Error ? err.message : String(err)}); retrying in ${delayMs / 1000}s\n`,
      ),
  });
}

/**
 * The default metrics of the squad owning the namespace, for thresholds of metrics a Release
 * takes from its squad. Best effort: without permission to read them, those thresholds show as
 * unknown rather than failing the command.
 */
async function squadDefaultMetrics(env: CommandEnv): Promise<AnalysisMetric[] | undefined> {
  try {
    const ns = await env.conn.client.get(NamespaceResource, env.namespace);
    const squadName = ns?.metadata.labels?.[LABELS.squad];
    if (!squadName) return undefined;
    const squad = await env.conn.client.get<Squad>(SQUAD.resource, squadName);
    return squad?.spec?.delivery?.metrics;
  } catch {
    return undefined;
  }
}
