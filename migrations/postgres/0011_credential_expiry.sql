-- A credential may expire: it then gets no tokens. An organization may
-- require an expiry no further than `max_credential_days` ahead.
ALTER TABLE credentials ADD COLUMN expires_at BIGINT NULL;
ALTER TABLE organizations ADD COLUMN max_credential_days BIGINT NULL;
CREATE INDEX credentials_expiring ON credentials (expires_at) WHERE expires_at IS NOT NULL;

-- Tokens issued before this time are inactive at introspection: set when a
-- secret is reported leaked, so what it already obtained stops too.
ALTER TABLE credentials ADD COLUMN tokens_before BIGINT NULL;

-- Expiry reminders sent: one row per credential and threshold (30, 7, 1
-- days; 0 for "expired"), so each goes out once, whichever instance and
-- however often the server restarts.
CREATE TABLE credential_reminders (
    credential_id BIGINT  NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    days          BIGINT  NOT NULL,
    sent_at       BIGINT  NOT NULL,
    PRIMARY KEY (credential_id, days)
);
