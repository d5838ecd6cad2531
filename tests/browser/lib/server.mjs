// Starts the release binary with demo data on a free loopback port and a
// throw-away SQLite database; stops it (and removes the database) when done.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const PASSWORD = "browser-password-123";
const ROOT = resolve(import.meta.dirname, "../../..");
const BINARY = process.env.KEYWARD_BIN ?? join(ROOT, "target/release/keyward");

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

/** `env`: more environment for the server (KEYWARD_SMTP_URL, say). */
export async function startKeyward(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "keyward-browser-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(BINARY, ["serve", "--demo"], {
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
  let exited = null;
  child.once("exit", (code) => { exited = code; });
  for (let i = 0; i < 200; i++) {
    if (exited !== null) throw new Error(`keyward exited with ${exited}`);
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
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
}
