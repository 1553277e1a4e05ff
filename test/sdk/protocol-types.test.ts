import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { CloseCode, SESSION_ENDING_CODES } from "../../packages/client/src/node.js";
import type * as Sdk from "../../packages/client/src/protocol.js";
import type { PushDevice } from "../../packages/client/src/token-store.js";
import type { ClientFrameType, ServerFrameType } from "../../src/protocol/index.js";
import {
  CLIENT_FRAME_TYPES,
  CLOSE_CODES,
  type deviceBodySchema,
  ERROR_CODES,
  SERVER_FRAME_TYPES,
} from "../../src/protocol/index.js";
import type * as P from "../../src/protocol/types.js";

/**
 * The SDK declares its wire types itself (its build must not reach into the
 * server's src/ or ship zod); this file holds them to the server's schemas
 * (src/protocol) at compile time, so `npm run typecheck` fails when the two
 * drift. Server → client: whatever the server sends fits the SDK's type.
 * Client → server: whatever the SDK sends fits the server's schema.
 */
type Fits<A, B> = [A] extends [B] ? true : false;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const check = <T extends true>(): T => true as T;

// Answers and objects the SDK reads.
check<Fits<P.TokenPair, Sdk.TokenPair>>();
check<Fits<P.OtpIssued, Sdk.OtpRequested>>();
check<Fits<P.Session, Sdk.ChatSession>>();
check<Fits<P.Message, Sdk.ChatMessage>>();
check<Fits<P.MessagePage, Sdk.MessagePage>>();
check<Fits<P.PairingStatus, Sdk.PairingState>>();
check<Fits<P.ErrorFrame, Sdk.ErrorFrame>>();
check<Same<P.SessionStatus, Sdk.SessionStatus>>();
check<Same<P.EndReason, Sdk.EndReason>>();
check<Same<P.PairingFailReason, Sdk.PairingFailReason>>();
// The body of POST …/devices (contract §11).
check<Same<PushDevice, z.infer<typeof deviceBodySchema>>>();

// Every server frame but ack/error is an SDK event of the same shape.
check<Same<Exclude<ServerFrameType, "ack" | "error">, Sdk.ServerEventType>>();
type EventsFit = { [T in Sdk.ServerEventType]: Fits<P.ServerFrame<T>, Sdk.ServerEvents[T]> };
check<Same<EventsFit[Sdk.ServerEventType], true>>();

// Every client frame: what the SDK sends is valid, what the ack carries fits the SDK's type.
check<Same<ClientFrameType, Sdk.ClientFrameType>>();
type FramesFit = {
  [T in Sdk.ClientFrameType]: Fits<Sdk.ClientFrames[T]["frame"] & { type: T; id: string }, P.ClientFrame<T>>;
};
// Strict schemas refuse unknown fields: the SDK's frames name exactly the server's fields.
type FrameFieldsSame = {
  [T in Sdk.ClientFrameType]: Same<
    keyof Sdk.ClientFrames[T]["frame"] | "type" | "id",
    keyof P.ClientFrame<T>
  >;
};
check<Same<FrameFieldsSame[Sdk.ClientFrameType], true>>();
check<Same<FramesFit[Sdk.ClientFrameType], true>>();
type AcksFit = { [T in Sdk.ClientFrameType]: Fits<P.ClientFrameAck<T>, Sdk.ClientFrames[T]["ack"]> };
check<Same<AcksFit[Sdk.ClientFrameType], true>>();

describe("the SDK's wire types", () => {
  it("name the same frames, close codes and error codes as the server's protocol module", () => {
    expect(CLIENT_FRAME_TYPES.length).toBe(9);
    expect(SERVER_FRAME_TYPES).toContain("chat.message");
    for (const [name, code] of Object.entries(CLOSE_CODES))
      expect(CloseCode[name as keyof typeof CloseCode], name).toBe(code);
    for (const code of SESSION_ENDING_CODES) expect(Object.keys(ERROR_CODES)).toContain(code);
  });
});
