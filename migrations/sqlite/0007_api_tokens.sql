-- Personal access tokens for the management API: stored only as a keyed
-- digest and their last four characters. A token belongs to one user in one
-- organization, reads or writes, and expires.
CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    token_id        TEXT    NOT NULL UNIQUE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    access          TEXT    NOT NULL CHECK (access IN ('read', 'write')),
    digest          TEXT    NOT NULL UNIQUE,
    hint            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    last_used_at    BIGINT  NULL,
    last_used_ip    TEXT    NULL,
    revoked_at      BIGINT  NULL,
    revoked_by      TEXT    NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);
CREATE INDEX api_tokens_org ON api_tokens (organization_id, user_id);
