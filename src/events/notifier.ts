import type { UserType } from "../auth/user-types.js";

/** A server → client frame: `type` plus its fields, flat (contract §4). */
export type OutFrame = { type: string } & Record<string, unknown>;

/** Delivers a frame to every socket of a user, on whatever process it is connected to. */
export type Deliver = (userType: UserType, userId: string, frame: OutFrame) => Promise<void>;

/** Sees every frame given to the notifier (push delivery); runs synchronously, so it must only hand work off. */
export type FrameObserver = (userType: UserType, userId: string, frame: OutFrame) => void;

/**
 * The core's port for pushing frames to users (pairing offers, session
 * updates, chat messages). The core only knows this interface; the WebSocket
 * layer attaches the real delivery (cross-process fan-out) when it starts.
 * Before that, or without sockets at all, frames go nowhere: every frame is
 * also recoverable by a read (GET pairing, sessions, messages?after=).
 */
export class Notifier {
  private deliver: Deliver | undefined;
  private readonly observers: FrameObserver[] = [];

  attach(deliver: Deliver): void {
    this.deliver = deliver;
  }

  /** Adds a second listener beside delivery (push to devices of users with no socket, contract §11). */
  observe(observer: FrameObserver): void {
    this.observers.push(observer);
  }

  /** Never throws: a frame that cannot be delivered is caught up by the client's next read. */
  async toUser(userType: UserType, userId: string, frame: OutFrame): Promise<void> {
    for (const observe of this.observers) {
      try {
        observe(userType, userId, frame);
      } catch {
        // An observer's failure is its own: the frame still goes out.
      }
    }
    try {
      await this.deliver?.(userType, userId, frame);
    } catch {
      // Fan-out already logs and falls back to local delivery.
    }
  }
}
