import { expect } from "vitest";
import {
  ackFrameOf,
  type ClientFrameType,
  ERROR_CODES,
  type ErrorCode,
  frameIdSchema,
  type ServerFrameType,
  serverFrames,
} from "../../src/protocol/index.js";
import type { Schema } from "./json-schema-arbitrary.js";
import type { Frame } from "./ws-client.js";

/** Client frames read from an AsyncAPI document, and the judgement of what the gateway answers. */

/** A client frame message of the AsyncAPI document. */
export interface FrameMessage {
  name: ClientFrameType;
  payload: Schema;
  "x-senders": ("customer" | "mitra" | "cc")[];
  "x-error-codes": ErrorCode[];
}

/** Every client frame the gateway receives, by channel address. */
export function clientFrameMessagesOf(
  asyncapi: Schema,
): { channel: string; address: string; message: FrameMessage }[] {
  const messages = (asyncapi.components as { messages: Record<string, FrameMessage> }).messages;
  const channels = asyncapi.channels as Record<
    string,
    { address: string; messages: Record<string, { $ref: string }> }
  >;
  const ops = asyncapi.operations as Record<
    string,
    { action: string; channel: { $ref: string }; messages: { $ref: string }[] }
  >;
  return Object.values(ops)
    .filter((op) => op.action === "receive")
    .map((op) => {
      const channel = op.channel.$ref.split("/").pop() as string;
      const key = (op.messages[0] as { $ref: string }).$ref.split("/").pop() as string;
      const ref = (channels[channel] as { messages: Record<string, { $ref: string }> }).messages[key] as {
        $ref: string;
      };
      return {
        channel,
        address: (channels[channel] as { address: string }).address,
        message: messages[ref.$ref.split("/").pop() as string] as FrameMessage,
      };
    });
}

/** Every frame a fuzzed socket receives must be one the document describes, in its documented shape. */
export function checkServerFrame(f: Frame): void {
  const schema = serverFrames[f.type as ServerFrameType];
  if (!schema) throw new Error(`an undocumented server frame: ${JSON.stringify(f).slice(0, 300)}`);
  if (f.type === "ack") return; // checked against its request's ack schema
  const parsed = schema.safeParse(f);
  if (!parsed.success)
    throw new Error(`${f.type} off its schema: ${parsed.error.message} ${JSON.stringify(f)}`);
  expect(parsed.data).toEqual(f);
}

/** An answer to a frame with our id: its documented ack, or a declared contract error carrying the id. */
export function checkFrameAnswer(message: FrameMessage, answer: Frame, sent: string): void {
  const what = `${message.name}: ${sent.slice(0, 300)} → ${JSON.stringify(answer).slice(0, 300)}`;
  if (answer.type === "ack") {
    const parsed = ackFrameOf(message.name).safeParse(answer);
    if (!parsed.success) throw new Error(`ack off its schema: ${parsed.error.message} ${what}`);
    expect(parsed.data, what).toEqual(answer);
    return;
  }
  const code = answer.code as ErrorCode;
  if (!ERROR_CODES[code]) throw new Error(`not a contract code: ${what}`);
  if (code === "INTERNAL") throw new Error(`an internal error: ${what}`);
  if (!message["x-error-codes"].includes(code))
    throw new Error(`${code} is not declared for the frame: ${what}`);
  expect(frameIdSchema.safeParse(answer.id).success, what).toBe(true);
}
