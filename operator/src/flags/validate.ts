/**
 * Checks flags with flagd-core itself rather than a copy of its rules: strict parsing validates
 * against the flagd JSON schemas flagd-core bundles, and building the flag compiles its targeting
 * with the same JsonLogic engine that will evaluate it. One bad flag makes a flagd provider
 * reject the whole file, so every flag is checked before it joins a namespace's document.
 */
import { MemoryStorage } from "@openfeature/flagd-core";
import type { Logger } from "@openfeature/core";
import type { FlagdFlag } from "./document.js";
import { readableSchemaErrors } from "./schema-errors.js";
import { unknownVariantProblem } from "./targeting-variants.js";

/** flagd-core logs schema and targeting problems; validation reports them instead. */
export const silentLogger: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/**
 * Parses the text strictly, as flagd-core's `parse(config, true, logger)` does (that function is
 * not exported; `MemoryStorage.setConfigurations(text, true)` is its public entry point), and
 * returns the storage. Throws flagd-core's ParseError with the schema violations.
 */
export function parseStrict(text: string): MemoryStorage {
  const storage = new MemoryStorage(silentLogger);
  storage.setConfigurations(text, true);
  return storage;
}

/**
 * Why flagd would refuse this flag, or undefined when it is valid. Besides the schema, this
 * catches targeting that passes the schema but does not compile: flagd-core accepts such a flag
 * and then answers every evaluation with PARSE_ERROR, which is worse than refusing it up front.
 * The same for targeting that can return a variant the flag does not define
 * (`targeting-variants.ts`): flagd answers those evaluations with an error.
 *
 * Memoised by the flag's JSON: a namespace's document is recompiled whenever one of its toggles
 * or guard Releases changes, so the same flags are checked again and again, and flagd-core's
 * schema validation and JsonLogic compilation were most of the operator's allocation during a
 * rollout (a 1,000-Release rollout checked ~400,000 flags). The answer depends on the text alone.
 */
export function flagProblem(key: string, flag: FlagdFlag): string | undefined {
  const text = JSON.stringify({ flags: { [key]: flag } });
  const known = checked.get(text);
  if (known !== undefined) return known.problem;
  const problem = uncachedFlagProblem(key, text) ?? unknownVariantProblem(flag.targeting, flag.variants);
  checked.set(text, { problem });
  return problem;
}

function uncachedFlagProblem(key: string, text: string): string | undefined {
  try {
    const storage = parseStrict(text);
    const result = storage.getFlag(key)?.evaluate({}, silentLogger);
    if (result?.errorCode === "PARSE_ERROR") return result.errorMessage;
    return undefined;
  } catch (err) {
    return readableSchemaErrors(err instanceof Error ? err.message : String(err), key);
  }
}

/**
 * Enough for every flag of a few thousand toggles in both forms (served and killed); beyond
 * that the least recently used answers are checked again, which is only slower.
 */
const MAX_CHECKED = 8192;

/** flagProblem's answers by flag text, least recently used first (a Map keeps insertion order). */
class CheckedFlags {
  private readonly answers = new Map<string, { problem: string | undefined }>();

  get(text: string): { problem: string | undefined } | undefined {
    const answer = this.answers.get(text);
    if (answer) {
      this.answers.delete(text);
      this.answers.set(text, answer);
    }
    return answer;
  }

  set(text: string, answer: { problem: string | undefined }): void {
    this.answers.set(text, answer);
    if (this.answers.size > MAX_CHECKED) this.answers.delete(this.answers.keys().next().value as string);
  }

  get size(): number {
    return this.answers.size;
  }
}

const checked = new CheckedFlags();

/** How many answers are remembered (for tests: the memory is bounded). */
export function checkedFlagCount(): number {
  return checked.size;
}
