/**
 * What the plugin reads, made safe to print: every string of every object it gets, lists or
 * watches has its control characters (C0 but newline and tab, DEL, C1) replaced. Objects carry
 * text others wrote — a Release's free-text `spec.version`, a message quoting it, an alert's
 * labels in an incident record — and an escape sequence among them, printed as is, would act on
 * the terminal of whoever runs `kubectl crescendo` (set its title, clear it, forge lines). The
 * plugin's own colours are added after, by the renderers.
 */
import type { KubeClient } from "../runtime/client.js";

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `value` with every string in it (keys included) stripped of control characters. */
export function printable<T>(value: T): T {
  if (typeof value === "string") return value.replace(CONTROL, "\ufffd") as T;
  if (Array.isArray(value)) return value.map(printable) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [printable(k), printable(v)])) as T;
  }
  return value;
}

async function* printableEvents<T>(events: AsyncIterable<T>): AsyncIterable<T> {
  for await (const event of events) yield printable(event);
}

/** `client` whose reads (`get`, `list`, `watch`) return printable objects; writes go through as they are. */
export function printableClient(client: KubeClient): KubeClient {
  return {
    get: async (res, name, namespace) => printable(await client.get(res, name, namespace)),
    list: async (res, opts, signal) => printable(await client.list(res, opts, signal)),
    watch: (res, opts, signal) => printableEvents(client.watch(res, opts, signal)),
    apply: (obj, res, opts) => client.apply(obj, res, opts),
    applyStatus: (obj, res, opts) => client.applyStatus(obj, res, opts),
    mergePatch: (res, name, namespace, patch, opts) => client.mergePatch(res, name, namespace, patch, opts),
    create: (obj, res) => client.create(obj, res),
    replace: (obj, res) => client.replace(obj, res),
    delete: (res, name, namespace, opts) => client.delete(res, name, namespace, opts),
    close: () => client.close(),
  };
}
