-- Up Migration
-- A pairing request carries its batch number and the deadline of that batch in
-- Postgres, so any process can advance it (conditional on the batch it saw) when
-- the process that started it has died.
ALTER TABLE pairing_requests ADD COLUMN batch integer NOT NULL DEFAULT 0;
ALTER TABLE pairing_requests ADD COLUMN next_batch_at timestamptz;
CREATE INDEX pairing_requests_searching_idx ON pairing_requests (next_batch_at) WHERE status = 'searching';
-- "Longest since their last offer" without scanning offers: the newest offer per mitra.
CREATE INDEX pairing_offers_mitra_offered_idx ON pairing_offers (mitra_id, offered_at DESC);
CREATE INDEX chat_sessions_customer_open_idx ON chat_sessions (customer_id) WHERE status IN ('active', 'pending_payment');

-- Down Migration
DROP INDEX chat_sessions_customer_open_idx;
DROP INDEX pairing_offers_mitra_offered_idx;
DROP INDEX pairing_requests_searching_idx;
ALTER TABLE pairing_requests DROP COLUMN next_batch_at;
ALTER TABLE pairing_requests DROP COLUMN batch;
