/**
 * `p`'s outcome, or, when it has not settled within `ms`, what `late()`
 * returns (or throws). The timer is cleared as soon as `p` settles, so a
 * race that was won leaves nothing behind.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, late: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      try {
        resolve(late());
      } catch (err) {
        reject(err);
      }
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** A `late` for withTimeout that fails the race with this message. */
export const timeoutError = (message: string) => (): never => {
  throw new Error(message);
};
