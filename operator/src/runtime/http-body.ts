/**
 * Reads a request body up to a byte limit, for the operator's own HTTP servers (OFREP, the
 * Alertmanager receiver): a declared or streamed size over the limit fails with `BodyTooLarge`
 * as soon as it is known, so a hostile client cannot make the process buffer more.
 */
import type { IncomingMessage } from "node:http";

export class BodyTooLarge extends Error {}

export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
