/**
 * How a bench runs its main function so that its services, clients and scratch stores are
 * cleaned up exactly once, whoever asks first (a signal, an uncaught error, a deadline, or the
 * end of main); the others wait for that one cleanup. Both helpers end the process.
 */

/** One cleanup promise, shared by every caller. */
function once(cleanup) {
  let cleaning = null;
  return () => {
    cleaning ??= cleanup();
    return cleaning;
  };
}

/**
 * Runs `main` until it ends or a signal stops it: exits 0, 1 on an error, 130 on SIGINT/SIGTERM.
 * `dbName` is named in the message a signal prints.
 */
export async function runInterruptible({ name, main, cleanup, log, dbName }) {
  const cleanOnce = once(cleanup);
  let exitCode = 0;
  let interrupted = false;
  // A closed stdout (`… | head`) must not kill the bench before it stops its services.
  process.stdout.on("error", () => {});
  process.on("uncaughtException", async (err) => {
    if (!interrupted) process.stderr.write(`${name}: ${err.stack ?? err}\n`);
    await cleanOnce();
    process.exit(1);
  });
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, async () => {
      if (interrupted) return;
      interrupted = true;
      log(`\n${signal}: stopping services and clients, dropping ${dbName}`);
      await cleanOnce();
      process.exit(130);
    });
  }
  try {
    await main();
  } catch (err) {
    // After Ctrl-C the clients die with the terminal's SIGINT too: that error is expected, not news.
    if (!interrupted) log(`${name} failed: ${err.stack ?? err}`);
    exitCode = 1;
  } finally {
    await cleanOnce();
  }
  process.exit(interrupted ? 130 : exitCode);
}

/**
 * Runs `main` (which resolves to the exit code) bounded by `deadlineMs`: a signal, an uncaught
 * error or the deadline aborts it, printing `<name>: <why>: stopping <stopping>, dropping <dbName>`.
 */
export async function runWithDeadline({ name, main, cleanup, log, dbName, stopping, deadlineMs }) {
  const cleanOnce = once(cleanup);
  let aborting = false;
  const abort = async (why, code) => {
    aborting = true;
    log(`\n${name}: ${why}: stopping ${stopping}, dropping ${dbName}`);
    await cleanOnce();
    process.exit(code);
  };
  // A closed stdout (`… | head`) must not kill the bench before it stops its services.
  process.stdout.on("error", () => {});
  process.on("uncaughtException", (err) => abort(`${err.stack ?? err}`, 1));
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => abort(signal, 130));
  // Bounded in time whatever hangs (a gateway that never answers, a client that never reports).
  const deadline = setTimeout(() => abort(`still running after ${deadlineMs / 1000} s`, 1), deadlineMs);

  let exitCode = 1;
  try {
    exitCode = await main();
  } catch (err) {
    // After an abort the clients die under the bench's feet: that error is expected, not news.
    if (!aborting) log(`${name} failed: ${err.stack ?? err}`);
    exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await cleanOnce();
  }
  process.exit(exitCode);
}
