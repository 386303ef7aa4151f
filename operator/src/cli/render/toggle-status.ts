/**
 * `status` for a FeatureToggle: what apps are served, and for a guarded ramp where it stands,
 * its steps, its analysis against each metric's threshold, and its conditions. The Release's
 * analysis section is reused, so a toggle's measurements read as a Release's do.
 */
import { ANNOTATIONS } from "../../api/common.js";
import {
  featureToggleSpec,
  type FeatureToggleSpec,
  type FeatureToggleStatus,
} from "../../api/featuretoggle.js";
import type { FeatureToggle } from "../../api/kinds.js";
import { stageOfStep } from "../../api/release-stages.js";
import { analysisSection, metricIndex } from "./analysis.js";
import { describeStage } from "./status.js";
import {
  fields,
  join,
  palette,
  relative,
  table,
  type Cell,
  type Palette,
  type RenderOptions,
} from "./style.js";

const LABEL_WIDTH = 11;

/** Renders the toggle as sections separated by blank lines, ending in a newline. */
export function renderToggleStatus(
  toggle: FeatureToggle,
  options: RenderOptions & { measurementLimit?: number } = {},
): string {
  const parsed = featureToggleSpec.safeParse(toggle.spec);
  const spec = parsed.success ? parsed.data : undefined;
  const status: FeatureToggleStatus = toggle.status ?? {};
  const now = options.now ?? Date.now();
  const p = palette(options.color ?? false);
  const sections = [
    overview(toggle, spec, status, now, p),
    stepsSection(spec, status, p),
    analysisSection("Analysis", status.rollout?.analysis, {
      metrics: metricIndex(spec?.rollout?.analysis?.metrics, undefined),
      now,
      p,
      measurementLimit: options.measurementLimit ?? 5,
    }),
    conditionsSection(status, now, p),
  ];
  return (
    sections
      .filter((lines) => lines.length > 0)
      .map((lines) => lines.join("\n"))
      .join("\n\n") + "\n"
  );
}

function overview(
  toggle: FeatureToggle,
  spec: FeatureToggleSpec | undefined,
  status: FeatureToggleStatus,
  now: number,
  p: Palette,
): string[] {
  const r = status.rollout;
  const steps = spec?.rollout?.steps?.length;
  const lines = fields(
    [
      ["Toggle", `${toggle.metadata.namespace ?? ""}/${toggle.metadata.name ?? ""}`],
      ["Flag", status.key],
      ["State", status.effectiveState],
      ["Default", status.servedVariant],
      [
        "Rollout",
        r
          ? rampText(r, p)
          : spec?.rollout?.percentage !== undefined
            ? `variant "${spec.rollout.variant}" fixed at ${spec.rollout.percentage}%`
            : undefined,
      ],
      [
        "Step",
        r && steps !== undefined && r.phase !== "Completed"
          ? `${Math.min(r.currentStepIndex, steps)}/${steps}${join([relative(r.stepStartedAt, now) && ` started ${relative(r.stepStartedAt, now)}`], "")}`
          : undefined,
      ],
      ["Message", r?.message],
      ["Completed", r?.completedAt && `${r.completedAt} (${relative(r.completedAt, now) ?? ""})`],
      ["Failed on", r?.failedMetric],
      ["Last action", lastActionText(status, now, p)],
      ["Pending", pendingText(toggle, status, p)],
    ],
    LABEL_WIDTH,
  );
  return [p.bold(lines[0] ?? ""), ...lines.slice(1)];
}

function rampText(r: NonNullable<FeatureToggleStatus["rollout"]>, p: Palette): string {
  const text = `${r.phase}${r.pauseReason ? ` (${r.pauseReason})` : ""}: variant "${r.variant}" served to ${r.percentage}%`;
  if (r.phase === "RolledBack") return p.bad(text);
  if (r.phase === "Paused") return p.warn(text);
  if (r.phase === "Completed") return p.ok(text);
  return p.info(text);
}

function lastActionText(status: FeatureToggleStatus, now: number, p: Palette): string | undefined {
  const a = status.lastAction;
  if (!a) return undefined;
  const result = a.result ? `: ${/^(ignored|refused)\b/.test(a.result) ? p.warn(a.result) : a.result}` : "";
  return `${join([a.action, relative(a.acceptedAt, now)], " ")}${result}  ${p.dim(`(id ${a.id})`)}`;
}

function pendingText(toggle: FeatureToggle, status: FeatureToggleStatus, p: Palette): string | undefined {
  const action = toggle.metadata.annotations?.[ANNOTATIONS.action];
  const id = toggle.metadata.annotations?.[ANNOTATIONS.actionId];
  if (!action || !id || id === status.lastAction?.id) return undefined;
  return p.warn(`${action} (id ${id}) requested, not acted on yet`);
}

function stepsSection(
  spec: FeatureToggleSpec | undefined,
  status: FeatureToggleStatus,
  p: Palette,
): string[] {
  const steps = spec?.rollout?.steps;
  const r = status.rollout;
  if (!steps || !r) return [];
  const current = r.currentStepIndex;
  const rows = steps.map(stageOfStep).map((stage, i): Cell[] => {
    const state: Cell =
      r.phase === "Completed" || i < current
        ? { text: "done", style: p.dim }
        : i === current
          ? r.phase === "RolledBack"
            ? { text: "rolled back here", style: p.bad }
            : r.pauseReason
              ? { text: `paused (${r.pauseReason})`, style: p.warn }
              : { text: "in progress", style: p.info }
          : "";
    return [
      `${i === current && r.phase !== "Completed" ? ">" : " "} ${String(i).padStart(String(steps.length - 1).length)}`,
      describeStage(stage),
      state,
    ];
  });
  return ["Steps", ...table(rows)];
}

function conditionsSection(status: FeatureToggleStatus, now: number, p: Palette): string[] {
  const conditions = status.conditions ?? [];
  if (conditions.length === 0) return [];
  const rows: Cell[][] = [
    ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"].map((h) => ({ text: h, style: p.dim })),
    ...conditions.map((c): Cell[] => [
      c.type,
      c.status,
      c.reason,
      relative(c.lastTransitionTime, now) ?? "",
      c.message,
    ]),
  ];
  return ["Conditions", ...table(rows)];
}
