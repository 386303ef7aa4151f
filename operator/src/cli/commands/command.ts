/**
 * What every command is: a name, its flags and help, and a `run` that gets everything it
 * touches (output, the connection, the clock, Ctrl-C) from its environment, so commands are
 * tested with a fake client and captured output.
 */
import type { ParseArgsConfig } from "node:util";
import type { Connection } from "../connect.js";

/** Where a command writes. `color` is decided once: a TTY without NO_COLOR. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  isTTY: boolean;
  color: boolean;
}

export interface CommandEnv {
  io: Io;
  conn: Connection;
  /** `-n`, else the kubeconfig context's namespace, else `default`. */
  namespace: string;
  now(): number;
  /** Aborted on Ctrl-C: long-running commands (watch, wait) end cleanly. */
  signal: AbortSignal;
  /** A fresh, unique `crescendo.dev/action-id`. */
  actionId(): string;
}

/** Parsed flag values, by long name. */
export type Flags = Record<string, string | boolean | undefined>;

export type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

export interface Command {
  name: string;
  /** What the one positional argument names, e.g. "release". */
  target: string;
  /**
   * Set for a command that takes no name, only flags: what its usage shows instead of
   * `<target>`, e.g. "[--squad=S]".
   */
  noName?: string;
  /** With `noName`: the one positional argument (`target`) may still be given. */
  optionalName?: boolean;
  /** One line for the command list. */
  summary: string;
  /** The paragraph `<command> --help` shows under the usage line. */
  description: string;
  /** The command's own flags (the global ones are added by the dispatcher). */
  options: OptionsConfig;
  /** One line per own flag, as shown by `--help`. */
  flagHelp: string[];
  /** Returns the exit code; throws CliError/UsageError for failures. */
  run(env: CommandEnv, name: string, flags: Flags): Promise<number>;
}
