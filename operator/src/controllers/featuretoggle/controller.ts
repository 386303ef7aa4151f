/**
 * The FeatureToggle controller's wiring: what it watches, the flags it serves, and the thin
 * reconcile that reads one snapshot from the informers, asks `plan.ts` and `flags/` what to do,
 * and does it. Every decision lives in those pure modules; what is here is I/O and ordering.
 *
 * Keys are NAMESPACES, not toggles. The flag document is per namespace, and so are the
 * ConfigMap, the FeatureFlag, key conflicts and the oldest-first claim on a key: a toggle's
 * status depends on its neighbours. One reconcile per namespace compiles the document once,
 * writes it once and plans every toggle's status from the same snapshot, so N toggles cost one
 * compile instead of N (and a toggle's change cannot leave a neighbour's status stale). The
 * primary watch is therefore the Namespace (a namespace's `crescendo.dev/squad` label also
 * decides its squad's toggle policy); toggles, the ConfigMap, guard Releases, Squads and the
 * OpenFeature Operator's CRD map to namespace keys.
 *
 * What apps are served does not wait for a reconcile. `FlagDocuments` compiles a namespace's
 * document from the informer caches on first read after a change (a toggle or a guard Release's
 * phase), so OFREP answers from memory, never from the API, and a Release that rolls back is
 * reflected in the very next evaluation: the watch event invalidates the document, and the kill
 * decision (`decideKill`) is a pure function of the cached objects. The reconcile reads the same
 * compiled document, so the ConfigMap and OFREP never disagree, and since the informers run on
 * every replica (before leadership), followers serve the same flags as the leader.
 */
import { API_VERSION, LABELS, MANAGED_BY } from "../../api/common.js";
import { featureToggleSpec, type FeatureToggleStatus } from "../../api/featuretoggle.js";
import {
  FeatureToggleResource,
  ReleaseResource,
  SquadResource,
  type FeatureToggle,
} from "../../api/kinds.js";
import type { ReleaseStatus } from "../../api/release.js";
import { squadSpec } from "../../api/squad.js";
import { compileDocument, type CompiledDocument, type ToggleEntry } from "../../flags/compile.js";
import { contentHash, documentEtag } from "../../flags/document.js";
import type { PublishedDocument } from "../../flags/evaluate.js";
import type { FlagSource } from "../../flags/ofrep.js";
import type { Logger } from "../../observability/logger.js";
import { applyIfChanged, deepEqual } from "../../runtime/apply.js";
import { isNotFound, type KubeClient } from "../../runtime/client.js";
import { findCondition, readyConditions } from "../../runtime/conditions.js";
import { controllerFor, type Controller, type ControllerHost } from "../../runtime/controller.js";
import type { EventInput, EventRecorder } from "../../runtime/events.js";
import { trackOwnWrites, type OwnWrites } from "../../runtime/own-writes.js";
import {
  ConfigMapResource,
  CustomResourceDefinitionResource,
  FEATURE_FLAG_CRD,
  FeatureFlagResource,
  NamespaceResource,
} from "../../runtime/resources.js";
import {
  objectKey,
  type KubeObject,
  type ObjectKey,
  type ReadStore,
  type ReconcileResult,
  type StoreEvent,
} from "../../runtime/types.js";
import { zodMessage } from "../squad/status.js";
import { evaluationMetrics, toggleMetrics } from "./metrics.js";
import {
  decideKill,
  FLAGS_OBJECT_NAME,
  planFeatureFlag,
  planFlagConfigMap,
  planToggleStatus,
  rankActiveToggles,
  toggleAction,
  type FlagsObjectOptions,
  type GuardRelease,
  type SquadTogglePolicy,
  type ToggleEvent,
} from "./plan.js";

/** A FeatureToggle as the informer holds it: the spec is not validated yet. */
export type RawToggle = KubeObject & { spec?: unknown; status?: FeatureToggleStatus };
/** A Release as the informer holds it; only its status is read. */
export type RawRelease = KubeObject & { status?: ReleaseStatus };
type RawSquad = KubeObject & { spec?: unknown };

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
   * What the compiled document is a function of: each valid toggle's uid, generation (its spec)
   * and kill decision. Undefined when a toggle lacks a uid or generation (never reused then).
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
    return { toggle, killed };
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
  for (const { toggle, killed } of entries) {
    const { uid, generation } = toggle.metadata;
    if (uid === undefined || generation === undefined) return undefined;
    parts.push(`${uid}:${generation}:${killed ? "killed" : "served"}`);
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

/**
 * Whether a Release event can change anything about the toggles it guards: its phase moved
 * (the kill decision reads the phase), or it appeared or went (a missing guard is reported in
 * the toggle's status), or the store was relisted. A rollout rewrites its Release for every
 * weight step and measurement; none of those can kill or re-arm a toggle.
 */
export function guardPhaseChanged(event: StoreEvent<RawRelease>): boolean {
  if (event.type !== "upsert" || !event.previous) return true;
  return event.previous.status?.phase !== event.object.status?.phase;
}

/** A FlagDocuments kept current by the stores' events. */
export function watchFlagDocuments(deps: FlagDocumentsDeps): FlagDocuments {
  const flags = new FlagDocuments(deps);
  deps.toggles.subscribe((event) => flags.onToggleEvent(event));
  deps.releases.subscribe((event) => flags.onReleaseEvent(event));
  return flags;
}

export interface FeatureToggleControllerOptions {
  client: Pick<KubeClient, "apply" | "delete" | "mergePatch">;
  recorder: Pick<EventRecorder, "record">;
  logger: Logger;
  /** Concurrent reconciles of different namespaces (default 2). */
  workers?: number;
}

export interface RegisteredFeatureToggleController {
  controller: Controller;
  /** What the OFREP server serves. */
  flags: FlagDocuments;
}

/**
 * Registers the FeatureToggle controller and returns it with the flag source to serve over
 * OFREP. Watches: Namespaces (the keys), FeatureToggles, the `crescendo-flags` ConfigMaps (an
 * edited or deleted one is put back), Releases that guard a toggle, Squads (their toggle policy)
 * and the OpenFeature Operator's FeatureFlag CRD (installed or removed at any time).
 */
export function registerFeatureToggleController(
  manager: ControllerHost,
  options: FeatureToggleControllerOptions,
): RegisteredFeatureToggleController {
  const toggles = manager.informer<RawToggle>(FeatureToggleResource);
  const releases = manager.informer<RawRelease>(ReleaseResource);
  const namespaces = manager.informer(NamespaceResource);
  const squads = manager.informer<RawSquad>(SquadResource);
  const configMaps = manager.informer(ConfigMapResource);
  // Only FEATURE_FLAG_CRD is read: the operator's cache selects it by name (`cache.ts`).
  const crds = manager.informer(CustomResourceDefinitionResource);
  const flags = watchFlagDocuments({
    toggles,
    releases,
    clock: manager.clock,
    onCompile: (f) => evaluationMetrics.retainFlags(f.namespace, Object.keys(f.compiled.document.flags)),
  });
  const guarded = new GuardedReleases();
  for (const toggle of toggles.list()) guarded.set(toggle);
  toggles.subscribe((event) => guarded.apply(event));
  const reconciler = new FeatureToggleReconciler({
    ...options,
    clock: manager.clock,
    flags,
    toggles,
    releases,
    namespaces,
    squads,
    configMaps,
    crds,
  });
  const controller = controllerFor(manager, NamespaceResource, { name: "featuretoggle" })
    .watches<RawToggle>(FeatureToggleResource, namespacesOfToggle(namespaces), { predicate: toggleChanged })
    .watches(ConfigMapResource, namespaceOfFlagsObject)
    .watches<RawRelease>(ReleaseResource, namespaceOfGuardRelease(guarded), {
      predicate: guardPhaseChanged,
    })
    .watches<RawSquad>(SquadResource, namespacesOfSquad(namespaces), { predicate: squadPolicyChanged })
    .watches(CustomResourceDefinitionResource, namespacesOnCrdChange(toggles))
    .workers(options.workers ?? 2)
    .complete((key) => reconciler.reconcile(key));
  return { controller, flags };
}

/** The namespaces of the squad that owns `namespace` (by its label), or just `namespace`. */
function squadNamespaces(namespaces: ReadStore, namespace: string): string[] {
  const squad = namespaces.get(namespace)?.metadata.labels?.[LABELS.squad];
  const names = squad ? namespaces.byLabel(LABELS.squad, squad).map((ns) => ns.metadata.name ?? "") : [];
  return [...new Set([namespace, ...names])];
}

/**
 * Whether a toggle event is worth reconciling its namespaces: anything but a status write, or a
 * status write that changed its effective state (the squad's active limit counts toggles by it,
 * across namespaces). The other status writes are the controller's own (a status never needs a
 * second pass), and they were most of the namespace reconciles: a hundred toggles in a namespace
 * meant a hundred reconciles of all hundred when they first got their status.
 */
export function toggleChanged(event: StoreEvent<RawToggle>): boolean {
  if (event.type !== "upsert" || !event.previous) return true;
  const before = event.previous;
  const after = event.object;
  return (
    before.metadata.generation !== after.metadata.generation ||
    before.metadata.deletionTimestamp !== after.metadata.deletionTimestamp ||
    !deepEqual(before.metadata.annotations ?? {}, after.metadata.annotations ?? {}) ||
    !deepEqual(before.metadata.labels ?? {}, after.metadata.labels ?? {}) ||
    before.status?.effectiveState !== after.status?.effectiveState
  );
}

/**
 * A toggle concerns its namespace, and the squad's other namespaces too: the squad's active
 * limit ranks all of its toggles together, so enabling one can push another over.
 */
export function namespacesOfToggle(namespaces: ReadStore): (toggle: RawToggle) => ObjectKey[] {
  return (toggle) => squadNamespaces(namespaces, toggle.metadata.namespace ?? "");
}

/** The `crescendo-flags` ConfigMap (or FeatureFlag) concerns its namespace. */
export function namespaceOfFlagsObject(obj: KubeObject): ObjectKey[] {
  return obj.metadata.name === FLAGS_OBJECT_NAME && obj.metadata.namespace ? [obj.metadata.namespace] : [];
}

/** A Release concerns its namespace only when a toggle there names it as its guard. */
export function namespaceOfGuardRelease(guarded: GuardedReleases): (release: RawRelease) => ObjectKey[] {
  return (release) => (guarded.isGuarded(objectKey(release)) ? [release.metadata.namespace ?? ""] : []);
}

/**
 * Release key (namespace/name) → the toggles that name it as their guard, kept in step with
 * the toggle store's events. A Release event then costs a map lookup instead of a scan of its
 * namespace's toggles, which over a rollout (every weight step rewrites the Release) was
 * quadratic. Read from the raw spec, leniently, since an invalid toggle still names its guard.
 */
export class GuardedReleases {
  private readonly byToggle = new Map<ObjectKey, ObjectKey>();
  private readonly byRelease = new Map<ObjectKey, Set<ObjectKey>>();

  /** Keeps the index in step with the toggle store; never throws. */
  apply(event: StoreEvent<RawToggle>): void {
    if (event.type === "resync") {
      this.byToggle.clear();
      this.byRelease.clear();
      for (const toggle of event.objects) this.set(toggle);
    } else if (event.type === "delete") {
      this.remove(objectKey(event.object));
    } else {
      this.set(event.object);
    }
  }

  set(toggle: RawToggle): void {
    const key = objectKey(toggle);
    this.remove(key);
    const name = guardName(toggle);
    if (name === undefined) return;
    const release = `${toggle.metadata.namespace ?? ""}/${name}`;
    this.byToggle.set(key, release);
    let toggles = this.byRelease.get(release);
    if (!toggles) this.byRelease.set(release, (toggles = new Set()));
    toggles.add(key);
  }

  remove(toggle: ObjectKey): void {
    const release = this.byToggle.get(toggle);
    if (release === undefined) return;
    const toggles = this.byRelease.get(release);
    toggles?.delete(toggle);
    if (toggles?.size === 0) this.byRelease.delete(release);
    this.byToggle.delete(toggle);
  }

  /** True when some toggle names this Release (namespace/name) as its guard. */
  isGuarded(release: ObjectKey): boolean {
    return this.byRelease.has(release);
  }
}

/** `spec.guard.release`, read leniently from an unvalidated spec. */
function guardName(toggle: RawToggle): string | undefined {
  const guard = (toggle.spec as { guard?: { release?: unknown } } | undefined)?.guard;
  return typeof guard?.release === "string" ? guard.release : undefined;
}

/** A Squad's policy concerns every namespace it owns (by the Namespace label). */
export function namespacesOfSquad(namespaces: ReadStore): (squad: RawSquad) => ObjectKey[] {
  return (squad) =>
    namespaces.byLabel(LABELS.squad, squad.metadata.name ?? "").map((ns) => ns.metadata.name ?? "");
}

/**
 * Whether a Squad event can change its toggles' statuses: only its toggle policy is read (and
 * whether the Squad exists). The Squad's own status, rewritten as its Releases progress, cannot;
 * without this, every Release phase change re-ran every toggle of the squad through its Squad.
 */
export function squadPolicyChanged(event: StoreEvent<RawSquad>): boolean {
  if (event.type !== "upsert" || !event.previous) return true;
  const policy = (squad: RawSquad): unknown => (squad.spec as { toggles?: unknown } | undefined)?.toggles;
  return !deepEqual(policy(event.previous), policy(event.object));
}

/** The FeatureFlag CRD appearing or going concerns every namespace with toggles. */
export function namespacesOnCrdChange(toggles: ReadStore<RawToggle>): (crd: KubeObject) => ObjectKey[] {
  return (crd) => {
    if (crd.metadata.name !== FEATURE_FLAG_CRD) return [];
    return [...new Set(toggles.list().map((t) => t.metadata.namespace ?? ""))];
  };
}

/**
 * True when the OpenFeature Operator's CRD is installed, Established and serves the version
 * Crescendo writes. Absent is normal: the FeatureFlag is an extra, the ConfigMap is the contract.
 */
export function featureFlagCrdServed(crd: KubeObject | undefined): boolean {
  if (!crd || crd.metadata.deletionTimestamp) return false;
  const spec = crd.spec as { versions?: { name?: string; served?: boolean }[] } | undefined;
  const status = crd.status as { conditions?: { type: string; status: string }[] } | undefined;
  const established = status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  const served = spec?.versions?.some((v) => v.name === FeatureFlagResource.version && v.served === true);
  return established === true && served === true;
}

/** The squad's toggle policy, read even from a Squad whose spec is otherwise invalid. */
export function squadTogglePolicy(squad: RawSquad | undefined): SquadTogglePolicy | undefined {
  if (!squad) return undefined;
  const raw = (squad.spec as { toggles?: unknown } | undefined)?.toggles;
  const parsed = squadSpec.shape.toggles.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The status of a toggle whose spec fails validation: Stalled with reason InvalidSpec and the
 * message, and no effective state, since nothing is served for it. What it records about a
 * past kill and action is kept, so fixing the spec does not quietly re-arm a killed toggle.
 */
export function invalidSpecStatus(toggle: RawToggle, message: string, now: number): FeatureToggleStatus {
  const previous = toggle.status ?? {};
  const generation = toggle.metadata.generation ?? 0;
  const { effectiveState: _state, servedVariant: _variant, ...kept } = previous;
  return {
    ...kept,
    observedGeneration: generation,
    conditions: readyConditions(
      previous.conditions,
      {
        state: "Stalled",
        reason: "InvalidSpec",
        message: `${message}. The toggle is not served: apps get their code default.`,
      },
      { observedGeneration: generation, now },
    ),
  };
}

const EVENT_ACTIONS: Record<ToggleEvent["reason"], string> = {
  ToggleKilled: "Kill",
  ToggleRearmed: "Rearm",
  ToggleStale: "Reconcile",
};

export interface ReconcilerDeps extends FeatureToggleControllerOptions {
  clock: { now(): number };
  flags: Pick<FlagDocuments, "flags">;
  /** The store the flags are compiled from; its events end what is remembered of status writes. */
  toggles: ReadStore<RawToggle>;
  releases: ReadStore<RawRelease>;
  namespaces: ReadStore;
  squads: ReadStore<RawSquad>;
  configMaps: ReadStore;
  crds: ReadStore;
}

/** One reconcile of a namespace: observe (stores), plan (pure), act (API), report (status, Events, metrics). */
export class FeatureToggleReconciler {
  /** Namespace → hash of the FeatureFlag last applied there (no informer: the CRD may not exist). */
  private readonly featureFlags = new Map<string, string>();
  /** Namespace → the content its ConfigMap was last found to hold, at which resourceVersion. */
  private readonly configMapsVerified = new Map<string, string>();
  private crdServed: boolean | undefined;
  /**
   * Our status writes per toggle, until the informer shows them. A namespace is reconciled
   * again as soon as the first of its toggles' writes comes back, before the others have: read
   * from the cache, each of those would be compared with its old status and patched with an old
   * resourceVersion (a 409 per toggle, and the namespace retried until the cache caught up).
   */
  private readonly written: OwnWrites<RawToggle>;

  constructor(private readonly deps: ReconcilerDeps) {
    this.written = trackOwnWrites(deps.toggles);
  }

  async reconcile(namespace: ObjectKey): Promise<ReconcileResult> {
    const now = this.deps.clock.now();
    const flags = this.deps.flags.flags(namespace);
    const crdServed = this.observeCrd();
    if (flags.toggles.length === 0) {
      await this.cleanup(namespace, crdServed);
      return {};
    }
    const ns = this.deps.namespaces.get(namespace);
    // A terminating namespace refuses new objects; its toggles are on their way out too.
    if (ns?.metadata.deletionTimestamp) return {};

    const objectOptions = flagsObjectOptions(ns);
    await this.applyConfigMap(namespace, flags, objectOptions);
    if (crdServed) await this.applyFeatureFlag(namespace, flags, objectOptions);
    const policy = squadTogglePolicy(
      objectOptions.squad ? this.deps.squads.get(objectOptions.squad) : undefined,
    );
    return this.report(flags, policy, now);
  }

  /**
   * Writes every toggle's status (and its Events) and sets its metrics. Every toggle gets its
   * turn; the first failure is rethrown after, so the namespace is retried (a 409 at once).
   */
  private async report(
    flags: NamespaceFlags,
    policy: SquadTogglePolicy | undefined,
    now: number,
  ): Promise<ReconcileResult> {
    const { namespace } = flags;
    const ranks = policy?.maxActive === undefined ? undefined : this.squadRanks(namespace);
    const conflicts = new Map(flags.compiled.conflicts.map((c) => [c.toggle, c]));
    const invalidFlags = new Map(flags.compiled.invalid.map((i) => [i.toggle, i]));
    let requeueAfterMs: number | undefined;
    let failure: unknown;
    const attempt = (write: Promise<void>) => write.catch((err: unknown) => void (failure ??= err));

    for (const { toggle: cached } of flags.entries) {
      const toggle = this.written.view(cached);
      const name = toggle.metadata.name ?? "";
      const guard = toggle.spec.guard;
      const plan = planToggleStatus({
        toggle,
        guardRelease: guard ? this.guardRelease(namespace, guard.release) : undefined,
        squadToggles: policy,
        activeRank: ranks?.get(`${namespace}/${name}`),
        now,
        action: toggleAction(toggle),
        conflict: conflicts.get(name),
        invalid: invalidFlags.get(name),
      });
      toggleMetrics.set(namespace, name, plan.status.effectiveState ?? "Enabled", plan.status.stale === true);
      if (plan.requeueAfterMs !== undefined)
        requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, plan.requeueAfterMs);
      await attempt(this.writeStatus(toggle, plan.status, plan.events));
    }
    for (const { toggle: cached, message } of flags.invalid) {
      const toggle = this.written.view(cached);
      toggleMetrics.set(namespace, toggle.metadata.name ?? "", "Invalid", toggle.status?.stale === true);
      await attempt(this.writeInvalid(toggle, message, now));
    }
    toggleMetrics.retain(
      namespace,
      flags.toggles.map((t) => t.metadata.name ?? ""),
    );
    if (failure !== undefined) throw failure;
    return requeueAfterMs === undefined ? {} : { requeueAfterMs };
  }

  /**
   * A namespace with no toggles left: its ConfigMap and FeatureFlag go (their owner references
   * would let the garbage collector do it too, but only once it gets to them).
   */
  /**
   * Applies the namespace's ConfigMap unless it was already found to hold this content at its
   * current resourceVersion. Comparing means hashing the whole document (tens of KB for a
   * hundred flags), and a namespace is reconciled for every phase change of every guard Release
   * in it; the document's etag, the labels and the owners say as much, for a few bytes.
   */
  private async applyConfigMap(
    namespace: string,
    flags: NamespaceFlags,
    objectOptions: FlagsObjectOptions,
  ): Promise<void> {
    const observed = this.deps.configMaps.get(`${namespace}/${FLAGS_OBJECT_NAME}`);
    const content = contentHash(
      [
        flags.published?.etag,
        JSON.stringify(objectOptions),
        ...owners(flags).map((t) => `${t.metadata.uid ?? ""}/${t.metadata.name ?? ""}`),
      ].join("\n"),
    );
    const verified = observed ? `${content}@${observed.metadata.resourceVersion ?? ""}` : undefined;
    if (verified !== undefined && this.configMapsVerified.get(namespace) === verified) return;
    this.configMapsVerified.delete(namespace);
    const configMap = planFlagConfigMap(namespace, flags.compiled.document, owners(flags), objectOptions);
    const wrote = await applyIfChanged(this.deps.client, configMap, ConfigMapResource, observed);
    // After a write the cache has yet to show it: the next reconcile compares once more.
    if (!wrote && verified !== undefined) this.configMapsVerified.set(namespace, verified);
  }

  private async cleanup(namespace: string, crdServed: boolean): Promise<void> {
    toggleMetrics.retain(namespace, []);
    this.configMapsVerified.delete(namespace);
    const configMap = this.deps.configMaps.get(`${namespace}/${FLAGS_OBJECT_NAME}`);
    if (configMap && configMap.metadata.labels?.[LABELS.managedBy] === MANAGED_BY) {
      await this.deps.client.delete(ConfigMapResource, FLAGS_OBJECT_NAME, namespace);
    }
    if (crdServed && this.featureFlags.has(namespace)) {
      await this.deps.client.delete(FeatureFlagResource, FLAGS_OBJECT_NAME, namespace);
    }
    this.featureFlags.delete(namespace);
  }

  /** Whether to write FeatureFlags; a change is logged once, and a removed CRD forgets what was written. */
  private observeCrd(): boolean {
    const crd = this.deps.crds.get(FEATURE_FLAG_CRD);
    const served = featureFlagCrdServed(crd);
    if (served !== this.crdServed) {
      this.deps.logger.info(
        { crd: FEATURE_FLAG_CRD, served },
        served
          ? "OpenFeature Operator CRD found; writing a FeatureFlag per namespace"
          : "OpenFeature Operator CRD not installed; flags go to ConfigMaps and OFREP only",
      );
      this.crdServed = served;
    }
    if (!served) this.featureFlags.clear();
    return served;
  }

  /**
   * Applies the FeatureFlag unless this process already applied the same one. There is no
   * informer to compare with (the CRD can come and go), so the comparison is with what was last
   * written; after a restart each namespace's FeatureFlag is applied once more. A 404 means the
   * CRD went away since it was seen, which is not an error.
   */
  private async applyFeatureFlag(
    namespace: string,
    flags: NamespaceFlags,
    options: FlagsObjectOptions,
  ): Promise<void> {
    const desired = planFeatureFlag(namespace, flags.compiled.document, owners(flags), options);
    const uid = this.deps.crds.get(FEATURE_FLAG_CRD)?.metadata.uid ?? "";
    const hash = contentHash(`${uid}\n${JSON.stringify(desired)}`);
    if (this.featureFlags.get(namespace) === hash) return;
    try {
      await applyIfChanged(this.deps.client, desired, FeatureFlagResource);
      this.featureFlags.set(namespace, hash);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.deps.logger.debug({ namespace, err }, "FeatureFlag kind not served (CRD removed?); skipped");
    }
  }

  /** Ranks of the active toggles of the squad that owns this namespace, across all its namespaces. */
  private squadRanks(namespace: string): Map<string, number> {
    const namespaces = squadNamespaces(this.deps.namespaces, namespace);
    return rankActiveToggles(namespaces.flatMap((ns) => this.deps.flags.flags(ns).valid));
  }

  private guardRelease(namespace: string, name: string): GuardRelease | undefined {
    return guardReleaseOf(this.deps.releases.get(`${namespace}/${name}`));
  }

  /** Status only when it changed; its Events only once it is written (a 409 retries both). */
  private async writeStatus(
    toggle: FeatureToggle,
    status: FeatureToggleStatus,
    events: readonly ToggleEvent[],
  ): Promise<void> {
    const written = await this.patchStatus(toggle, status);
    if (!written) return;
    for (const event of events) this.record(toggle, { ...event, action: EVENT_ACTIONS[event.reason] });
  }

  private async writeInvalid(toggle: RawToggle, message: string, now: number): Promise<void> {
    const status = invalidSpecStatus(toggle, message, now);
    const before = findCondition(toggle.status?.conditions, "Stalled");
    const written = await this.patchStatus(toggle, status);
    if (!written || (before?.status === "True" && before.reason === "InvalidSpec")) return;
    this.record(toggle, { type: "Warning", reason: "InvalidSpec", note: message, action: "Reconcile" });
  }

  /** A toggle deleted since the snapshot has no status to write: its deletion brings a reconcile of its own. */
  private async patchStatus(toggle: KubeObject, status: FeatureToggleStatus): Promise<boolean> {
    try {
      return await this.written.patchStatus(this.deps.client, toggle, FeatureToggleResource, status);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private record(toggle: KubeObject, event: EventInput): void {
    const regarding = { ...toggle, apiVersion: API_VERSION, kind: FeatureToggleResource.kind };
    void this.deps.recorder.record(regarding, event);
  }
}

/**
 * Every toggle in the namespace, invalid ones included, owns the flags objects: the garbage
 * collector removes them only once the last toggle is gone. Owner references read only metadata.
 */
function owners(flags: NamespaceFlags): FeatureToggle[] {
  return flags.toggles as FeatureToggle[];
}

/** Labels for the ConfigMap and FeatureFlag: the squad and tribe the Namespace is labelled with. */
function flagsObjectOptions(ns: KubeObject | undefined): FlagsObjectOptions {
  const labels = ns?.metadata.labels ?? {};
  const squad = labels[LABELS.squad];
  const tribe = labels[LABELS.tribe];
  return { ...(squad ? { squad } : {}), ...(tribe ? { tribe } : {}) };
}
