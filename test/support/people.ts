import { randomInt } from "node:crypto";
import type { TestGateway } from "./gateway.js";

/**
 * Signed-in people for HTTP tests: the first admin, an operator, a mitra.
 * Each helper speaks to a running gateway the way a client would.
 */

/** Pass as `env` to startTestGateway (with ENABLE_TEST_ROUTES for mitras). */
export const ADMIN = { email: "admin@halo.test", password: "Adm1n-Secret-42" } as const;
export const ADMIN_ENV = { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password } as const;

interface Urls {
  publicUrl: string;
  internalUrl: string;
}

export interface SignedInMitra {
  id: string;
  /** E.164, as stored. */
  phone: string;
  accessToken: string;
  refreshToken: string;
}

/** A valid Indonesian mobile number in the national form (`0812…`), random enough not to repeat in a run. */
export function newMitraPhone(): string {
  return `0812${String(randomInt(0, 1e8)).padStart(8, "0")}`;
}

/** `0812…` → `+62812…` (the default country code of the tests). */
export const e164 = (national: string): string => `+62${national.slice(1)}`;

/** A fresh client address, so per-IP OTP limits do not add up (needs TRUST_PROXY=true). */
const freshIp = (): string => `10.${randomInt(0, 256)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** An operator's access token (`POST /internal/auth/login`). One bcrypt compare: call once per file. */
export async function operatorToken(
  gw: Pick<Urls, "internalUrl">,
  email: string = ADMIN.email,
  password: string = ADMIN.password,
): Promise<string> {
  const res = await postJson(`${gw.internalUrl}/internal/auth/login`, { email, password });
  if (res.status !== 200)
    throw new Error(`login of ${email} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.accessToken as string;
}

/** A new operator (role `operator`) created by the admin, signed in. */
export async function newOperatorToken(gw: Pick<Urls, "internalUrl">, adminToken: string): Promise<string> {
  const email = `operator-${randomInt(0, 1e9)}@halo.test`;
  const password = "Operat0r-Pass-19";
  const res = await postJson(
    `${gw.internalUrl}/internal/control-center-users`,
    { email, password, role: "operator" },
    { authorization: `Bearer ${adminToken}` },
  );
  if (res.status !== 201) throw new Error(`creating an operator failed: ${res.status}`);
  return operatorToken(gw, email, password);
}

/**
 * A mitra seeded through the test route and signed in by phone code
 * (needs ENABLE_TEST_ROUTES=true; TRUST_PROXY=true to sign in more than the
 * per-IP hourly limit allows).
 */
export async function signedInMitra(
  gw: Urls,
  seed: {
    phone?: string;
    displayName?: string;
    verified?: boolean;
    maxConcurrentSessions?: number;
  } = {},
): Promise<SignedInMitra> {
  const phone = seed.phone ?? newMitraPhone();
  const seeded = await postJson(`${gw.internalUrl}/internal/_test/seed-mitra`, {
    displayName: "Mitra",
    ...seed,
    phone,
  });
  if (seeded.status !== 201 && seeded.status !== 200) throw new Error(`seed-mitra failed: ${seeded.status}`);
  const ip = { "x-forwarded-for": freshIp() };
  const requested = await postJson(`${gw.publicUrl}/api/mitra/auth/otp/request`, { phone }, ip);
  if (requested.status !== 200) throw new Error(`otp request failed: ${requested.status}`);
  const codeRes = await fetch(`${gw.internalUrl}/internal/_test/otp?phone=${encodeURIComponent(phone)}`);
  const { code } = (await codeRes.json()) as { code: string };
  const verified = await postJson(
    `${gw.publicUrl}/api/mitra/auth/otp/verify`,
    { requestId: requested.body.requestId, code },
    ip,
  );
  if (verified.status !== 200) throw new Error(`otp verify failed: ${verified.status}`);
  return {
    id: seeded.body.id,
    phone: verified.body.user.phone,
    accessToken: verified.body.accessToken,
    refreshToken: verified.body.refreshToken,
  };
}

export interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary JSON
  body: any;
  headers: Headers;
}

/** One HTTP call as a client makes it: `body` is sent as JSON, `raw` as is. */
export async function call(
  url: string,
  opts: { method?: string; token?: string; body?: unknown; raw?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(url, {
    method: opts.method ?? (payload === undefined ? "GET" : "POST"),
    headers,
    ...(payload === undefined ? {} : { body: payload }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** A mitra as both stores hold it: the Postgres row and every mirrored Valkey key. */
export async function mitraState(gw: TestGateway, id: string) {
  const { rows } = await gw.pool.query<{
    is_online: boolean;
    is_active: boolean;
    last_heartbeat_at: Date | null;
    max_concurrent_sessions: number;
  }>("SELECT is_online, is_active, last_heartbeat_at, max_concurrent_sessions FROM mitras WHERE id = $1", [
    id,
  ]);
  const row = rows[0];
  if (!row) throw new Error(`no mitra ${id}`);
  const v = gw.valkey;
  if (!v) throw new Error("mitraState needs a gateway with Valkey");
  const k = gw.gateway.services.keys;
  const [online, heartbeat, deactivated, max, capacity] = await Promise.all([
    v.sismember(k.mitrasOnline, id),
    v.get(k.mitraHeartbeat(id)),
    v.sismember(k.mitrasDeactivated, id),
    v.get(k.mitraMax(id)),
    v.get(k.mitraCapacity(id)),
  ]);
  return {
    postgres: {
      online: row.is_online,
      active: row.is_active,
      heartbeatAt: row.last_heartbeat_at?.toISOString() ?? null,
      max: row.max_concurrent_sessions,
    },
    valkey: { online: online === 1, deactivated: deactivated === 1, heartbeat, max, capacity },
  };
}
