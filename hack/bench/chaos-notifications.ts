/**
 * The on-call side of `bench:chaos`: a receiver that behaves as docs/notifications.md tells
 * receivers to (a message whose `Idempotency-Key` it has seen is dropped), and the check of what
 * it received against what each Release's status says. Delivery is at least once: a repeat with
 * the same key is the contract working, not a violation, and is counted apart (`repeats`) so it is
 * never hidden. A violation is what a receiver dropping repeats would still get wrong: a rollback
 * never delivered, one Release's rollback delivered under two keys, a key that is no rollback.
 */
import { createServer, type Server } from "node:http";

export interface Delivery {
  /** The `Idempotency-Key` header. */
  key: string;
  /** The payload's `release`. */
  release: string;
}

/** What one Release's status says of its notifications, and whether it should have rolled back. */
export interface NotifiedRelease {
  release: string;
  rollsBack: boolean;
  /** `status.notifications[].id`, newest first. */
  ids: string[];
}

export interface NotificationViolation {
  invariant: "notification";
  release?: string;
  detail: string;
}

/** Raw repeats: deliveries a receiver dropped because it had seen their key. */
export interface Repeats {
  deliveries: number;
  /** Distinct keys. */
  keys: number;
  /** deliveries - keys. */
  dropped: number;
  /** Keys delivered more than once. */
  repeatedKeys: number;
  /** The most deliveries of one key. */
  maxPerKey: number;
}

/** A loopback webhook receiver recording every delivery, repeats included. */
export class OncallReceiver {
  readonly deliveries: Delivery[] = [];
  private server: Server | undefined;

  /** Listens on a free loopback port; returns the URL to put in the Squad's Secret. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const key = String(req.headers["idempotency-key"] ?? "");
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        let release = "";
        try {
          release = String(
            (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { release?: unknown }).release,
          );
        } catch {
          // Not the JSON payload: counted under no Release, which the check reports.
        }
        this.deliveries.push({ key, release });
        res.writeHead(204).end();
      });
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(server.address() as { port: number }).port}/oncall`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** The violations a receiver dropping repeats by key would see, and the repeats it dropped. */
export function checkNotifications(
  releases: readonly NotifiedRelease[],
  deliveries: readonly Delivery[],
): { violations: NotificationViolation[]; repeats: Repeats } {
  const perKey = new Map<string, Delivery[]>();
  for (const d of deliveries) perKey.set(d.key, [...(perKey.get(d.key) ?? []), d]);
  // What the receiver acts on: the first delivery of each key.
  const accepted = [...perKey.values()].map((ds) => ds[0]!);
  const violations: NotificationViolation[] = [];
  const add = (release: string | undefined, detail: string) =>
    violations.push({ invariant: "notification", ...(release ? { release } : {}), detail });
  const known = new Set(releases.map((r) => r.release));

  for (const r of releases) {
    const keys = accepted.filter((d) => d.release === r.release).map((d) => d.key);
    const [id, ...extra] = r.ids;
    for (const other of extra) add(r.release, `unexpected notification ${other} in status`);
    if (!r.rollsBack) {
      if (id) add(r.release, `unexpected notification ${id} in status`);
      for (const k of keys) add(r.release, `delivery with key ${k} for a Release that did not roll back`);
      continue;
    }
    if (!id) add(r.release, "no notification recorded in status for its rollback");
    if (keys.length === 0) {
      add(r.release, `rollback ${id ?? "(none recorded)"} never delivered`);
    } else if (keys.length > 1) {
      add(r.release, `one rollback delivered under ${keys.length} different keys: ${keys.join(", ")}`);
    } else if (id && keys[0] !== id) {
      add(r.release, `delivered key ${keys[0]!}, but status records rollback ${id}`);
    }
  }
  for (const d of accepted) {
    if (!known.has(d.release))
      add(undefined, `delivery with key ${d.key} for unknown Release "${d.release}"`);
  }
  const counts = [...perKey.values()].map((ds) => ds.length);
  return {
    violations,
    repeats: {
      deliveries: deliveries.length,
      keys: perKey.size,
      dropped: deliveries.length - perKey.size,
      repeatedKeys: counts.filter((n) => n > 1).length,
      maxPerKey: Math.max(0, ...counts),
    },
  };
}
