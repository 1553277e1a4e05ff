import pg from "pg";

/** Evidence for a log: idempotency claims still in flight, and the pairing requests customers wait on. */
export async function leftovers(databaseUrl: string, steps: string[]): Promise<string> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const claims = await c.query(
      "SELECT scope, created_at, claimed_until FROM idempotency_keys WHERE state = 'in_flight'",
    );
    const ids = steps.flatMap((st) => /^pairing ([0-9a-f-]{36})/.exec(st)?.[1] ?? []);
    const pairing = await c.query(
      `SELECT r.id, r.status, r.fail_reason, r.created_at,
              (SELECT json_agg(json_build_object('mitra', o.mitra_id, 'outcome', o.outcome, 'at', o.offered_at))
                 FROM pairing_offers o WHERE o.request_id = r.id) AS offers
       FROM pairing_requests r WHERE r.id = ANY($1)`,
      [ids],
    );
    return `in-flight idempotency claims: ${JSON.stringify(claims.rows)}\npairing requests waited on: ${JSON.stringify(pairing.rows)}`;
  } catch (err) {
    return `leftovers unreadable: ${(err as Error).message}`;
  } finally {
    await c.end();
  }
}
