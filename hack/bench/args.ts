/**
 * The flags of a benchmark script: `node:util` parseArgs (unknown flags are errors) with a
 * `--help` that prints the script's usage and exits, and checks that turn a flag's text into a
 * number or a choice, naming the flag when the text does not fit.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;
const HELP = { help: { type: "boolean" } } as const;

/** parseArgs over `argv` with `--help` added: `--help` prints `usage` and exits 0. */
export function parseFlags<const O extends Options, const P extends boolean = false>(
  argv: string[],
  usage: string,
  options: O,
  allowPositionals?: P,
): ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP; allowPositionals: P }>> {
  const parsed = parseArgs({
    args: argv,
    options: { ...options, ...HELP },
    allowPositionals: allowPositionals ?? false,
  });
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed as never;
}

/** `text` as an integer in [min, max]; throws naming `--name` otherwise. */
export function int(name: string, text: string, min: number, max = Infinity): number {
  const n = Number(text.trim());
  if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new Error(`--${name} must be an integer ${range}, got "${text}"`);
  }
  return n;
}

/** `int` for a flag without a default: undefined when it was not given. */
export function optionalInt(
  name: string,
  text: string | undefined,
  min: number,
  max = Infinity,
): number | undefined {
  return text === undefined ? undefined : int(name, text, min, max);
}

/** A comma-separated list of integers, each in [min, max]. */
export function ints(name: string, text: string, min: number, max = Infinity): number[] {
  return text.split(",").map((s) => int(name, s, min, max));
}

/** A comma-separated list of choices, each one of `allowed`. */
export function choices<const T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  return text.split(",").map((s) => choice(name, s.trim(), allowed));
}

/** One of `allowed`; throws naming `--name` and the choices otherwise. */
export function choice<const T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text))
    throw new Error(`--${name} must be ${allowed.join(" or ")}, got "${text}"`);
  return text as T;
}
