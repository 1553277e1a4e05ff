-- Up Migration
-- Which process holds an in-flight claim (the key of the Postgres advisory lock it holds
-- while it lives): a claim of a process that is gone lapses at once, not after its 30 s lease.
ALTER TABLE idempotency_keys ADD COLUMN owner integer;

-- Down Migration
ALTER TABLE idempotency_keys DROP COLUMN owner;
