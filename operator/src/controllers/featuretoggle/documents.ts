/**
 * The flag documents: each namespace's toggles compiled into the flagd document that OFREP
 * serves and the `crescendo-flags` ConfigMap holds. This is the OFREP server's data source, and
 * the FeatureToggle reconciler reads the same compiled document, so the two never disagree.
 *
 * What apps are served does not wait for a reconcile. `FlagDocuments` compiles a namespace's
 * document from the informer caches on first read after a change (a toggle or a guard Release's
 * phase), so OFREP answers from memory, never from the API, and a Release that rolls back is
 * reflected in the very next evaluation: the watch event invalidates the document, and the kill
 * decision (`decideKill`) is a pure function of the cached objects. Since the informers run on
 * every replica (before leadership), followers serve the same flags as the leader.
 */
import { featureToggleSpec } from "../../api/featuretoggle.js";
import { FeatureToggleResource, ReleaseResource, type FeatureToggle } from "../../api/kinds.js";
import { zodMessage } from "../../api/zod-message.js";
import { compileDocument, type CompiledDocument, type ToggleEntry } from "../../flags/compile.js";
import { documentEtag } from "../../flags/document.js";
import type { PublishedDocument } from "../../flags/evaluate.js";
import type { FlagSource } from "../../flags/ofrep.js";
import type { ControllerHost } from "../../runtime/controller.js";
import type { ReadStore, StoreEvent } from "../../runtime/types.js";
import { evaluationInsight } from "./insight.js";
import { evaluationMetrics } from "./metrics.js";
import { decideKill, toggleAction, type GuardRelease, type RawRelease, type RawToggle } from "./plan.js";
import { servedShare } from "./ramp-share.js";
import { guardPhaseChanged } from "./watches.js";

/** A toggle whose spec fails validation: not served, and Stalled with reason InvalidSpec. */
export interface InvalidSpecToggle {
  toggle: RawToggle;
  message: string;
}

/** One namespace's toggles, compiled: what OFREP serves and the ConfigMap holds. */
export interface NamespaceFlags {
  namespace: string;
  /** Every toggle in the namespace, valid or not (all of them own the ConfigMap). */
  toggles: readonly RawToggle[];
  /** The toggles whose spec parses, with the spec's defaults filled in. */
  valid: readonly FeatureToggle[];
  invalid: readonly InvalidSpecToggle[];
  /** The valid toggles with their kill decision, as compiled. */
  entries: readonly ToggleEntry[];
  compiled: CompiledDocument;
  /** What OFREP serves; undefined when the namespace has no toggles at all. */
  published?: PublishedDocument;
  /**
   * What the compiled document is a function of: each valid toggle's uid, generation (its spec),
   * kill decision and the share its ramp serves (a status field). Undefined when a toggle lacks a uid or generation (never reused then).
   */
  fingerprint?: string;
}

/** The status fields of a guard Release that the kill decision reads. */
export function guardReleaseOf(release: RawRelease | undefined): GuardRelease | undefined {
  if (!release) return undefined;
  const status = release.status ?? {};
  return {
    name: release.metadata.name ?? "",
    phase: status.phase,
    stableRevision: status.stableRevision,
    canaryRevision: status.canaryRevision,
    history: status.history,
  };
}

/**
 * Compiles one namespace, purely: validate every spec, decide which guarded toggles a rollback
 * has killed, and build the flagd document. `now` only matters for timestamps the kill decision
 * would record, which the document does not carry, so the result is a function of the objects.
 */
export function compileNamespace(
  namespace: string,
  toggles: readonly RawToggle[],
  releaseNamed: (name: string) => RawRelease | undefined,
  now: number,
  parseSpec: (toggle: RawToggle) => SpecParse = parseToggleSpec,
  previous?: NamespaceFlags,
): NamespaceFlags {
  const valid: FeatureToggle[] = [];
  const invalid: InvalidSpecToggle[] = [];
  for (const raw of toggles) {
    const parsed = parseSpec(raw);
    if (parsed.success) valid.push({ ...raw, spec: parsed.data });
    else invalid.push({ toggle: raw, message: zodMessage(parsed.error) });
  }
  const entries = valid.map((toggle) => {
    const guard = toggle.spec.guard;
    const guardRelease = guard ? guardReleaseOf(releaseNamed(guard.release)) : undefined;
    const { killed } = decideKill({ toggle, guardRelease, action: toggleAction(toggle), now });
    const share = servedShare(toggle.spec, toggle.status);
    return share === undefined ? { toggle, killed } : { toggle, killed, share };
  });
  const fingerprint = documentFingerprint(entries);
  // The same inputs compile to the same document: reuse it (and its serialised text and etag)
  // rather than compile, check and serialise every flag again.
  const reusable = fingerprint !== undefined && previous?.fingerprint === fingerprint && toggles.length > 0;
  const compiled = reusable ? previous.compiled : compileDocument(namespace, entries);
  const published = reusable
    ? previous.published
    : toggles.length > 0
      ? { doc: compiled.document, etag: documentEtag(compiled.document) }
      : undefined;
  return {
    namespace,
    toggles,
    valid,
    invalid,
    entries,
    compiled,
    ...(published ? { published } : {}),
    ...(fingerprint !== undefined ? { fingerprint } : {}),
  };
}

/** See `NamespaceFlags.fingerprint`; independent of the order the toggles are listed in. */
function documentFingerprint(entries: readonly ToggleEntry[]): string | undefined {
  const parts: string[] = [];
  for (const { toggle, killed, share } of entries) {
    const { uid, generation } = toggle.metadata;
    if (uid === undefined || generation === undefined) return undefined;
    parts.push(`${uid}:${generation}:${killed ? "killed" : "served"}:${share ?? ""}`);
  }
  return parts.sort().join(",");
}

type SpecParse = ReturnType<typeof featureToggleSpec.safeParse>;

/** A toggle's spec validated, with its defaults filled in. */
export function parseToggleSpec(toggle: RawToggle): SpecParse {
  return featureToggleSpec.safeParse(toggle.spec ?? {});
}

/**
 * Spec parses remembered per toggle (uid) for its current generation: the spec only changes with
 * the generation, but a namespace is recompiled for every status write and guard phase change
 * of its toggles, and validating a hundred specs each time was a large part of the operator's
 * allocation during rollouts. Entries go with their toggles (`forget`, `clear`).
 */
export class ParsedSpecs {
  private readonly parses = new Map<string, { generation: number; parsed: SpecParse }>();

  parse(toggle: RawToggle): SpecParse {
    const { uid, generation } = toggle.metadata;
    if (uid === undefined || generation === undefined) return parseToggleSpec(toggle);
    const known = this.parses.get(uid);
    if (known?.generation === generation) return known.parsed;
    const parsed = parseToggleSpec(toggle);
    this.parses.set(uid, { generation, parsed });
    return parsed;
  }

  forget(toggle: RawToggle): void {
    if (toggle.metadata.uid !== undefined) this.parses.delete(toggle.metadata.uid);
  }

  clear(): void {
    this.parses.clear();
  }

  get size(): number {
    return this.parses.size;
  }
}

export interface FlagDocumentsDeps {
  toggles: ReadStore<RawToggle>;
  releases: ReadStore<RawRelease>;
  clock: { now(): number };
  /** Told about every fresh compile (e.g. to drop metrics of flags no longer served). */
  onCompile?: (flags: NamespaceFlags) => void;
}

/**
 * The in-memory flag source OFREP serves from: each namespace's compiled flags, cached until an
 * informer event changes something they depend on (a toggle in the namespace, or the phase of a
 * Release there), then compiled again on the next read. Reads never call the API.
 */
export class FlagDocuments implements FlagSource {
  private readonly cache = new Map<string, NamespaceFlags>();
  /** The last compile of each namespace, also after it was invalidated: the next compile may reuse it. */
  private readonly previous = new Map<string, NamespaceFlags>();
  readonly specs = new ParsedSpecs();

  constructor(private readonly deps: FlagDocumentsDeps) {}

  /** The namespace's served document; undefined when it has no toggles. */
  document(namespace: string): PublishedDocument | undefined {
    return this.flags(namespace).published;
  }

  /** The namespace's compiled flags, from the cache or compiled now. */
  flags(namespace: string): NamespaceFlags {
    const cached = this.cache.get(namespace);
    if (cached) return cached;
    const { toggles, releases, clock } = this.deps;
    const flags = compileNamespace(
      namespace,
      toggles.list(namespace),
      (name) => releases.get(`${namespace}/${name}`),
      clock.now(),
      (toggle) => this.specs.parse(toggle),
      this.previous.get(namespace),
    );
    // A namespace without toggles is not cached: every namespace name a client asks for would
    // otherwise stay in memory.
    if (flags.toggles.length > 0) {
      this.cache.set(namespace, flags);
      this.previous.set(namespace, flags);
    } else {
      this.cache.delete(namespace);
      this.previous.delete(namespace);
    }
    this.deps.onCompile?.(flags);
    return flags;
  }

  /** Forgets a namespace's compiled flags (or all of them); the next read compiles afresh. */
  invalidate(namespace?: string): void {
    if (namespace === undefined) this.cache.clear();
    else this.cache.delete(namespace);
  }

  /** Keeps the cache in step with the toggle store; never throws. */
  onToggleEvent(event: StoreEvent<RawToggle>): void {
    if (event.type === "resync") {
      this.specs.clear();
      return this.invalidate();
    }
    if (event.type === "delete") this.specs.forget(event.object);
    this.invalidate(event.object.metadata.namespace ?? "");
    if (event.type === "upsert" && event.previous) this.invalidate(event.previous.metadata.namespace ?? "");
  }

  /** Only a guard Release's phase can change what is served; measurements and weights cannot. */
  onReleaseEvent(event: StoreEvent<RawRelease>): void {
    if (event.type === "resync") return this.invalidate();
    if (guardPhaseChanged(event)) this.invalidate(event.object.metadata.namespace ?? "");
  }
}

/** A FlagDocuments kept current by the stores' events. */
export function watchFlagDocuments(deps: FlagDocumentsDeps): FlagDocuments {
  const flags = new FlagDocuments(deps);
  deps.toggles.subscribe((event) => flags.onToggleEvent(event));
  deps.releases.subscribe((event) => flags.onReleaseEvent(event));
  return flags;
}

/**
 * The flag documents of every namespace, read from the host's FeatureToggle and Release
 * informers and kept current by their events; flags no longer served lose their evaluation
 * metrics. What the OFREP server serves, and what the FeatureToggle controller writes out.
 */
export function flagDocumentsFrom(host: Pick<ControllerHost, "informer" | "clock">): FlagDocuments {
  return watchFlagDocuments({
    toggles: host.informer<RawToggle>(FeatureToggleResource),
    releases: host.informer<RawRelease>(ReleaseResource),
    clock: host.clock,
    onCompile: (f) => {
      const served = Object.keys(f.compiled.document.flags);
      evaluationMetrics.retainFlags(f.namespace, served);
      evaluationInsight.retainFlags(f.namespace, served);
    },
  });
}
