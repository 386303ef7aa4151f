/**
 * Evaluates a namespace's flags with `@openfeature/flagd-core`, the evaluator flagd's own
 * JavaScript providers embed, so an answer over OFREP equals what a flagd provider reading the
 * `crescendo-flags` file computes: same JsonLogic engine, same fractional hashing, same reasons.
 * Building an evaluator parses and compiles every flag's targeting, so evaluators are cached per
 * namespace and rebuilt only when the document's content hash changes.
 */
import { MemoryStorage, type FeatureFlag } from "@openfeature/flagd-core";
import type { EvaluationContext, FlagMetadata, JsonValue, Logger } from "@openfeature/core";
import { documentEtag, serializeDocument, type FlagdDocument } from "./document.js";
import { silentLogger } from "./validate.js";

/** One evaluation: a value with its variant and reason, or an error code. Shaped after OFREP. */
export type Evaluation =
  | { key: string; value: JsonValue; variant?: string; reason: string; metadata: FlagMetadata }
  | { key: string; errorCode: string; errorMessage: string; reason: "ERROR"; metadata: FlagMetadata };

/** True when the evaluation produced a value. */
export function isSuccess(e: Evaluation): e is Extract<Evaluation, { value: JsonValue }> {
  return "value" in e;
}

/** The flags of one namespace, ready to evaluate. Immutable: a new document means a new evaluator. */
export interface NamespaceEvaluator {
  /** Content hash of the document this evaluator was built from. */
  readonly etag: string;
  /** Flag keys, sorted, so bulk answers list flags in a stable order. */
  keys(): string[];
  /** Evaluates one flag; an unknown key gives FLAG_NOT_FOUND. */
  evaluate(key: string, context: EvaluationContext): Evaluation;
  /** Evaluates every flag, errors included (OFREP bulk responses list both). */
  evaluateAll(context: EvaluationContext): Evaluation[];
}

function evaluateFlag(flag: FeatureFlag, context: EvaluationContext, logger: Logger): Evaluation {
  const key = flag.key;
  if (flag.state === "DISABLED") {
    // Crescendo never writes DISABLED flags (see compile.ts). A foreign document might: serve its
    // default variant with reason DISABLED, the behaviour flagd has converged on, since OFREP has
    // no caller default to fall back to.
    const variant = flag.defaultVariant;
    const value = variant === undefined ? undefined : flag.variants.get(variant);
    if (variant === undefined || value === undefined) {
      return {
        key,
        reason: "ERROR",
        errorCode: "GENERAL",
        errorMessage: `flag '${key}' is disabled`,
        metadata: flag.metadata,
      };
    }
    return { key, value: value as JsonValue, variant, reason: "DISABLED", metadata: flag.metadata };
  }
  try {
    const result = flag.evaluate(context, logger);
    if (result.reason === "ERROR") {
      return {
        key,
        reason: "ERROR",
        errorCode: result.errorCode ?? "GENERAL",
        errorMessage: result.errorMessage ?? `flag '${key}' could not be evaluated`,
        metadata: result.flagMetadata,
      };
    }
    if (result.value === undefined) {
      return {
        key,
        reason: "ERROR",
        errorCode: "GENERAL",
        errorMessage: `flag '${key}' has no default variant`,
        metadata: result.flagMetadata,
      };
    }
    return {
      key,
      value: result.value,
      variant: result.variant,
      reason: result.reason,
      metadata: result.flagMetadata,
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { key, reason: "ERROR", errorCode: "GENERAL", errorMessage: message, metadata: flag.metadata };
  }
}

/**
 * Runs an evaluation without capturing stack traces. flagd-core's `sem_ver` parses the context's
 * version with `semver.parse`, which throws and catches a TypeError whenever the context has no
 * parseable version (most requests, for most semver rules): capturing that error's stack costs
 * ~14 µs against ~2 µs without it, and was a quarter of a bulk request's CPU over a document with
 * semver rules. Evaluation is synchronous and keeps only an error's message, so no stack is lost
 * that anyone would read; the limit is restored before anything else runs.
 */
function withoutStacks<T>(evaluation: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return evaluation();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Builds an evaluator from a document. It is loaded like a flagd provider in file mode loads the
 * ConfigMap (flagd-core, non-strict parsing, flag-set metadata merged into each flag's), so both
 * paths agree. Throws flagd-core's ParseError when the document is structurally broken.
 */
export function createNamespaceEvaluator(
  doc: FlagdDocument,
  options: { logger?: Logger; etag?: string } = {},
): NamespaceEvaluator {
  const logger = options.logger ?? silentLogger;
  const storage = new MemoryStorage(logger);
  storage.setConfigurations(serializeDocument(doc));
  const flags = storage.getFlags();
  const keys = [...flags.keys()].sort();
  const etag = options.etag ?? documentEtag(doc);
  return {
    etag,
    keys: () => [...keys],
    evaluate(key, context) {
      const flag = flags.get(key);
      if (!flag) {
        return {
          key,
          reason: "ERROR",
          errorCode: "FLAG_NOT_FOUND",
          errorMessage: `flag '${key}' not found`,
          metadata: storage.getFlagSetMetadata(),
        };
      }
      return withoutStacks(() => evaluateFlag(flag, context, logger));
    },
    evaluateAll(context) {
      return withoutStacks(() => {
        const out: Evaluation[] = [];
        for (const key of keys) {
          const flag = flags.get(key);
          if (flag) out.push(evaluateFlag(flag, context, logger));
        }
        return out;
      });
    },
  };
}

/** A document with its content hash, as the controller publishes it for a namespace. */
export interface PublishedDocument {
  doc: FlagdDocument;
  etag: string;
}

/**
 * One evaluator per namespace, rebuilt only when the namespace's ETag changes. Evaluations run
 * on every OFREP request; rebuilding happens once per document change.
 */
export class EvaluatorCache {
  private readonly evaluators = new Map<string, NamespaceEvaluator>();

  constructor(private readonly logger: Logger = silentLogger) {}

  /** The evaluator for this namespace's current document, building it if the document changed. */
  get(namespace: string, published: PublishedDocument): NamespaceEvaluator {
    const cached = this.evaluators.get(namespace);
    if (cached && cached.etag === published.etag) return cached;
    const evaluator = createNamespaceEvaluator(published.doc, { logger: this.logger, etag: published.etag });
    this.evaluators.set(namespace, evaluator);
    return evaluator;
  }

  /** Forgets a namespace that no longer has a document. */
  delete(namespace: string): void {
    this.evaluators.delete(namespace);
  }

  get size(): number {
    return this.evaluators.size;
  }
}
