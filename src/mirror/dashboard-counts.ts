import type { Pool } from "../db/pool.js";
import type { Availability } from "./availability.js";

export interface DashboardCounts {
  online: number;
  available: number;
  deactivated: number;
  activeSessions: number;
  pendingSessions: number;
}

/** The control center's headline numbers (HTTP route and the dashboard.counts frame). */
export async function dashboardCounts(availability: Availability, pool: Pool): Promise<DashboardCounts> {
  const [presence, sessions] = await Promise.all([
    availability.presenceCounts(),
    pool.query<{ active: number; pending: number }>(
      `SELECT count(*) FILTER (WHERE status = 'active')::int AS active,
              count(*) FILTER (WHERE status = 'pending_payment')::int AS pending
       FROM chat_sessions WHERE status IN ('active', 'pending_payment')`,
    ),
  ]);
  const row = sessions.rows[0] ?? { active: 0, pending: 0 };
  return { ...presence, activeSessions: row.active, pendingSessions: row.pending };
}
