import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Parser } from "@asyncapi/parser";
import { validate } from "@readme/openapi-parser";
import { describe, expect, expectTypeOf, it } from "vitest";
import { buildAsyncApi } from "../src/api-docs/asyncapi.js";
import { buildOpenApi, openApiPath } from "../src/api-docs/openapi.js";
import type { TokenPair as CoreTokenPair } from "../src/auth/auth-service.js";
import type { OtpIssued as CoreOtpIssued } from "../src/auth/otp.js";
import type { DashboardCounts as CoreCounts } from "../src/mirror/dashboard-counts.js";
import type { MitraItem as CoreMitraItem } from "../src/mirror/mitra-admin.js";
import type { PairingView } from "../src/pairing/pairing-store.js";
import * as protocol from "../src/protocol/index.js";
import { ERROR_CODES, type ErrorCode } from "../src/protocol/index.js";
import type { MessageView } from "../src/sessions/message-store.js";
import type { SessionView } from "../src/sessions/session-store.js";
import type { VerificationView } from "../src/verification/verifications.js";
import { clientFrames as handledFrames } from "../src/ws/frame-schemas.js";
import { anonymousCustomer } from "./support/auth.js";
import type { TestGateway } from "./support/gateway.js";
import { mitraToken, seedMitra } from "./support/mitras.js";
import { useGateways } from "./support/setup.js";
import { WsClient, wsUrl } from "./support/ws-client.js";

const ctx = useGateways({ env: { ENABLE_TEST_ROUTES: "true" } });
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

type Doc = Record<string, unknown> & {
  paths: Record<string, Record<string, unknown>>;
  channels: Record<string, { address: string; messages: Record<string, unknown> }>;
  components: { messages: Record<string, { name: string; "x-senders"?: string[] }> };
};

const checkedIn = (name: string): Doc =>
  JSON.parse(readFileSync(new URL(`../docs/api/${name}`, import.meta.url), "utf8")) as Doc;
const openapi = (): Doc => buildOpenApi() as Doc;
const asyncapi = (): Doc => buildAsyncApi() as Doc;

describe("the API documents", () => {
  it("the OpenAPI document is valid OpenAPI 3.1 for @readme/openapi-parser", async () => {
    const result = await validate(structuredClone(openapi()) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it("the AsyncAPI document is valid AsyncAPI 3.0 for @asyncapi/parser, without errors or warnings", async () => {
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(asyncapi()));
    // Severity 0 is an error, 1 a warning; 2 (information) only says that AsyncAPI 3.1 exists.
    const problems = diagnostics
      .filter((d) => d.severity < 2)
      .map((d) => `${d.path.join("/")}: ${d.message}`);
    expect(problems).toEqual([]);
    expect(document).toBeDefined();
  });

  it("the checked-in documents are the generated ones (run `npm run docs:api` after changing src/protocol)", () => {
    expect(checkedIn("openapi.json")).toEqual(openapi());
    expect(checkedIn("asyncapi.json")).toEqual(asyncapi());
  });

  it("the internal listener serves the same documents at /internal/docs/", async () => {
    for (const [name, doc] of [
      ["openapi.json", openapi()],
      ["asyncapi.json", asyncapi()],
    ] as const) {
      const res = await fetch(`${gw().internalUrl}/internal/docs/${name}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(await res.json()).toEqual(doc);
    }
    // The public listener does not serve them.
    expect((await fetch(`${gw().publicUrl}/internal/docs/openapi.json`)).status).toBe(404);
  });
});

describe("completeness against the running gateway", () => {
  it("every route the gateway serves is in the OpenAPI document, on its listener, and nothing else is", () => {
    const doc = openapi();
    const documented = (listener: string): string[] =>
      Object.entries(doc.paths).flatMap(([path, item]) => {
        const url = (item.servers as { url: string }[])[0]?.url ?? "";
        const onListener = listener === "internal" ? url.endsWith(":8081") : url.endsWith(":8080");
        return onListener
          ? Object.keys(item)
              .filter((k) => k !== "servers")
              .map((m) => `${m.toUpperCase()} ${path}`)
          : [];
      });
    const served = gw().gateway.routes();
    for (const listener of ["public", "internal"] as const) {
      const routes = served[listener].map((r) => `${r.method} ${openApiPath(r.pattern)}`).sort();
      expect({ listener, routes }).toEqual({ listener, routes: documented(listener).sort() });
    }
  });

  it("every client frame the server handles is in the AsyncAPI document, with the user types that may send it", () => {
    const messages = asyncapi().components.messages;
    for (const type of Object.keys(handledFrames)) {
      expect(messages[type], type).toBeDefined();
      expect(messages[type]?.["x-senders"]).toEqual(protocol.frameSenders[type as protocol.ClientFrameType]);
    }
  });

  it("every documented client frame is known to the server, and an undocumented type is UNKNOWN_TYPE", async () => {
    const documented = Object.values(asyncapi().components.messages)
      .filter((m) => m["x-senders"])
      .map((m) => m.name);
    expect(documented.sort()).toEqual(Object.keys(handledFrames).sort());
    const pair = await anonymousCustomer(gw().publicUrl);
    const mitraId = await seedMitra(gw().pool);
    const sockets = {
      customer: await WsClient.connect(wsUrl(gw().publicUrl, "/ws"), { token: pair.accessToken }),
      mitra: await WsClient.connect(wsUrl(gw().publicUrl, "/ws"), { token: await mitraToken(gw(), mitraId) }),
    };
    try {
      for (const type of documented) {
        const answer = await sockets.mitra.request({ type });
        expect({ type, code: answer.code }).not.toEqual({ type, code: "UNKNOWN_TYPE" });
      }
      const unknown = await sockets.customer.request({ type: "pairing.sneak" });
      expect(unknown.code).toBe("UNKNOWN_TYPE");
    } finally {
      await Promise.all(Object.values(sockets).map((s) => s.close()));
    }
  });

  it("every frame type the server code sends is described in the AsyncAPI document", () => {
    const described = new Set(Object.values(asyncapi().components.messages).map((m) => m.name));
    const sent = new Set<string>();
    for (const file of sourceFiles(["src/ws", "src/pairing", "src/sessions", "src/events"])) {
      // Frames are objects with a `type`; metric labels (`{ type: "bad" }`) are not frames.
      const text = readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => !line.includes("metrics."))
        .join("\n");
      for (const m of text.matchAll(/(?<!\w)type: "([a-z]+(?:\.[a-z]+)?)"/g)) sent.add(m[1] as string);
      for (const m of text.matchAll(/'\{"type":"([a-z.]+)"\}'/g)) sent.add(m[1] as string);
    }
    expect(sent.size).toBeGreaterThan(8);
    expect([...sent].filter((t) => !described.has(t))).toEqual([]);
  });
});

describe("the error codes", () => {
  it("every AppError the server throws carries a protocol code with the protocol's status", () => {
    const thrown: string[] = [];
    for (const file of sourceFiles(["src"])) {
      for (const m of readFileSync(file, "utf8").matchAll(/new AppError\(\s*"([A-Z_]+)",\s*(\d+)/g)) {
        const [, code, status] = m as unknown as [string, string, string];
        if (ERROR_CODES[code as ErrorCode]?.status !== Number(status))
          thrown.push(`${code} ${status} in ${file}`);
      }
    }
    expect(thrown).toEqual([]);
  });

  it("every code docs/ names in backticks as UPPER_SNAKE and the contract lists is in the protocol", () => {
    const docs = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
    const named = [...docs.matchAll(/\| \d{3} \| ([^|]+) \|/g)].flatMap((m) =>
      [...(m[1] as string).matchAll(/`([A-Z_]+)`/g)].map((c) => c[1] as string),
    );
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((c) => !(c in ERROR_CODES))).toEqual([]);
  });
});

describe("the protocol's answer types", () => {
  it("match the types the core answers with", () => {
    expectTypeOf<SessionView>().toEqualTypeOf<protocol.Session>();
    expectTypeOf<MessageView>().toEqualTypeOf<protocol.Message>();
    expectTypeOf<CoreCounts>().toEqualTypeOf<protocol.DashboardCounts>();
    expectTypeOf<CoreMitraItem>().toEqualTypeOf<protocol.MitraItem>();
    expectTypeOf<CoreOtpIssued>().toEqualTypeOf<protocol.OtpIssued>();
    // The core keeps these looser than the wire (a user view is an open record; reasons are strings).
    expectTypeOf<protocol.TokenPair>().toExtend<CoreTokenPair>();
    expectTypeOf<protocol.PairingStatus>().toExtend<PairingView>();
    expectTypeOf<protocol.Verification>().toEqualTypeOf<VerificationView>();
  });
});

function sourceFiles(dirs: string[]): string[] {
  const root = new URL("..", import.meta.url).pathname;
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) out.push(p);
    }
  };
  for (const d of dirs) walk(join(root, d));
  return out;
}
