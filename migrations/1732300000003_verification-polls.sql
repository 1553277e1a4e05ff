-- Up Migration
-- When a verification's provider status was last polled: status reads poll at most
-- once per interval per verification (a conditional UPDATE claims the poll).
ALTER TABLE verifications ADD COLUMN polled_at timestamptz;
CREATE INDEX verifications_status_created_idx ON verifications (status, created_at DESC, id DESC);
CREATE INDEX verifications_created_idx ON verifications (created_at DESC, id DESC);

-- Down Migration
DROP INDEX verifications_created_idx;
DROP INDEX verifications_status_created_idx;
ALTER TABLE verifications DROP COLUMN polled_at;
