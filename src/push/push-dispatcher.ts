import type { UserType } from "../auth/user-types.js";
import type { OutFrame } from "../events/notifier.js";
import type { Logger } from "../log.js";
import { isPushUser, type PushDevices, type PushQueue, type PushUserType } from "./push-queue.js";

/** The frames that become a push when their user has no socket anywhere (contract §11). */
export const PUSHED_FRAME_TYPES: ReadonlySet<string> = new Set([
  "pairing.offer",
  "pairing.matched",
  "session.updated",
  "chat.message",
]);

/**
 * Chat text in a preview, at most (characters): FCM refuses a message over
 * 4 KiB, and a chat message may be 4,000 characters of up to 4 bytes each.
 */
export const PREVIEW_CHARS = 500;

export interface PushDispatcherDeps {
  reachability: { isReachable(userType: UserType, userId: string): Promise<boolean> };
  devices: Pick<PushDevices, "devicesOf">;
  queue: Pick<PushQueue, "enqueue">;
  /** app_config `push_chat_preview` (read through its short cache). */
  chatPreview: () => Promise<boolean>;
  log: Logger;
}

/**
 * Watches every frame given to the Notifier: a frame of a pushed type for a
 * user with no socket on any process becomes one data-only push per device
 * of that user. The frame's own delivery never waits for this and never sees
 * its errors; the push carries ids only (the app reconnects and reads the
 * content), plus chat text when the operators turned the preview on.
 */
export class PushDispatcher {
  constructor(private readonly d: PushDispatcherDeps) {}

  /** The Notifier's observer: synchronous, hands the work off at once. */
  readonly observe = (userType: UserType, userId: string, frame: OutFrame): void => {
    if (!PUSHED_FRAME_TYPES.has(frame.type) || !isPushUser(userType)) return;
    this.dispatch(userType, userId, frame).catch((err: Error) =>
      this.d.log.warn({ err: err.message, type: frame.type }, "push dispatch failed"),
    );
  };

  private async dispatch(userType: PushUserType, userId: string, frame: OutFrame): Promise<void> {
    // Reachability first: most frames go to users with a socket, who need no Postgres read.
    if (await this.d.reachability.isReachable(userType, userId)) return;
    const devices = await this.d.devices.devicesOf(userType, userId);
    if (devices.length === 0) return;
    const preview = frame.type === "chat.message" && (await this.d.chatPreview());
    const data = payloadOf(frame, preview);
    if (!data) return;
    for (const dev of devices)
      this.d.queue.enqueue(userId, { platform: dev.platform, token: dev.token, data });
  }
}

/**
 * The data-only payload (string values, as FCM requires): the frame's type
 * and the ids the app reads the content by; nothing about the other party.
 * Undefined for a frame missing its ids (never sent half a push).
 */
export function payloadOf(frame: OutFrame, chatPreview: boolean): Record<string, string> | undefined {
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const field = (o: unknown, k: string): string | undefined =>
    typeof o === "object" && o !== null ? str((o as Record<string, unknown>)[k]) : undefined;
  const data: Record<string, string | undefined> = { type: frame.type };
  switch (frame.type) {
    case "pairing.offer":
      data.requestId = str(frame.requestId);
      data.expiresAt = str(frame.expiresAt);
      break;
    case "pairing.matched":
      data.requestId = str(frame.requestId);
      data.sessionId = str(frame.sessionId);
      break;
    case "session.updated":
      data.sessionId = field(frame.session, "id");
      break;
    case "chat.message": {
      data.sessionId = field(frame.message, "sessionId");
      data.messageId = field(frame.message, "id");
      const text = field(frame.message, "text");
      if (chatPreview && text !== undefined) data.text = [...text].slice(0, PREVIEW_CHARS).join("");
      break;
    }
    default:
      return undefined;
  }
  if (Object.values(data).some((v) => v === undefined)) return undefined;
  return data as Record<string, string>;
}
