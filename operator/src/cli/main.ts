#!/usr/bin/env node
/**
 * Entry point of `kubectl-crescendo`, the kubectl plugin (`kubectl crescendo ...`). Wires the
 * real process — argv, stdout/stderr, the terminal, Ctrl-C — to the dispatcher in run.ts.
 */
import { wantsColor } from "./render/style.js";
import { run } from "./run.js";

const interrupted = new AbortController();
process.once("SIGINT", () => {
  // The first Ctrl-C ends a watch or a wait cleanly; a command that does not stop by itself
  // soon (a request in flight), or a second Ctrl-C, ends the process.
  interrupted.abort();
  process.once("SIGINT", () => process.exit(130));
  setTimeout(() => process.exit(130), 2000).unref();
});

const isTTY = process.stdout.isTTY === true;
process.exitCode = await run(process.argv.slice(2), {
  io: {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    isTTY,
    color: wantsColor(isTTY, process.env),
  },
  signal: interrupted.signal,
});
