import type { Clock } from "../clock.js";
import { CREATED_AT_US, decodeCursor, keysetPage } from "../db/keyset-cursor.js";
import type { Pool } from "../db/pool.js";
import { AppError, notFound } from "../errors.js";
import { isUuid } from "../ids.js";
import { iso } from "../time-format.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { Availability } from "./availability.js";
import type { MitraMirror } from "./mitra-mirror.js";
import { capacitiesOf, MITRA_COLUMNS, type MitraRow } from "./mitra-rows.js";
import type { MitraStatus } from "./mitra-status.js";

export type MitraStatusFilter = "online" | "offline" | "available" | "deactivated";

export interface MitraItem {
  id: string;
  phone: string;
  displayName: string;
  isActive: boolean;
  online: boolean;
  available: boolean;
  heartbeatAgeSeconds: number | null;
  capacity: number;
  maxConcurrentSessions: number;
  verifiedAt: string | null;
}

export interface MitraAdminDeps {
  pool: Pool;
  valkey: ValkeyClient | null;
  keys: Keys;
  now: Clock;
  staleSeconds: number;
  mirror: MitraMirror;
  status: MitraStatus;
  availability: Availability;
}

/** Control-center management of mitras (contract §3): list, create, patch, status log. */
export class MitraAdmin {
  constructor(private readonly d: MitraAdminDeps) {}

  /**
   * A page of mitras, newest first. `phoneDigits` (the forms of a
   * phone-like `q`'s digits) is what `q` matches in the phone: any of them.
   */
  async list(q: {
    status?: MitraStatusFilter | undefined;
    q?: string | undefined;
    phoneDigits?: string[] | undefined;
    cursor?: string | undefined;
    limit: number;
  }): Promise<{ items: MitraItem[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, ...values: unknown[]) => {
      let i = params.length;
      where.push(sql.replace(/\?/g, () => `$${++i}`));
      params.push(...values);
    };
    if (q.status === "online") add("is_online AND is_active");
    if (q.status === "offline") add("NOT is_online AND is_active");
    if (q.status === "deactivated") add("NOT is_active");
    if (q.status === "available")
      add(
        "id = ANY(?::uuid[])",
        (await this.d.availability.findAvailableMitras()).map((m) => m.id),
      );
    if (q.q) {
      add(
        "(phone LIKE ANY(?::text[]) OR display_name ILIKE ?)",
        (q.phoneDigits ?? [q.q]).map(contains),
        contains(q.q),
      );
    }
    const after = q.cursor ? decodeCursor(q.cursor) : null;
    if (after) add("(created_at, id) < (?::timestamptz, ?::uuid)", after.createdAt, after.id);
    params.push(q.limit + 1);
    // The cursor keeps created_at to the microsecond: a JS Date would cut it to the
    // millisecond and skip rows created within the same millisecond as a page's last.
    const { rows } = await this.d.pool.query<MitraRow & { created_at_us: string }>(
      `SELECT ${MITRA_COLUMNS}, ${CREATED_AT_US}
       FROM mitras ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const { page, nextCursor } = keysetPage(rows, q.limit);
    return { items: await this.items(page), nextCursor };
  }

  async get(id: string): Promise<MitraItem> {
    const row = await this.row(id);
    return (await this.items([row]))[0] as MitraItem;
  }

  async create(input: {
    phone: string;
    displayName: string;
    maxConcurrentSessions?: number | undefined;
  }): Promise<MitraItem> {
    const now = this.d.now();
    const max = input.maxConcurrentSessions ?? 1;
    const { rows } = await this.d.pool.query<MitraRow>(
      `INSERT INTO mitras (phone, display_name, max_concurrent_sessions, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $4) ON CONFLICT (phone) DO NOTHING RETURNING ${MITRA_COLUMNS}`,
      [input.phone, input.displayName, max, now],
    );
    const row = rows[0];
    if (!row) throw new AppError("PHONE_TAKEN", 409, "A mitra with this phone already exists");
    await this.d.mirror.setMax(row.id, max);
    await this.d.mirror.setCapacities([{ mitraId: row.id, capacity: 0 }]);
    return (await this.items([row]))[0] as MitraItem;
  }

  async patch(
    id: string,
    input: {
      displayName?: string | undefined;
      isActive?: boolean | undefined;
      maxConcurrentSessions?: number | undefined;
    },
  ): Promise<MitraItem> {
    await this.row(id);
    const now = this.d.now();
    if (input.displayName !== undefined || input.maxConcurrentSessions !== undefined) {
      await this.d.pool.query(
        `UPDATE mitras SET display_name = COALESCE($2, display_name),
           max_concurrent_sessions = COALESCE($3, max_concurrent_sessions), updated_at = $4 WHERE id = $1`,
        [id, input.displayName ?? null, input.maxConcurrentSessions ?? null, now],
      );
      if (input.maxConcurrentSessions !== undefined)
        await this.d.mirror.setMax(id, input.maxConcurrentSessions);
    }
    if (input.isActive !== undefined) await this.d.status.setActive(id, input.isActive);
    return this.get(id);
  }

  async log(id: string): Promise<{ items: { status: string; at: string }[] }> {
    await this.row(id);
    const { rows } = await this.d.pool.query<{ status: string; at: Date }>(
      "SELECT status, at FROM mitra_status_log WHERE mitra_id = $1 ORDER BY at DESC, id DESC LIMIT 500",
      [id],
    );
    return { items: rows.map((r) => ({ status: r.status, at: r.at.toISOString() })) };
  }

  private async row(id: string): Promise<MitraRow> {
    if (!isUuid(id)) throw notFound("No such mitra");
    const { rows } = await this.d.pool.query<MitraRow>(`SELECT ${MITRA_COLUMNS} FROM mitras WHERE id = $1`, [
      id,
    ]);
    if (!rows[0]) throw notFound("No such mitra");
    return rows[0];
  }

  /** Rows → items: heartbeat and capacity from Valkey (one round trip), from Postgres when it fails. */
  private async items(rows: MitraRow[]): Promise<MitraItem[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    let heartbeats: (string | null)[] = rows.map((r) => iso(r.last_heartbeat_at));
    let capacities: number[] | undefined;
    if (this.d.valkey) {
      try {
        const res = await this.d.valkey
          .pipeline()
          .mget(ids.map((id) => this.d.keys.mitraHeartbeat(id)))
          .mget(ids.map((id) => this.d.keys.mitraCapacity(id)))
          .exec();
        const [hb, cap] = (res ?? []).map(([err, v]) => {
          if (err) throw err;
          return v as (string | null)[];
        });
        heartbeats = (hb as (string | null)[]).map((v, i) => v ?? heartbeats[i] ?? null);
        capacities = (cap as (string | null)[]).map((v) => Number(v ?? 0));
      } catch {
        capacities = undefined;
      }
    }
    if (!capacities) {
      const byId = await capacitiesOf(this.d.pool, ids);
      capacities = ids.map((id) => byId.get(id) ?? 0);
    }
    const now = this.d.now().getTime();
    return rows.map((r, i) => {
      const hb = heartbeats[i];
      const age = hb ? Math.max(0, Math.floor((now - Date.parse(hb)) / 1000)) : null;
      const capacity = capacities?.[i] ?? 0;
      return {
        id: r.id,
        phone: r.phone,
        displayName: r.display_name,
        isActive: r.is_active,
        online: r.is_online,
        available:
          r.is_online &&
          r.is_active &&
          age !== null &&
          age < this.d.staleSeconds &&
          capacity < r.max_concurrent_sessions,
        heartbeatAgeSeconds: age,
        capacity,
        maxConcurrentSessions: r.max_concurrent_sessions,
        verifiedAt: iso(r.verified_at),
      };
    });
  }
}

/** `%text%` for LIKE, with LIKE's own wildcards in the text taken literally. */
function contains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
