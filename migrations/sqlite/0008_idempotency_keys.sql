-- Idempotency-Key of the API's creates and rotations: a retry with the same
-- key within 24 hours is answered with the first result instead of making a
-- second credential or secret. The result is an id, never a secret.
CREATE TABLE idempotency_keys (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idem_key        TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    operation       TEXT    NOT NULL,
    result          TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    UNIQUE (organization_id, user_id, idem_key)
);
