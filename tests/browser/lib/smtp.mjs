// A real SMTP server on loopback (Python's aiosmtpd) that keeps every message
// it receives in a Maildir, so a journey can open the email a person gets.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { freePort } from "./server.mjs";

const listening = (port) =>
  new Promise((done) => {
    const socket = createConnection({ host: "127.0.0.1", port }, () => { socket.end(); done(true); });
    socket.once("error", () => done(false));
  });

export async function startSmtp() {
  const dir = mkdtempSync(join(tmpdir(), "keyward-smtp-"));
  const maildir = join(dir, "mail");
  const port = await freePort();
  const python = process.env.KEYWARD_TEST_PYTHON ?? "python3";
  const child = spawn(python, ["-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${port}`, "-c", "aiosmtpd.handlers.Mailbox", maildir], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 200 && !(await listening(port)); i++) await new Promise((r) => setTimeout(r, 50));
  return {
    url: `smtp://127.0.0.1:${port}`,
    /** The messages to `recipient`, decoded from quoted-printable, oldest first. */
    async messagesTo(recipient) {
      for (let i = 0; i < 100; i++) {
        let files = [];
        try { files = readdirSync(join(maildir, "new")); } catch { /* nothing yet */ }
        const found = files
          .map((f) => readFileSync(join(maildir, "new", f), "utf8"))
          .filter((m) => m.split(/\r?\n/).includes(`X-RcptTo: ${recipient}`))
          .map((m) => m.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))));
        if (found.length) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      return [];
    },
    stop() {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
