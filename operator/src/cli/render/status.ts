/**
 * `kubectl crescendo status`: a Release's rollout as a person on call wants to read it — where
 * it is, why, what the metrics said against which thresholds, and what to type next. Pure: the
 * same object and time always give the same text, so it is tested with fixtures.
 */
import type { AnalysisMetric } from "../../api/analysis.js";
import { ANNOTATIONS } from "../../api/common.js";
import type { Release } from "../../api/kinds.js";
import { releaseSpec, type PauseReason, type ReleaseSpec, type ReleaseStatus } from "../../api/release.js";
import { stagesOf, type Stage } from "../../api/release-stages.js";
import { analysisSection, metricIndex } from "./analysis.js";
import {
  between,
  fields,
  formatDuration,
  join,
  palette,
  plural,
  relative,
  table,
  type Cell,
  type Palette,
  type RenderOptions,
} from "./style.js";

export interface StatusRenderOptions extends RenderOptions {
  /**
   * The squad's default metrics (`spec.delivery.metrics`): a Release may analyse metrics it
   * does not define itself, and their thresholds come from there.
   */
  defaultMetrics?: readonly AnalysisMetric[];
  /** How many rollouts of `status.history` to show (default 5). */
  historyLimit?: number;
  /** How many measurements per metric to show, newest last (default 5). */
  measurementLimit?: number;
}

interface Ctx {
  release: Release;
  status: ReleaseStatus;
  /** The spec with its defaults, or undefined when it does not validate. */
  spec: ReleaseSpec | undefined;
  metrics: Map<string, AnalysisMetric>;
  now: number;
  p: Palette;
  name: string;
  namespace: string;
  options: StatusRenderOptions;
}

/** Wide enough for every label ("Last action"), so values start in one column whatever is shown. */
const LABEL_WIDTH = 11;

/** Holds that need a person to decide (the controller's PROBLEM_HOLDS). */
const PROBLEM_HOLDS: ReadonlySet<PauseReason> = new Set([
  "InconclusiveAnalysis",
  "AnalysisFailed",
  "AnalysisDeadlineExceeded",
  "ProgressDeadlineExceeded",
]);

/** Renders the Release as sections separated by blank lines, ending in a newline. */
export function renderStatus(release: Release, options: StatusRenderOptions = {}): string {
  const parsed = releaseSpec.safeParse(release.spec);
  const spec = parsed.success ? parsed.data : undefined;
  const ctx: Ctx = {
    release,
    status: release.status ?? {},
    spec,
    metrics: metricIndex(spec?.analysis?.metrics ?? release.spec?.analysis?.metrics, options.defaultMetrics),
    now: options.now ?? Date.now(),
    p: palette(options.color ?? false),
    name: release.metadata.name ?? "",
    namespace: release.metadata.namespace ?? "",
    options,
  };
  const analysisOptions = {
    metrics: ctx.metrics,
    now: ctx.now,
    p: ctx.p,
    measurementLimit: options.measurementLimit ?? 5,
  };
  const sections = [
    overview(ctx),
    stepsSection(ctx),
    analysisSection("Analysis", ctx.status.analysis, analysisOptions),
    analysisSection("Background analysis", ctx.status.backgroundAnalysis, analysisOptions),
    analysisSection("Post-promotion analysis", ctx.status.postPromotion, analysisOptions),
    conditionsSection(ctx),
    historySection(ctx),
  ];
  return (
    sections
      .filter((lines) => lines.length > 0)
      .map((lines) => lines.join("\n"))
      .join("\n\n") + "\n"
  );
}

// ---------------------------------------------------------------------------------------------
// Overview

function overview(ctx: Ctx): string[] {
  const { status, p } = ctx;
  const blueGreen = ctx.release.spec?.strategy?.blueGreen !== undefined;
  const lines = fields(
    [
      ["Release", `${ctx.namespace}/${ctx.name}${generationNote(ctx)}`],
      ["Phase", phaseText(ctx)],
      ["Message", status.message],
      ["Ready", readyText(ctx)],
      ["Next", nextHint(ctx)],
      ["Strategy", strategyText(ctx)],
      ["Step", stepText(ctx)],
      ["Traffic", trafficText(ctx)],
      ["Stable", revisionText(status.stableRevision, status.stableVersion)],
      ["Override", overrideText(ctx)],
      [blueGreen ? "Preview" : "Canary", revisionText(status.canaryRevision, status.canaryVersion)],
      ["Replicas", replicasText(ctx)],
      ["Scale down", scaleDownText(ctx)],
      ["Verification", verificationText(ctx)],
      ["Last action", lastActionText(ctx)],
      ["Pending", pendingActionText(ctx)],
    ],
    LABEL_WIDTH,
  );
  return [p.bold(lines[0] ?? ""), ...lines.slice(1)];
}

function generationNote(ctx: Ctx): string {
  const generation = ctx.release.metadata.generation;
  const observed = ctx.status.observedGeneration;
  if (generation === undefined || observed === undefined || observed >= generation) return "";
  return ctx.p.warn(`  (spec generation ${generation} not yet observed; status is from ${observed})`);
}

export function phaseColor(p: Palette, phase: string): (text: string) => string {
  switch (phase) {
    case "Healthy":
      return p.ok;
    case "Progressing":
      return p.info;
    case "Paused":
      return p.warn;
    case "Degraded":
    case "RolledBack":
    case "Reverted":
      return p.bad;
    default:
      return (t) => t;
  }
}

function phaseText(ctx: Ctx): string {
  const { status, p, now } = ctx;
  if (!status.phase) return p.dim("unknown (the controller has not reported a status yet)");
  const since =
    status.phase === "Paused"
      ? status.pausedAt
      : status.phase === "RolledBack" || status.phase === "Reverted"
        ? status.abortedAt
        : readyCondition(status)?.lastTransitionTime;
  const held = status.pauseReason === "Paused" ? "spec.paused" : status.pauseReason;
  const reason = status.phase === "Paused" && held ? ` (${held})` : "";
  const ago = relative(since, now);
  return phaseColor(p, status.phase)(status.phase + reason) + (ago ? p.dim(`  since ${ago}`) : "");
}

function readyCondition(status: ReleaseStatus) {
  return status.conditions?.find((c) => c.type === "Ready");
}

/** The Ready condition; its message only when it says something the Message line does not. */
function readyText(ctx: Ctx): string | undefined {
  const ready = readyCondition(ctx.status);
  if (!ready) return undefined;
  const color = ready.status === "True" ? ctx.p.ok : ctx.p.warn;
  const message = ready.message && ready.message !== ctx.status.message ? `: ${ready.message}` : "";
  return `${color(ready.status)} (${ready.reason})${message}`;
}

/** What a person can do about where the rollout is, as the command to type. */
function nextHint(ctx: Ctx): string | undefined {
  const { status } = ctx;
  const cmd = (verb: string) => `kubectl crescendo ${verb} ${ctx.name} -n ${ctx.namespace}`;
  if (status.phase === "RolledBack" || status.phase === "Reverted") {
    return `${cmd("retry")} to roll out ${status.canaryVersion ?? "the canary"} again, or change the template`;
  }
  if (status.phase !== "Paused" || !status.pauseReason) return undefined;
  const reason = status.pauseReason;
  if (reason === "Paused")
    return "spec.paused is true: set it to false (in Git, if GitOps owns it) to continue";
  if (reason === "ManualPause") return `${cmd("resume")} to continue, or ${cmd("abort")} to roll back`;
  if (reason === "PauseStep") return `${cmd("promote")} to continue`;
  if (reason === "AwaitingPromotion") return `${cmd("promote")} to switch traffic to the preview`;
  if (PROBLEM_HOLDS.has(reason)) {
    const step = status.currentStepIndex === undefined ? "the step" : `step ${status.currentStepIndex}`;
    return `${cmd("retry")} to re-run ${step}, ${cmd("promote")} to skip it, or ${cmd("abort")} to roll back`;
  }
  return undefined;
}

function strategyText(ctx: Ctx): string | undefined {
  const spec = ctx.spec;
  if (!spec) return ctx.p.warn("(spec does not validate; see the Stalled condition)");
  const onFailure = spec.rollback?.onFailure === "Pause" ? "pause on failure" : "roll back on failure";
  const bg = spec.strategy.blueGreen;
  if (bg) {
    const promotion =
      bg.autoPromotionSeconds === undefined
        ? "switches on promote"
        : `switches ${formatDuration(bg.autoPromotionSeconds * 1000)} after the preview is ready`;
    return join([
      "blue-green",
      `preview ${plural(bg.previewReplicas ?? spec.replicas, "replica")}`,
      promotion,
      onFailure,
    ]);
  }
  const canary = spec.strategy.canary;
  const route = canary?.trafficRouting?.gatewayAPI?.httpRoute;
  const background = canary?.backgroundAnalysis;
  return join([
    `canary, ${plural(canary?.steps.length ?? 0, "step")}`,
    route ? `traffic via HTTPRoute ${route}` : "traffic by replica ratio",
    background && `background analysis of ${background.metrics?.join(", ") ?? "all metrics"}`,
    onFailure,
  ]);
}

/** True while a rollout is under way (a canary revision that was not rolled back). */
function rolling(status: ReleaseStatus): boolean {
  return status.canaryRevision !== undefined && status.phase !== "RolledBack" && status.phase !== "Reverted";
}

function stages(ctx: Ctx): Stage[] | undefined {
  return ctx.spec ? stagesOf(ctx.spec) : undefined;
}

/** A stage in the words the controller's messages use. */
export function describeStage(stage: Stage): string {
  switch (stage.kind) {
    case "setWeight":
      return `setWeight ${stage.weight}%`;
    case "pause":
      return stage.durationMs === undefined
        ? "pause until promoted"
        : `pause ${formatDuration(stage.durationMs)}`;
    case "analysis":
      return `analysis of ${stage.metrics?.join(", ") ?? "all metrics"}`;
    case "preview":
      return `preview at ${plural(stage.replicas, "replica")}`;
    case "awaitPromotion":
      return stage.afterMs === undefined
        ? "await promotion"
        : `await promotion (automatic after ${formatDuration(stage.afterMs)})`;
    case "scaleUp":
      return "scale up and promote";
  }
}

/**
 * `i/N` as Argo Rollouts shows it: i is the 0-based index of the current step (so also the
 * number of steps done), N the number of steps, counting the final scale-up.
 */
function stepText(ctx: Ctx): string | undefined {
  const { status } = ctx;
  if (!rolling(status)) {
    const none =
      status.phase === "RolledBack"
        ? "none (rolled back)"
        : status.phase === "Reverted"
          ? "none (reverted after promotion)"
          : "none (no rollout in progress)";
    return ctx.p.dim(none);
  }
  const all = stages(ctx);
  const index = status.currentStepIndex ?? 0;
  if (!all) return `${index}`;
  const stage = all[Math.min(index, all.length - 1)];
  const started = relative(status.stepStartedAt, ctx.now);
  return join([
    `${index}/${all.length}  ${stage ? describeStage(stage) : ""}`,
    started && `started ${started}`,
  ]);
}

function trafficText(ctx: Ctx): string | undefined {
  const { status, p } = ctx;
  if (ctx.release.spec?.strategy?.blueGreen) {
    if (!rolling(status)) return "100% to stable";
    return `100% to stable; the preview is reached through Service ${ctx.name}-preview`;
  }
  const desired = status.desiredWeight ?? 0;
  const achieved = status.canaryWeight ?? 0;
  if (!rolling(status) && achieved === 0) return "100% to stable";
  const shifting = desired !== achieved ? p.warn(" (shifting)") : "";
  return `canary desired ${desired}%, achieved ${achieved}%${shifting}`;
}

function revisionText(revision: string | undefined, version: string | undefined): string | undefined {
  if (!revision && !version) return undefined;
  return join([version, revision && `(revision ${revision})`], " ");
}

function replicasText(ctx: Ctx): string | undefined {
  const { status } = ctx;
  const desired = ctx.spec?.replicas ?? ctx.release.spec?.replicas;
  if (desired === undefined && status.replicas === undefined) return undefined;
  return join([
    desired !== undefined && `${desired} desired`,
    // status.replicas counts every live revision's pods (the scale subresource's, see docs/release.md).
    status.replicas !== undefined && `${status.replicas} pods`,
    status.readyReplicas !== undefined && `${status.readyReplicas} ready across revisions`,
  ]);
}

function scaleDownText(ctx: Ctx): string | undefined {
  const entries = ctx.status.scaleDown ?? [];
  if (entries.length === 0) return undefined;
  return entries
    .map((e) => `${join([e.version, `(revision ${e.revision})`], " ")} ${relative(e.at, ctx.now) ?? e.at}`)
    .join("; ");
}

/** The last promotion's verification window: running until when, or how it ended. */
/** An undo's override: which revision runs instead of spec.template's, and what ends it. */
function overrideText(ctx: Ctx): string | undefined {
  const o = ctx.status.override;
  if (!o) return undefined;
  const since = relative(o.at, ctx.now) ?? o.at;
  return ctx.p.warn(
    `undone to revision ${o.revision} ${since} (action ${o.actionId}); spec.template (revision ${o.specRevision}) waits until it changes`,
  );
}

function verificationText(ctx: Ctx): string | undefined {
  const v = ctx.status.postPromotion;
  if (!v) return undefined;
  if (v.result === "Verifying") {
    const until = relative(v.until, ctx.now) ?? v.until;
    return `verifying revision ${v.revision} until ${v.until} (${until}); reverts to ${join([v.previousVersion, `(revision ${v.previousRevision})`], " ")} on a failing metric`;
  }
  const color = v.result === "Verified" ? ctx.p.ok : ctx.p.bad;
  return `${color(v.result)} revision ${v.revision}${v.message ? `: ${v.message}` : ""}`;
}

function lastActionText(ctx: Ctx): string | undefined {
  const a = ctx.status.lastAction;
  if (!a) return undefined;
  const when = relative(a.acceptedAt, ctx.now);
  const result = a.result
    ? `: ${/^(ignored|refused)\b/.test(a.result) ? ctx.p.warn(a.result) : a.result}`
    : "";
  return `${join([a.action, when], " ")}${result}  ${ctx.p.dim(`(id ${a.id})`)}`;
}

/** An annotated action the controller has not acted on yet. */
function pendingActionText(ctx: Ctx): string | undefined {
  const annotations = ctx.release.metadata.annotations ?? {};
  const action = annotations[ANNOTATIONS.action];
  const id = annotations[ANNOTATIONS.actionId];
  if (!action || !id || id === ctx.status.lastAction?.id) return undefined;
  return ctx.p.warn(`${action} (id ${id}) requested, not acted on yet`);
}

// ---------------------------------------------------------------------------------------------
// Steps

function stepsSection(ctx: Ctx): string[] {
  const all = stages(ctx);
  if (!all || !rolling(ctx.status)) return [];
  const current = Math.min(ctx.status.currentStepIndex ?? 0, all.length - 1);
  const held = ctx.status.pauseReason;
  const rows = all.map((stage, i): Cell[] => {
    const state: Cell =
      i < current
        ? { text: "done", style: ctx.p.dim }
        : i === current
          ? held
            ? { text: `paused (${held})`, style: ctx.p.warn }
            : { text: "in progress", style: ctx.p.info }
          : "";
    const index = String(i).padStart(String(all.length - 1).length);
    return [`${i === current ? ">" : " "} ${index}`, describeStage(stage), state];
  });
  return ["Steps", ...table(rows)];
}

// ---------------------------------------------------------------------------------------------
// Conditions and history

function conditionsSection(ctx: Ctx): string[] {
  const conditions = ctx.status.conditions ?? [];
  if (conditions.length === 0) return [];
  const rows: Cell[][] = [
    ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"].map((h) => ({ text: h, style: ctx.p.dim })),
    ...conditions.map((c): Cell[] => [
      c.type,
      c.status,
      c.reason,
      relative(c.lastTransitionTime, ctx.now) ?? "",
      c.message && c.message === ctx.status.message ? ctx.p.dim("(as Message above)") : c.message,
    ]),
  ];
  return ["Conditions", ...table(rows)];
}

function historySection(ctx: Ctx): string[] {
  const history = ctx.status.history ?? [];
  if (history.length === 0) return [];
  const limit = ctx.options.historyLimit ?? 5;
  const shown = history.slice(0, limit);
  const rows: Cell[][] = [
    ["VERSION", "REVISION", "OUTCOME", "STARTED", "TOOK", "REASON"].map((h) => ({
      text: h,
      style: ctx.p.dim,
    })),
    ...shown.map((h): Cell[] => [
      h.version,
      h.revision,
      { text: h.outcome, style: h.outcome === "RolledBack" ? ctx.p.bad : (t) => t },
      relative(h.startedAt, ctx.now) ?? "",
      between(h.startedAt, h.finishedAt) ?? "",
      h.reason ?? "",
    ]),
  ];
  const more = history.length - shown.length;
  return [
    "History (newest first)",
    ...table(rows),
    ...(more > 0 ? [ctx.p.dim(`  (${plural(more, "older rollout")} not shown)`)] : []),
  ];
}
