import { randomInt } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousCustomer } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_URL } from "./support/env.js";
import { startTestGateway, TestClock, type TestGateway } from "./support/gateway.js";
import {
  ADMIN_ENV,
  call,
  e164,
  mitraState,
  newMitraPhone,
  operatorToken,
  type Reply,
  type SignedInMitra,
  signedInMitra,
} from "./support/people.js";
import { testPrefix } from "./support/valkey.js";

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ITEM_KEYS = [
  "available",
  "capacity",
  "displayName",
  "heartbeatAgeSeconds",
  "id",
  "isActive",
  "maxConcurrentSessions",
  "online",
  "phone",
  "verifiedAt",
];

let db: TestDatabase;
let gw: TestGateway;
let cc: string;
let customerToken: string;
let customerId: string;
const clock = new TestClock();

beforeAll(async () => {
  db = await createTestDatabase();
  gw = await startTestGateway({
    databaseUrl: db.url,
    valkeyUrl: TEST_VALKEY_URL,
    prefix: testPrefix(),
    now: clock.now,
    env: { ENABLE_TEST_ROUTES: "true", TRUST_PROXY: "true", ...ADMIN_ENV },
  });
  const [token, customer] = await Promise.all([operatorToken(gw), anonymousCustomer(gw.publicUrl)]);
  cc = token;
  customerToken = customer.accessToken;
  customerId = customer.user.id;
});
afterAll(async () => {
  await gw?.close();
  await db?.drop();
});

/** A word no other test's mitra carries in its name, to scope a list to one test. */
const newTag = (): string => `Tag${randomInt(0, 1e9).toString(36)}`;

const internal = (path: string, opts: Parameters<typeof call>[1] = {}): Promise<Reply> =>
  call(`${gw.internalUrl}${path}`, { token: cc, ...opts });
const createMitra = (body: unknown): Promise<Reply> => internal("/internal/mitras", { method: "POST", body });
const patchMitra = (id: string, body: unknown): Promise<Reply> =>
  internal(`/internal/mitras/${id}`, { method: "PATCH", body });
const list = (query: Record<string, string | number>): Promise<Reply> =>
  internal(
    `/internal/mitras?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`,
  );
const goOnline = (m: SignedInMitra) =>
  call(`${gw.publicUrl}/api/mitra/status/online`, { method: "POST", token: m.accessToken });
const goOffline = (m: SignedInMitra) =>
  call(`${gw.publicUrl}/api/mitra/status/offline`, { method: "POST", token: m.accessToken });
const errorOf = (r: Reply) => ({ status: r.status, code: r.body?.error?.code });

async function created(displayName: string, extra: Record<string, unknown> = {}) {
  const res = await createMitra({ phone: newMitraPhone(), displayName, ...extra });
  expect(res.status).toBe(201);
  return res.body as { id: string; phone: string; displayName: string };
}

/** An open chat session of the mitra in Postgres, and its capacity in the mirror (as the session code keeps it). */
async function openSession(mitraId: string, status: "active" | "pending_payment" | "ended" = "active") {
  await gw.pool.query("INSERT INTO chat_sessions (customer_id, mitra_id, status) VALUES ($1, $2, $3)", [
    customerId,
    mitraId,
    status,
  ]);
  const { rows } = await gw.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM chat_sessions WHERE mitra_id = $1 AND status IN ('active', 'pending_payment')",
    [mitraId],
  );
  await gw.valkey?.set(gw.gateway.services.keys.mitraCapacity(mitraId), String(rows[0]?.n ?? 0));
}

/** Every page of a listing, following nextCursor. */
async function walk(query: Record<string, string | number>): Promise<{ ids: string[]; pages: number[] }> {
  const ids: string[] = [];
  const pages: number[] = [];
  let cursor: string | null = null;
  do {
    const res = await list({ ...query, ...(cursor ? { cursor } : {}) });
    expect(res.status).toBe(200);
    ids.push(...res.body.items.map((i: { id: string }) => i.id));
    pages.push(res.body.items.length);
    cursor = res.body.nextCursor;
    expect(pages.length).toBeLessThan(100);
  } while (cursor);
  return { ids, pages };
}

describe("creating a mitra", () => {
  it("answers 201 with the item, the phone in E.164, and mirrors its limit to Valkey", async () => {
    const phone = newMitraPhone();
    const res = await createMitra({ phone, displayName: "Sri Wahyuni", maxConcurrentSessions: 3 });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      phone: e164(phone),
      displayName: "Sri Wahyuni",
      isActive: true,
      online: false,
      available: false,
      heartbeatAgeSeconds: null,
      capacity: 0,
      maxConcurrentSessions: 3,
      verifiedAt: null,
    });
    const s = await mitraState(gw, res.body.id);
    expect(s.postgres).toEqual({ online: false, active: true, heartbeatAt: null, max: 3 });
    expect(s.valkey).toEqual({ online: false, deactivated: false, heartbeat: null, max: "3", capacity: "0" });
  });

  it("allows one concurrent session when no limit is given", async () => {
    const m = await created("Default Limit");
    expect((await mitraState(gw, m.id)).valkey.max).toBe("1");
  });

  it("refuses the same number in any other form with PHONE_TAKEN", async () => {
    const national = newMitraPhone();
    expect((await createMitra({ phone: national, displayName: "First" })).status).toBe(201);
    const international = e164(national);
    for (const phone of [
      national,
      international,
      international.slice(1),
      `${national.slice(0, 4)}-${national.slice(4)}`,
    ]) {
      expect({ phone, ...errorOf(await createMitra({ phone, displayName: "Second" })) }).toEqual({
        phone,
        status: 409,
        code: "PHONE_TAKEN",
      });
    }
    const { rows } = await gw.pool.query("SELECT 1 FROM mitras WHERE phone = $1", [international]);
    expect(rows).toHaveLength(1);
  });

  it("refuses a string that is no phone number with INVALID_PHONE", async () => {
    for (const phone of [
      "",
      "12",
      "0812",
      "not a phone",
      "+62 812 abc 4567",
      "0812345678901234567890",
      "\u0000",
    ]) {
      expect({ phone, ...errorOf(await createMitra({ phone, displayName: "X" })) }).toEqual({
        phone,
        status: 400,
        code: "INVALID_PHONE",
      });
    }
  });

  it("refuses bad types, missing, unknown and oversized fields with VALIDATION_FAILED naming the field", async () => {
    const phone = newMitraPhone();
    const cases: [unknown, string][] = [
      [{ phone: 812345678901, displayName: "X" }, "phone"],
      [{ displayName: "X" }, "phone"],
      [{ phone }, "displayName"],
      [{ phone, displayName: "" }, "displayName"],
      [{ phone, displayName: "   " }, "displayName"],
      [{ phone, displayName: "x".repeat(81) }, "displayName"],
      [{ phone, displayName: ["X"] }, "displayName"],
      [{ phone, displayName: "Nul\u0000Byte" }, "displayName"],
      [{ phone: "0".repeat(41), displayName: "X" }, "phone"],
      [{ phone, displayName: "X", maxConcurrentSessions: 0 }, "maxConcurrentSessions"],
      [{ phone, displayName: "X", maxConcurrentSessions: 101 }, "maxConcurrentSessions"],
      [{ phone, displayName: "X", maxConcurrentSessions: 1.5 }, "maxConcurrentSessions"],
      [{ phone, displayName: "X", maxConcurrentSessions: "2" }, "maxConcurrentSessions"],
      [{ phone, displayName: "X", maxConcurrentSessions: null }, "maxConcurrentSessions"],
      [{ phone, displayName: "X", isActive: false }, ""],
    ];
    for (const [body, path] of cases) {
      const res = await createMitra(body);
      expect({ body, ...errorOf(res) }).toEqual({ body, status: 400, code: "VALIDATION_FAILED" });
      const paths = res.body.error.issues.map((i: { path: string }) => i.path);
      expect({ body, paths }).toEqual({ body, paths: expect.arrayContaining([path]) });
    }
    expect((await gw.pool.query("SELECT 1 FROM mitras WHERE phone = $1", [e164(phone)])).rows).toHaveLength(
      0,
    );
  });

  it("refuses a body that is not a JSON object, and one over 64 KiB, never with a 500", async () => {
    for (const raw of ["{", "[]", "null", "42", '"phone"', '{"phone":"0812"', "\u0000", "{}"]) {
      const res = await internal("/internal/mitras", { method: "POST", raw });
      expect({ raw, ...errorOf(res) }).toEqual({ raw, status: 400, code: "VALIDATION_FAILED" });
    }
    const big = JSON.stringify({ phone: newMitraPhone(), displayName: "x".repeat(70 * 1024) });
    expect(errorOf(await internal("/internal/mitras", { method: "POST", raw: big }))).toEqual({
      status: 413,
      code: "PAYLOAD_TOO_LARGE",
    });
  });

  it("stores hostile names exactly as given", async () => {
    for (const displayName of [
      "Robert'); DROP TABLE mitras;--",
      "<script>alert(1)</script>",
      "مرحبا \u202e reversed",
      "🙂 Siti 🙂",
      "100% _real_ \\escaped\\",
    ]) {
      const m = await created(displayName);
      expect(m.displayName).toBe(displayName);
      const again = await list({ q: displayName });
      expect(again.status).toBe(200);
      expect(again.body.items.map((i: { id: string }) => i.id)).toContain(m.id);
    }
  });
});

describe("changing a mitra", () => {
  it("renames it and changes its limit in Postgres and Valkey", async () => {
    const m = await created("Before");
    const res = await patchMitra(m.id, { displayName: "After", maxConcurrentSessions: 4 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: m.id,
      displayName: "After",
      maxConcurrentSessions: 4,
      isActive: true,
    });
    expect(Object.keys(res.body).sort()).toEqual(ITEM_KEYS);
    const s = await mitraState(gw, m.id);
    expect(s.postgres.max).toBe(4);
    expect(s.valkey.max).toBe("4");

    const unchanged = await patchMitra(m.id, {});
    expect(unchanged.status).toBe(200);
    expect(unchanged.body).toEqual(res.body);
  });

  it("deactivating takes the mitra offline in both stores, marks it deactivated and revokes its sessions", async () => {
    const m = await signedInMitra(gw);
    expect((await goOnline(m)).status).toBe(200);
    const res = await patchMitra(m.id, { isActive: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: m.id, isActive: false, online: false, available: false });

    const s = await mitraState(gw, m.id);
    expect(s.postgres).toMatchObject({ online: false, active: false });
    expect(s.valkey).toMatchObject({ online: false, deactivated: true });
    const open = await gw.pool.query(
      "SELECT 1 FROM auth_sessions WHERE user_type = 'mitra' AND user_id = $1 AND revoked_at IS NULL",
      [m.id],
    );
    expect(open.rows).toHaveLength(0);
    const me = await call(`${gw.publicUrl}/api/mitra/auth/me`, { token: m.accessToken });
    expect(errorOf(me)).toEqual({ status: 401, code: "SESSION_REVOKED" });
    const refresh = await call(`${gw.publicUrl}/api/shared/auth/refresh`, {
      body: { refreshToken: m.refreshToken },
    });
    expect(refresh.status).toBeGreaterThanOrEqual(401);
    expect(refresh.status).toBeLessThanOrEqual(403);
  });

  it("activating brings the mitra back: out of the deactivated set, able to sign in and go online", async () => {
    const m = await signedInMitra(gw);
    await patchMitra(m.id, { isActive: false });
    const res = await patchMitra(m.id, { isActive: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ isActive: true, online: false });
    const s = await mitraState(gw, m.id);
    expect(s.postgres).toMatchObject({ online: false, active: true });
    expect(s.valkey).toMatchObject({ online: false, deactivated: false });

    clock.advance(61_000); // past the phone's resend cooldown, to sign in again
    const again = await signedInMitra(gw, { phone: m.phone });
    expect(again.id).toBe(m.id);
    expect((await goOnline(again)).status).toBe(200);
    expect((await mitraState(gw, m.id)).valkey.online).toBe(true);
  });

  it("answers 404 for an unknown id, an id that is no UUID, and a malformed path", async () => {
    for (const id of ["00000000-0000-0000-0000-000000000000", "abc", "1", "x'%20OR%201=1--", "%ZZ"]) {
      expect({ id, ...errorOf(await patchMitra(id, { displayName: "X" })) }).toEqual({
        id,
        status: 404,
        code: "NOT_FOUND",
      });
    }
  });

  it("refuses bad fields and bodies with VALIDATION_FAILED, over 64 KiB with 413, and changes nothing", async () => {
    const m = await created("Stays");
    const cases: [unknown, string][] = [
      [{ isActive: "false" }, "isActive"],
      [{ isActive: 0 }, "isActive"],
      [{ isActive: null }, "isActive"],
      [{ maxConcurrentSessions: 0 }, "maxConcurrentSessions"],
      [{ maxConcurrentSessions: 1e9 }, "maxConcurrentSessions"],
      [{ displayName: "" }, "displayName"],
      [{ displayName: 5 }, "displayName"],
      [{ displayName: "a\u0000b" }, "displayName"],
      [{ phone: newMitraPhone() }, ""],
      [{ displayName: "Changed", bogus: true }, ""],
    ];
    for (const [body, path] of cases) {
      const res = await patchMitra(m.id, body);
      expect({ body, ...errorOf(res) }).toEqual({ body, status: 400, code: "VALIDATION_FAILED" });
      const paths = res.body.error.issues.map((i: { path: string }) => i.path);
      expect({ body, paths }).toEqual({ body, paths: expect.arrayContaining([path]) });
    }
    for (const raw of ["{", "[]", "null", "true"]) {
      const res = await internal(`/internal/mitras/${m.id}`, { method: "PATCH", raw });
      expect({ raw, ...errorOf(res) }).toEqual({ raw, status: 400, code: "VALIDATION_FAILED" });
    }
    const big = JSON.stringify({ displayName: "x".repeat(70 * 1024) });
    expect(errorOf(await internal(`/internal/mitras/${m.id}`, { method: "PATCH", raw: big }))).toEqual({
      status: 413,
      code: "PAYLOAD_TOO_LARGE",
    });
    const after = await list({ q: "Stays" });
    expect(after.body.items.find((i: { id: string }) => i.id === m.id)).toMatchObject({
      displayName: "Stays",
      isActive: true,
      maxConcurrentSessions: 1,
    });
  });
});

describe("a mitra's status log", () => {
  it("has one row per change, newest first, and none for a repeated state", async () => {
    const m = await signedInMitra(gw);
    await patchMitra(m.id, { isActive: true }); // already active: no row
    await goOnline(m);
    await goOnline(m);
    await goOffline(m);
    await goOffline(m);
    await goOnline(m);
    await patchMitra(m.id, { isActive: false });
    await patchMitra(m.id, { isActive: false });
    await patchMitra(m.id, { isActive: true });

    const res = await internal(`/internal/mitras/${m.id}/log`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(["items"]);
    expect(res.body.items.map((i: { status: string }) => i.status)).toEqual([
      "activated",
      "deactivated",
      "online",
      "offline",
      "online",
    ]);
    for (const item of res.body.items) expect(Object.keys(item).sort()).toEqual(["at", "status"]);
    const times = res.body.items.map((i: { at: string }) => i.at);
    for (const at of times) expect(at).toMatch(ISO_MS);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it("is empty for a mitra that never changed", async () => {
    const m = await created("Quiet");
    expect((await internal(`/internal/mitras/${m.id}/log`)).body).toEqual({ items: [] });
  });

  it("answers 404 for an unknown mitra or an id that is no UUID", async () => {
    for (const id of ["00000000-0000-0000-0000-000000000000", "not-a-uuid"]) {
      expect(errorOf(await internal(`/internal/mitras/${id}/log`))).toEqual({
        status: 404,
        code: "NOT_FOUND",
      });
    }
  });
});

describe("listing mitras", () => {
  it("shows each mitra as exactly the contract's item, with live heartbeat age and capacity", async () => {
    const tag = newTag();
    const m = await signedInMitra(gw, {
      displayName: `Live ${tag}`,
      verified: true,
      maxConcurrentSessions: 2,
    });
    const itemOf = async () => {
      const res = await list({ q: tag });
      expect(res.status).toBe(200);
      expect(res.body.items).toHaveLength(1);
      expect(Object.keys(res.body.items[0]).sort()).toEqual(ITEM_KEYS);
      return res.body.items[0];
    };
    const offline = await itemOf();
    expect(offline).toEqual({
      id: m.id,
      phone: m.phone,
      displayName: `Live ${tag}`,
      isActive: true,
      online: false,
      available: false,
      heartbeatAgeSeconds: null,
      capacity: 0,
      maxConcurrentSessions: 2,
      verifiedAt: expect.stringMatching(ISO_MS),
    });

    await goOnline(m);
    expect(await itemOf()).toMatchObject({
      online: true,
      available: true,
      heartbeatAgeSeconds: 0,
      capacity: 0,
    });

    clock.advance(30_000);
    await openSession(m.id);
    expect(await itemOf()).toMatchObject({
      online: true,
      available: true,
      heartbeatAgeSeconds: 30,
      capacity: 1,
    });
    await openSession(m.id, "pending_payment");
    expect(await itemOf()).toMatchObject({ online: true, available: false, capacity: 2 });
  });

  it("filters by status: online, offline, available and deactivated", async () => {
    const tag = newTag();
    const free = await signedInMitra(gw, { displayName: `Free ${tag}` });
    const busy = await signedInMitra(gw, { displayName: `Busy ${tag}` });
    const away = await created(`Away ${tag}`);
    const gone = await created(`Gone ${tag}`);
    await goOnline(free);
    await goOnline(busy);
    await openSession(busy.id);
    await patchMitra(gone.id, { isActive: false });

    const idsFor = async (status?: string) => {
      const res = await list({ q: tag, ...(status ? { status } : {}) });
      expect(res.status).toBe(200);
      return res.body.items.map((i: { id: string }) => i.id).sort();
    };
    expect(await idsFor()).toEqual([free.id, busy.id, away.id, gone.id].sort());
    expect(await idsFor("online")).toEqual([free.id, busy.id].sort());
    expect(await idsFor("offline")).toEqual([away.id]);
    expect(await idsFor("available")).toEqual([free.id]);
    expect(await idsFor("deactivated")).toEqual([gone.id]);

    // Across every mitra, each filter only returns what it names.
    const all = async (status: string) => (await list({ status, limit: 200 })).body.items;
    for (const i of await all("online")) expect(i).toMatchObject({ online: true, isActive: true });
    for (const i of await all("offline")) expect(i).toMatchObject({ online: false, isActive: true });
    for (const i of await all("available")) expect(i).toMatchObject({ available: true });
    for (const i of await all("deactivated")) expect(i).toMatchObject({ isActive: false, online: false });
  });

  it("refuses an unknown status", async () => {
    for (const status of ["ONLINE", "busy", ""]) {
      const res = await list({ status });
      expect({ value: status, ...errorOf(res) }).toEqual({
        value: status,
        status: 400,
        code: "VALIDATION_FAILED",
      });
      expect(res.body.error.issues[0].path).toBe("status");
    }
  });

  it("finds a mitra by any part of its phone, in the form the operator types it", async () => {
    const m = await created(`Phone ${newTag()}`);
    const national = `0${m.phone.slice(3)}`;
    for (const q of [
      m.phone,
      m.phone.slice(1),
      m.phone.slice(3),
      national,
      national.slice(0, 9),
      m.phone.slice(-6),
    ]) {
      const res = await list({ q, limit: 200 });
      expect({ q, ids: res.body.items.map((i: { id: string }) => i.id) }).toEqual({
        q,
        ids: expect.arrayContaining([m.id]),
      });
    }
  });

  it("finds a mitra by trailing digits that start with 0 (not read as a trunk prefix only)", async () => {
    const phone = `08129${String(randomInt(0, 1e2)).padStart(2, "0")}0${String(randomInt(0, 1e4)).padStart(4, "0")}`;
    const res = await createMitra({ phone, displayName: `Zero ${newTag()}` });
    expect(res.status).toBe(201);
    const tail = phone.slice(-5);
    expect(tail.startsWith("0")).toBe(true);
    const found = await list({ q: tail, limit: 200 });
    expect(found.body.items.map((i: { id: string }) => i.id)).toContain(res.body.id);
  });

  it("finds a mitra by its name, ignoring case", async () => {
    const tag = newTag();
    const m = await created(`Dewi Lestari ${tag}`);
    for (const q of [
      tag,
      tag.toUpperCase(),
      tag.toLowerCase(),
      `lestari ${tag.toLowerCase()}`,
      `  ${tag}  `,
    ]) {
      const res = await list({ q });
      expect({ q, ids: res.body.items.map((i: { id: string }) => i.id) }).toEqual({ q, ids: [m.id] });
    }
  });

  it("takes % and _ in a search literally", async () => {
    const tag = newTag();
    const percent = await created(`${tag} 100% sure`);
    await created(`${tag} 1000 sure`);
    const underscore = await created(`${tag} a_b`);
    await created(`${tag} axb`);
    const ids = async (q: string) => (await list({ q })).body.items.map((i: { id: string }) => i.id);
    expect(await ids(`${tag} 100%`)).toEqual([percent.id]);
    expect(await ids(`${tag} a_b`)).toEqual([underscore.id]);
    for (const i of (await list({ q: "%", limit: 200 })).body.items) expect(i.displayName).toContain("%");
    for (const i of (await list({ q: "_", limit: 200 })).body.items) expect(i.displayName).toContain("_");
  });

  it("refuses a search over 100 characters or with a NUL", async () => {
    for (const q of ["x".repeat(101), "a\u0000b"]) {
      const res = await list({ q });
      expect(errorOf(res)).toEqual({ status: 400, code: "VALIDATION_FAILED" });
      expect(res.body.error.issues[0].path).toBe("q");
    }
  });

  it("walks every mitra page by page with no duplicates and no gaps", async () => {
    const tag = newTag();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await created(`Page ${i} ${tag}`)).id);

    const tagged = await walk({ q: tag, limit: 3 });
    expect(tagged.pages).toEqual([3, 3, 1]);
    expect(tagged.ids.length).toBe(new Set(tagged.ids).size);
    expect([...tagged.ids].sort()).toEqual([...ids].sort());
    // Newest first.
    expect(tagged.ids).toEqual([...ids].reverse());

    const everything = await walk({ limit: 3 });
    const once = await list({ limit: 200 });
    expect(everything.ids.length).toBe(new Set(everything.ids).size);
    expect(everything.ids).toEqual(once.body.items.map((i: { id: string }) => i.id));
  });

  it("walks mitras created in the same millisecond without skipping any", async () => {
    const tag = newTag();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await created(`Burst ${i} ${tag}`)).id);
    // Rows written by another tool carry microseconds: three share one instant, all share one millisecond.
    await gw.pool.query(
      `UPDATE mitras m SET created_at = '2031-05-01T00:00:00.123Z'::timestamptz + (v.us * interval '1 microsecond')
       FROM unnest($1::uuid[], $2::int[]) AS v(id, us) WHERE m.id = v.id`,
      [ids, [0, 1, 1, 1, 400, 500, 999]],
    );
    for (const limit of [1, 2, 3]) {
      const { ids: walked } = await walk({ q: tag, limit });
      expect({ limit, walked: [...walked].sort() }).toEqual({ limit, walked: [...ids].sort() });
    }
  });

  it("pages 50 by default and at most 200", async () => {
    const tag = newTag();
    await gw.pool.query(
      `INSERT INTO mitras (phone, display_name)
       SELECT '+62819' || lpad(n::text, 8, '0') || '', 'Bulk ' || n || ' ${tag}' FROM generate_series(1, 51) AS n`,
    );
    const first = await list({ q: tag });
    expect(first.body.items).toHaveLength(50);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await list({ q: tag, cursor: first.body.nextCursor });
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    expect((await list({ q: tag, limit: 200 })).body.items).toHaveLength(51);

    for (const limit of ["201", "0", "-1", "abc", "1.5", ""]) {
      const res = await list({ q: tag, limit });
      expect({ limit, ...errorOf(res) }).toEqual({ limit, status: 400, code: "VALIDATION_FAILED" });
      expect(res.body.error.issues[0].path).toBe("limit");
    }
  });

  it("refuses a cursor it did not issue", async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const uuid = "00000000-0000-0000-0000-000000000000";
    for (const cursor of [
      "abc",
      "!!!",
      b64(null),
      b64({}),
      b64(["2030-01-01T00:00:00.000000Z"]),
      b64(["2030-01-01T00:00:00.000000Z", "not-a-uuid"]),
      b64(["1", uuid]),
      b64(["+275760-09-13T00:00:00.000Z", uuid]),
      b64(["0000-01-01T00:00:00.000000Z", uuid]),
      b64(["2030-13-01T00:00:00.000000Z", uuid]),
      b64(["2030-02-30T00:00:00.000000Z", uuid]),
      b64(["Tue, 01 Jan 2030 00:00:00 GMT", uuid]),
      b64(["2030-01-01T00:00:00.000000Z", uuid, "extra"]),
      "x".repeat(201),
    ]) {
      const res = await list({ cursor });
      expect({ cursor, ...errorOf(res) }).toEqual({ cursor, status: 400, code: "VALIDATION_FAILED" });
    }
  });
});

describe("dashboard counts", () => {
  interface Counts {
    online: number;
    available: number;
    deactivated: number;
    activeSessions: number;
    pendingSessions: number;
  }
  const counts = async (): Promise<Counts> => {
    const res = await internal("/internal/dashboard/counts");
    expect(res.status).toBe(200);
    return res.body;
  };
  const truth = async () => {
    const { rows } = await gw.pool.query<Record<string, number>>(
      `SELECT (SELECT count(*) FROM mitras WHERE is_online AND is_active)::int AS online,
              (SELECT count(*) FROM mitras WHERE NOT is_active)::int AS deactivated,
              (SELECT count(*) FROM chat_sessions WHERE status = 'active')::int AS "activeSessions",
              (SELECT count(*) FROM chat_sessions WHERE status = 'pending_payment')::int AS "pendingSessions"`,
    );
    return rows[0];
  };

  it("answers exactly {online, available, deactivated, activeSessions, pendingSessions} matching the database", async () => {
    const c = await counts();
    expect(Object.keys(c).sort()).toEqual([
      "activeSessions",
      "available",
      "deactivated",
      "online",
      "pendingSessions",
    ]);
    for (const v of Object.values(c)) expect(Number.isInteger(v)).toBe(true);
    expect(c).toMatchObject((await truth()) as Record<string, number>);
  });

  it("follows mitras going online, being deactivated, and chat sessions opening", async () => {
    const before = await counts();
    const on = await signedInMitra(gw);
    await goOnline(on);
    const off = await created("Counted Offline");
    const gone = await created("Counted Gone");
    await patchMitra(gone.id, { isActive: false });
    await gw.pool.query(
      `INSERT INTO chat_sessions (customer_id, mitra_id, status)
       VALUES ($1, $2, 'active'), ($1, $2, 'pending_payment'), ($1, $2, 'pending_payment'), ($1, $2, 'ended')`,
      [customerId, off.id],
    );

    const after = await counts();
    expect(after).toEqual({
      online: before.online + 1,
      available: before.available + 1,
      deactivated: before.deactivated + 1,
      activeSessions: before.activeSessions + 1,
      pendingSessions: before.pendingSessions + 2,
    });
    expect(after).toMatchObject((await truth()) as Record<string, number>);
  });
});

describe("who may use the control-center mitra routes", () => {
  it("customer and mitra tokens are FORBIDDEN, no token is UNAUTHENTICATED", async () => {
    const m = await signedInMitra(gw);
    const target = await created("Guarded");
    const routes: [string, string, unknown?][] = [
      ["GET", "/internal/mitras"],
      ["POST", "/internal/mitras", { phone: newMitraPhone(), displayName: "Sneaky" }],
      ["PATCH", `/internal/mitras/${target.id}`, { isActive: false }],
      ["GET", `/internal/mitras/${target.id}/log`],
      ["GET", "/internal/dashboard/counts"],
    ];
    for (const [method, path, body] of routes) {
      const opts = { method, ...(body === undefined ? {} : { body }) };
      const as = (token?: string) =>
        call(`${gw.internalUrl}${path}`, { ...opts, ...(token ? { token } : {}) });
      expect({ path, ...errorOf(await as(customerToken)) }).toEqual({ path, status: 403, code: "FORBIDDEN" });
      expect({ path, ...errorOf(await as(m.accessToken)) }).toEqual({ path, status: 403, code: "FORBIDDEN" });
      expect({ path, ...errorOf(await as()) }).toEqual({ path, status: 401, code: "UNAUTHENTICATED" });
      expect({ path, ...errorOf(await as("garbage")) }).toEqual({
        path,
        status: 401,
        code: "UNAUTHENTICATED",
      });
    }
    expect((await mitraState(gw, target.id)).postgres.active).toBe(true);
    expect((await list({ q: "Sneaky" })).body.items).toEqual([]);
  });
});
