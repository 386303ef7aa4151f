/**
 * A SHA-256 of a JSON value with object keys sorted: what `applyIfChanged` records as the
 * applied hash. The hash was first defined as that of the sorted JSON text built by nested joins;
 * hashes stored in clusters must stay valid (or every object is re-applied once after an
 * upgrade), so the text is the same, but written piece by piece into the hash instead of built
 * in memory once per nesting level: the desired objects of every reconcile pass through here.
 */
import { createHash, type Hash } from "node:crypto";
import { isRecord } from "./is-record.js";

/** The hex SHA-256 of `value` as sorted-key JSON (undefined members absent, undefined elements null). */
export function stableHash(value: unknown): string {
  const out = new HashWriter(createHash("sha256"));
  writeStable(out, value);
  return out.digest();
}

/** Writes `value` as JSON with object keys sorted, piece by piece. */
function writeStable(out: HashWriter, value: unknown): void {
  if (Array.isArray(value)) {
    out.write("[");
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.write(",");
      writeStable(out, element(value, i));
    }
    out.write("]");
  } else if (isRecord(value)) {
    out.write("{");
    let first = true;
    for (const key of sortInPlace(Object.keys(value))) {
      const field = value[key];
      if (field === undefined) continue;
      if (!first) out.write(",");
      out.write(JSON.stringify(key));
      out.write(":");
      writeStable(out, field);
      first = false;
    }
    out.write("}");
  } else {
    out.write(JSON.stringify(value));
  }
}

const HASH_CHUNK = 16_384;

/**
 * Feeds text to a hash in chunks. A `hash.update()` per piece (most are a few bytes: a brace, a
 * key) crosses into C++ each time and doubled the time of hashing, so small pieces are joined
 * first; a large one (a 50 KB ConfigMap value) goes in directly rather than being copied into
 * the join.
 */
class HashWriter {
  private pending = "";

  constructor(private readonly hash: Hash) {}

  write(piece: string): void {
    if (piece.length >= HASH_CHUNK) {
      this.flush();
      this.hash.update(piece);
    } else {
      this.pending += piece;
      if (this.pending.length >= HASH_CHUNK) this.flush();
    }
  }

  /** The hex digest of everything written. */
  digest(): string {
    this.flush();
    return this.hash.digest("hex");
  }

  private flush(): void {
    if (this.pending === "") return;
    this.hash.update(this.pending);
    this.pending = "";
  }
}

/**
 * The same order as `keys.sort()`, without its work space: V8 allocates about a kilobyte per
 * sort, and every object of every desired object is sorted on every reconcile. Insertion sort
 * suits the few keys most objects have; a large map is left to `sort()`.
 */
function sortInPlace(keys: string[]): string[] {
  if (keys.length > 32) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** An array element as JSON reads it: undefined (or a hole) is null. */
function element(array: readonly unknown[], index: number): unknown {
  return array[index] ?? null;
}
