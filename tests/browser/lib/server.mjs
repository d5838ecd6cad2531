// Starts the release binary on a free loopback port and a throw-away SQLite
// database, with the demo data (`startKeyward`) or on an empty database, as
// a first run finds it (`startEmptyKeyward`); stops it (and removes the
// database) when done.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const PASSWORD = "browser-password-123";
const ROOT = resolve(import.meta.dirname, "../../..");
const BINARY = process.env.KEYWARD_BIN ?? join(ROOT, "target/release/keyward");
/** How long a starting server may take to answer /healthz (migrations, demo data). */
const START_TIMEOUT_MS = Number(process.env.KEYWARD_START_TIMEOUT_MS ?? 30_000);

/** A loopback port nothing listens on (for a server about to start). */
export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Keyward with the demo data. `env`: more environment for the server (KEYWARD_SMTP_URL, say). */
export function startKeyward(env = {}) {
  return start(["serve", "--demo"], env);
}

/**
 * Keyward as a first run finds it: `keyward serve` (no --demo) on an empty
 * database, where every console page leads to /setup. Throws unless `/`
 * does redirect to /setup, so a test of the setup page never runs against
 * a database that has an organization already.
 */
export async function startEmptyKeyward(env = {}) {
  const server = await start(["serve"], env);
  try {
    const response = await fetch(`${server.base}/`, { redirect: "manual" });
    const location = response.headers.get("location");
    if (response.status !== 303 && response.status !== 302 && response.status !== 307 || location !== "/setup") {
      throw new Error(`keyward serve on an empty database: / answered ${response.status} (Location: ${location}), not a redirect to /setup`);
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

async function start(args, env) {
  const dir = mkdtempSync(join(tmpdir(), "keyward-browser-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(BINARY, args, {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(dir, "keyward.db")}`,
      KEYWARD_KEY_FILE: join(dir, "keyward.key"),
      KEYWARD_ADDR: `127.0.0.1:${port}`,
      KEYWARD_DEMO_PASSWORD: PASSWORD,
      KEYWARD_SHUTDOWN_DRAIN_SECS: "0",
      RUST_LOG: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  // The exit code, or the signal that ended it; "spawn failed: …" if it never ran.
  let exited = null;
  child.once("exit", (code, signal) => { exited = code ?? signal; });
  child.once("error", (error) => { exited ??= `spawn failed: ${error.message}`; });
  const server = {
    base,
    database: join(dir, "keyward.db"),
    async stop() {
      if (exited === null) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = "no answer yet";
  for (;;) {
    if (exited !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${BINARY} ${args.join(" ")} exited (${exited}) before answering ${base}/healthz`);
    }
    try {
      const response = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return server;
      last = `answered ${response.status}`;
    } catch (error) {
      last = error.cause?.code ?? error.message; // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`${BINARY} ${args.join(" ")} did not answer ${base}/healthz with 200 within ${START_TIMEOUT_MS / 1000} s (last: ${last})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
