-- API credentials and their secrets (stored only as keyed digests).

CREATE TABLE credentials (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    client_id        TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL,
    -- Lower-cased name: names are unique in an organization case-insensitively.
    name_key         TEXT    NOT NULL,
    description      TEXT    NULL,
    is_primary       BOOLEAN NOT NULL DEFAULT FALSE,
    status           TEXT    NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    created_at       BIGINT  NOT NULL,
    created_by       TEXT    NOT NULL,
    updated_at       BIGINT  NOT NULL,
    last_rotated_at  BIGINT  NULL,
    UNIQUE (organization_id, name_key)
);
-- At most one primary per organization, whatever the application does.
CREATE UNIQUE INDEX credentials_one_primary ON credentials (organization_id) WHERE is_primary;

CREATE TABLE credential_secrets (
    id            INTEGER PRIMARY KEY,
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    -- HMAC-SHA256 of the secret under the server key, hex.
    digest        TEXT    NOT NULL UNIQUE,
    created_at    BIGINT  NOT NULL,
    -- Set when the secret is replaced with a grace window; NULL while current.
    expires_at    BIGINT  NULL,
    last_used_at  BIGINT  NULL,
    last_used_ip  TEXT    NULL
);
CREATE INDEX credential_secrets_credential ON credential_secrets (credential_id);
