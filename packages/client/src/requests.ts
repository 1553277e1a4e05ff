import { ClientCode, errorFromBody, HaloError } from "./errors.js";

export type Answer = Record<string, unknown>;

interface Pending {
  id: string;
  frame: Record<string, unknown>;
  sent: boolean;
  resolve: (answer: Answer) => void;
  reject: (error: HaloError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Frames waiting for their `ack` or `error`, by id. A frame made while the
 * socket is down waits here unsent and goes out, in order, at the next
 * `hello`; a frame already sent when the socket closes fails with
 * CONNECTION_LOST (the server may or may not have run it: callers retry
 * idempotent frames with the same key). Every frame has a deadline.
 */
export class RequestTable {
  private seq = 0;
  private readonly byId = new Map<string, Pending>();

  /** Registers a frame; `id` is set on it. The promise settles with the ack's fields or a HaloError. */
  create(frame: Record<string, unknown>, timeoutMs: number): { id: string; answer: Promise<Answer> } {
    const id = `c${++this.seq}`;
    const answer = new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.byId.delete(id);
        reject(new HaloError(ClientCode.timeout, `No answer to ${String(frame.type)} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.byId.set(id, { id, frame: { ...frame, id }, sent: false, resolve, reject, timer });
    });
    return { id, answer };
  }

  /** Frames not sent yet, oldest first. */
  unsent(): { id: string; frame: Record<string, unknown> }[] {
    return [...this.byId.values()].filter((p) => !p.sent);
  }

  markSent(id: string): void {
    const p = this.byId.get(id);
    if (p) p.sent = true;
  }

  /** An `ack` or `error` frame with an id of ours; false when it answers nothing we wait for. */
  answer(frame: Answer): boolean {
    const id = typeof frame.id === "string" ? frame.id : undefined;
    const p = id === undefined ? undefined : this.byId.get(id);
    if (!p) return false;
    this.byId.delete(p.id);
    clearTimeout(p.timer);
    if (frame.type === "ack") {
      const { type: _type, id: _id, ...fields } = frame;
      p.resolve(fields);
    } else {
      p.reject(errorFromBody(frame));
    }
    return true;
  }

  /** The socket closed: frames that went out get CONNECTION_LOST; unsent ones wait for the next socket. */
  connectionLost(): void {
    for (const p of [...this.byId.values()])
      if (p.sent)
        this.fail(
          p,
          new HaloError(ClientCode.connectionLost, `The socket closed before ${p.frame.type} was answered`),
        );
  }

  /** Fails every frame (the socket stopped for good). */
  failAll(error: HaloError): void {
    for (const p of [...this.byId.values()]) this.fail(p, error);
  }

  private fail(p: Pending, error: HaloError): void {
    this.byId.delete(p.id);
    clearTimeout(p.timer);
    p.reject(error);
  }
}
