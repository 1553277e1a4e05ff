import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../src/free-port.js";

const run = promisify(execFile);

/** The machine's Postgres binaries (Debian: /usr/lib/postgresql/<major>/bin), newest major first. */
function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(join(root, d, "bin", "pg_ctl")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!majors[0]) throw new Error("no Postgres binaries under /usr/lib/postgresql/*/bin (initdb, pg_ctl)");
  return join(root, majors[0], "bin");
}

/**
 * A Postgres of the test's own (never the shared one on 5432): initdb into a
 * temporary folder, trust auth on loopback, a free port. The test may stop
 * it (as a crash does: `pg_ctl stop -m immediate`) and start it again on the
 * same port with the same data. As root, Postgres refuses to run, so it runs
 * as the `postgres` user.
 */
export class OwnPostgres {
  private constructor(
    private readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  static async start(): Promise<OwnPostgres> {
    const bin = postgresBin();
    const dir = await mkdtemp(join(tmpdir(), "halo-own-pg-"));
    if (isRoot()) {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    const pg = new OwnPostgres(dir, await freePort(), bin);
    await pg.as("initdb", ["-D", pg.dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
    await pg.startAgain();
    return pg;
  }

  get dataDir(): string {
    return join(this.dir, "data");
  }

  /** The admin URL (database `postgres`); `url(name)` for another database. */
  url(database = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async startAgain(): Promise<void> {
    await this.as("pg_ctl", [
      "-D",
      this.dataDir,
      "-l",
      join(this.dir, "log"),
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c max_connections=200`,
      "start",
    ]);
  }

  /** Stops at once, as a crash would (no checkpoint; committed work comes back by WAL replay). */
  async crash(): Promise<void> {
    await this.as("pg_ctl", ["-D", this.dataDir, "-m", "immediate", "-w", "stop"]);
  }

  async destroy(): Promise<void> {
    await this.as("pg_ctl", ["-D", this.dataDir, "-m", "immediate", "-w", "stop"]).catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }

  private async as(tool: string, args: string[]): Promise<void> {
    const exe = join(this.bin, tool);
    if (isRoot()) await run("runuser", ["-u", "postgres", "--", exe, ...args], { cwd: this.dir });
    else await run(exe, args, { cwd: this.dir });
  }
}

const isRoot = (): boolean => typeof process.getuid === "function" && process.getuid() === 0;
