/** Writes crds/*.yaml and the Helm chart's copies from the zod schemas in operator/src/api. */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderCrdFiles } from "../operator/src/api/crd-files.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
for (const [path, text] of renderCrdFiles()) {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
  console.log(`wrote ${path}`);
}
