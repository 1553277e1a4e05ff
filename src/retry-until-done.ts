import type { Logger } from "./log.js";

/**
 * Runs a start-up task now; if it fails (Postgres down at start), logs it and
 * retries every `everyMs` in the background until it succeeds, so the
 * process still starts and answers /readyz with 503. Returns a stop function.
 */
export async function retryUntilDone(
  name: string,
  task: () => Promise<unknown>,
  log: Logger,
  everyMs = 2000,
): Promise<() => void> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = async (): Promise<boolean> => {
    try {
      await task();
      return true;
    } catch (err) {
      log.warn(
        { err: (err as Error).message, task: name },
        "start-up task failed; retrying in the background",
      );
      return false;
    }
  };
  const again = (): void => {
    timer = setTimeout(async () => {
      if (!stopped && !(await attempt()) && !stopped) again();
    }, everyMs);
    timer.unref();
  };
  if (!(await attempt())) again();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
