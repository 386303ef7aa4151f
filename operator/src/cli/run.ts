/**
 * The plugin's dispatcher: parses the command line with node:util parseArgs, prints help,
 * connects, runs the command and turns every failure into a message and an exit code
 * (0 ok, 1 error, 2 usage). Everything it touches comes in through `RunDeps`, so the whole
 * command line is tested in-process with a fake client.
 */
import { parseArgs } from "node:util";
import { actionCommands, newActionId } from "./commands/action.js";
import { chapterCommand } from "./commands/chapter.js";
import { incidentsCommand } from "./commands/incidents.js";
import type { Command, Flags, Io, OptionsConfig } from "./commands/command.js";
import { squadCommand } from "./commands/squad.js";
import { statusCommand } from "./commands/status.js";
import { togglesCommand } from "./commands/toggles.js";
import { tribeCommand } from "./commands/tribe.js";
import { connect as connectKube, type Connect, type Connection } from "./connect.js";
import { printableClient } from "./printable.js";
import { CliError, unreachable, UsageError } from "./errors.js";

export const COMMANDS: readonly Command[] = [
  statusCommand,
  ...actionCommands,
  squadCommand,
  tribeCommand,
  chapterCommand,
  togglesCommand,
  incidentsCommand,
];

/** `status <release>`, or `toggles [--squad=S]` for a command that takes no name. */
const head = (c: Command) => `${c.name} ${c.noName ?? `<${c.target}>`}`;

const PROGRAM = "kubectl crescendo";

const GLOBAL_OPTIONS: OptionsConfig = {
  namespace: { type: "string", short: "n" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  help: { type: "boolean", short: "h" },
};

const GLOBAL_HELP = [
  '  -n, --namespace <ns>     Namespace (default: the kubeconfig context\'s namespace, else "default")',
  "      --kubeconfig <file>  Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
  "      --context <name>     Kubeconfig context (default: the current context)",
  "  -h, --help               Show help",
];

export interface RunDeps {
  io: Io;
  connect?: Connect;
  now?: () => number;
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal;
  actionId?: () => string;
}

/** Runs one command line; resolves with the exit code and never throws. */
export async function run(argv: readonly string[], deps: RunDeps): Promise<number> {
  let conn: Connection | undefined;
  try {
    const parsed = parse(argv);
    if (parsed.help !== undefined) {
      deps.io.out(parsed.help);
      return 0;
    }
    const { command, name, flags } = parsed;
    const connected = (deps.connect ?? connectKube)({
      kubeconfig: flags.kubeconfig as string | undefined,
      context: flags.context as string | undefined,
    });
    // Everything read is printed: no escape sequence someone wrote into an object may reach
    // the terminal (printable.ts).
    conn = { ...connected, client: printableClient(connected.client) };
    const now = deps.now ?? Date.now;
    return await command.run(
      {
        io: deps.io,
        conn,
        namespace: (flags.namespace as string | undefined) ?? conn.defaultNamespace,
        now,
        signal: deps.signal ?? new AbortController().signal,
        actionId: deps.actionId ?? (() => newActionId(now())),
      },
      name,
      flags,
    );
  } catch (err) {
    return report(deps.io, err, conn?.server);
  } finally {
    conn?.client.close();
  }
}

type Parsed = { help: string } | { help?: undefined; command: Command; name: string; flags: Flags };

/** Parses the whole line at once, so global flags may come before or after the command. */
export function parse(argv: readonly string[]): Parsed {
  const options: OptionsConfig = Object.assign({}, GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options));
  let result;
  try {
    result = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    // The line did not parse, so guess the command for the usage line from the words in it.
    const guess = COMMANDS.find((c) => argv.includes(c.name));
    throw new UsageError(parseArgsMessage(err), guess?.name);
  }
  const { values, positionals, tokens } = result;
  const [commandName, ...rest] = positionals;
  if (commandName === undefined) {
    if (values.help) return { help: overallUsage() };
    throw new UsageError("no command given");
  }
  if (commandName === "help") {
    const topic = rest[0];
    if (topic === undefined) return { help: overallUsage() };
    return { help: commandUsage(findCommand(topic)) };
  }
  const command = findCommand(commandName);
  if (values.help) return { help: commandUsage(command) };
  for (const token of tokens) {
    if (token.kind === "option" && !(token.name in GLOBAL_OPTIONS) && !(token.name in command.options)) {
      throw new UsageError(`unknown flag ${token.rawName} for ${command.name}`, command.name);
    }
  }
  if (command.noName !== undefined && !command.optionalName && rest.length > 0)
    throw new UsageError(`unexpected argument "${rest[0]}"`, command.name);
  if (command.noName === undefined && rest.length === 0)
    throw new UsageError(`${command.name} needs a ${command.target} name`, command.name);
  if (rest.length > 1) throw new UsageError(`unexpected argument "${rest[1]}"`, command.name);
  if (values.namespace === "") throw new UsageError("--namespace must not be empty", command.name);
  return { command, name: rest[0] ?? "", flags: values as Flags };
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"`);
  return command;
}

/**
 * parseArgs explains itself at length; the first sentence is the useful part, and for a value
 * starting with a dash (`--to-revision -1`) the way to pass one, which the first does not say.
 */
function parseArgsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split(/\.\s/)[0] ?? message;
  const dash = /To specify an option argument starting with a dash use '([^']+)'/.exec(message);
  const hint = dash ? ` (a value starting with a dash is written ${dash[1]})` : "";
  return first.charAt(0).toLowerCase() + first.slice(1) + hint;
}

export function overallUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => head(c).length), "help [command]".length);
  const line = (left: string, right: string) => `  ${left.padEnd(width)}  ${right}`;
  return [
    `${PROGRAM}: watch and steer Crescendo Releases, FeatureToggles and Squads`,
    "",
    "Usage:",
    `  ${PROGRAM} <command> <name> [flags]`,
    "",
    "Commands:",
    ...COMMANDS.map((c) => line(head(c), c.summary)),
    line("help [command]", "Show help for a command"),
    "",
    "Global flags:",
    ...GLOBAL_HELP,
    "",
    `Run "${PROGRAM} <command> --help" for a command's own flags.`,
    "Exit status: 0 ok, 1 error, 2 usage error.",
    "",
  ].join("\n");
}

export function commandUsage(command: Command): string {
  return [
    "Usage:",
    `  ${synopsis(command)}`,
    "",
    command.description,
    "",
    ...(command.flagHelp.length > 0 ? ["Flags:", ...command.flagHelp, ""] : []),
    "Global flags:",
    ...GLOBAL_HELP,
    "",
  ].join("\n");
}

function synopsis(command: Command): string {
  return `${PROGRAM} ${head(command)} [flags]`;
}

/** Prints the failure and returns its exit code. */
function report(io: Io, err: unknown, server: string | undefined): number {
  if (err instanceof UsageError) {
    const command = err.command === undefined ? undefined : COMMANDS.find((c) => c.name === err.command);
    const more = command
      ? `Usage: ${synopsis(command)}\nRun "${PROGRAM} ${command.name} --help" for more.\n`
      : `\n${overallUsage()}`;
    io.err(`error: ${err.message}\n${more}`);
    return err.exitCode;
  }
  // Errors commands did not explain themselves: connection failures, or a bug.
  const failure =
    err instanceof CliError
      ? err
      : (unreachable(err, server) ?? new CliError(err instanceof Error ? err.message : String(err)));
  io.err(`error: ${failure.message}\n`);
  return failure.exitCode;
}
