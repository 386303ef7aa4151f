/**
 * The operator logs JSON lines through pino, one line per reconcile outcome, so log pipelines
 * can index `controller`, `namespace`, `name` and `reconcileId` without parsing text.
 */
import { pino, type DestinationStream, type Level, type Logger } from "pino";

export type { Logger } from "pino";

const LEVELS: readonly Level[] = ["fatal", "error", "warn", "info", "debug", "trace"];

export interface LoggerOptions {
  /** Overrides `LOG_LEVEL`. */
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream to read lines back. */
  destination?: DestinationStream;
  /** Environment to read `LOG_LEVEL` from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The level named by `LOG_LEVEL` (default `info`). An unknown name is refused rather than
 * silently replaced, so a typo in a Deployment's env shows up at start, not as missing logs.
 */
export function logLevelFrom(env: NodeJS.ProcessEnv = process.env): Level | "silent" {
  const raw = (env["LOG_LEVEL"] ?? "").trim().toLowerCase();
  if (raw === "") return "info";
  if (raw === "silent" || (LEVELS as readonly string[]).includes(raw)) return raw as Level | "silent";
  throw new Error(`LOG_LEVEL=${raw} is not one of ${[...LEVELS, "silent"].join(", ")}`);
}

/**
 * Creates the root logger. Levels are written as names (`"level":"info"`) and times as ISO
 * strings, which is what Kubernetes log tooling reads most easily.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? logLevelFrom(options.env);
  const config = {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A child logger whose every line carries `controller`, for filtering one controller's logs. */
export function controllerLogger(parent: Logger, controller: string): Logger {
  return parent.child({ controller });
}
