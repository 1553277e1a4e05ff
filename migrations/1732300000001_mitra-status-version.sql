-- Up Migration
-- Every presence change of a mitra takes the next number from one sequence. Valkey
-- keeps the number of the state it mirrors and refuses an older one, so writes that
-- land out of order (a reseed racing a go-online, two processes) cannot undo a newer state.
CREATE SEQUENCE mitra_status_version_seq;
ALTER TABLE mitras ADD COLUMN status_version bigint NOT NULL DEFAULT nextval('mitra_status_version_seq');

-- Down Migration
ALTER TABLE mitras DROP COLUMN status_version;
DROP SEQUENCE mitra_status_version_seq;
