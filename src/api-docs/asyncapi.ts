import type { z } from "zod";
import {
  ackFrameOf,
  CLIENT_FRAME_TYPES,
  CLOSE_CODES,
  type ClientFrameType,
  clientFrameErrors,
  clientFrames,
  FRAME_ERROR_CODES,
  frameSenders,
  SERVER_FRAME_TYPES,
  type ServerFrameType,
  serverFrameRecipients,
  serverFrames,
  WS_ENDPOINTS,
} from "../protocol/index.js";
import { componentSchemas, inlineSchema, type JsonSchema, ref } from "./json-schema.js";
import { modelNames } from "./models.js";
import { API_VERSION } from "./openapi.js";

type Endpoint = keyof typeof WS_ENDPOINTS;
const CHANNEL_IDS: Record<Endpoint, string> = { "/ws": "publicWs", "/internal/ws": "internalWs" };

/** Message keys: a client frame by its type, its ack as `ack.<type>`, a server frame as `server.<type>`. */
const ackKey = (t: ClientFrameType): string => `ack.${t}`;
const serverKey = (t: ServerFrameType): string => `server.${t}`;
const frameName = (t: string): string =>
  `${t
    .split(/[^A-Za-z0-9]+/)
    .map((w) => (w[0]?.toUpperCase() ?? "") + w.slice(1))
    .join("")}Frame`;

/**
 * The AsyncAPI 3.0 document of the WebSocket frames, both directions, from
 * the gateway's point of view: it `receive`s client frames and `send`s
 * server frames (`npm run docs:api` writes it to docs/api/asyncapi.json).
 */
export function buildAsyncApi(): JsonSchema {
  const named = modelNames();
  for (const t of SERVER_FRAME_TYPES) named.set(serverFrames[t], frameName(t));
  const acks = new Map<ClientFrameType, z.ZodType>();
  for (const t of CLIENT_FRAME_TYPES) {
    const ack = ackFrameOf(t);
    acks.set(t, ack);
    named.set(ack, frameName(ackKey(t)));
  }

  const messages: Record<string, JsonSchema> = {};
  for (const t of CLIENT_FRAME_TYPES) {
    messages[t] = {
      name: t,
      title: `${t} (client → server)`,
      payload: inlineSchema(clientFrames[t], "input", "draft-07"),
      "x-senders": frameSenders[t],
      "x-error-codes": [...new Set([...FRAME_ERROR_CODES, ...clientFrameErrors[t]])],
    };
    messages[ackKey(t)] = { name: "ack", title: `ack of ${t}`, payload: ref(frameName(ackKey(t))) };
  }
  for (const t of SERVER_FRAME_TYPES) {
    messages[serverKey(t)] = {
      name: t,
      title: `${t} (server → client)`,
      payload: ref(frameName(t)),
      "x-recipients": serverFrameRecipients[t],
    };
  }

  const channels: Record<string, JsonSchema> = {};
  const operations: Record<string, JsonSchema> = {};
  for (const [address, endpoint] of Object.entries(WS_ENDPOINTS) as [
    Endpoint,
    (typeof WS_ENDPOINTS)[Endpoint],
  ][]) {
    const id = CHANNEL_IDS[address];
    const users: readonly string[] = endpoint.users;
    const clientTypes = CLIENT_FRAME_TYPES.filter((t) => frameSenders[t].some((u) => users.includes(u)));
    const serverTypes = SERVER_FRAME_TYPES.filter((t) =>
      serverFrameRecipients[t].some((u) => users.includes(u)),
    );
    const channelMessages: Record<string, JsonSchema> = {};
    for (const t of clientTypes) {
      channelMessages[t] = { $ref: `#/components/messages/${t}` };
      channelMessages[ackKey(t)] = { $ref: `#/components/messages/${ackKey(t)}` };
    }
    for (const t of serverTypes)
      channelMessages[serverKey(t)] = { $ref: `#/components/messages/${serverKey(t)}` };
    channels[id] = {
      address,
      title: address,
      description:
        `Opened by: ${users.join(", ")}. Text frames of JSON, at most 16 KiB (larger: close 1009). ` +
        "The access token goes in `Authorization: Bearer` or `?access_token=`; a refused upgrade is a plain HTTP error. " +
        "A frame with an `id` is answered by an `ack` or an `error` carrying that `id`.",
      servers: [{ $ref: `#/servers/${endpoint.listener}` }],
      messages: channelMessages,
      "x-close-codes": CLOSE_CODES,
    };
    const channelRef = { $ref: `#/channels/${id}` };
    const msg = (key: string) => ({ $ref: `#/channels/${id}/messages/${key}` });
    for (const t of clientTypes) {
      operations[`${id}.receive.${t}`] = {
        action: "receive",
        channel: channelRef,
        summary: `${t} from a ${frameSenders[t].filter((u) => users.includes(u)).join(" or ")}`,
        messages: [msg(t)],
        reply: { channel: channelRef, messages: [msg(ackKey(t)), msg(serverKey("error"))] },
      };
    }
    for (const t of serverTypes) {
      if (t === "ack") continue; // sent only as a reply, above
      operations[`${id}.send.${t}`] = { action: "send", channel: channelRef, messages: [msg(serverKey(t))] };
    }
  }

  return {
    asyncapi: "3.0.0",
    info: {
      title: "halo-gateway WebSocket frames",
      version: API_VERSION,
      description:
        "Generated from src/protocol by `npm run docs:api`; do not edit by hand. A client frame is " +
        '`{"type","id"?,…}` with its fields flat beside `type`. The HTTP routes are in openapi.json.',
    },
    defaultContentType: "application/json",
    servers: {
      public: {
        host: "localhost:8080",
        protocol: "ws",
        description: "public listener (PUBLIC_PORT)",
        security: [
          { $ref: "#/components/securitySchemes/bearer" },
          { $ref: "#/components/securitySchemes/query" },
        ],
      },
      internal: {
        host: "127.0.0.1:8081",
        protocol: "ws",
        description: "internal listener (INTERNAL_PORT)",
        security: [
          { $ref: "#/components/securitySchemes/bearer" },
          { $ref: "#/components/securitySchemes/query" },
        ],
      },
    },
    channels,
    operations,
    components: {
      schemas: componentSchemas(named, "output", "draft-07"),
      messages,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
        query: { type: "httpApiKey", name: "access_token", in: "query" },
      },
    },
  };
}
