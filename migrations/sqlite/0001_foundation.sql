-- Organizations, users, memberships, the append-only audit log and sign-in throttling.
-- Times are Unix seconds (BIGINT) so the same SQL serves SQLite and PostgreSQL.

CREATE TABLE organizations (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    plan             TEXT    NOT NULL CHECK (plan IN ('trial', 'standard')),
    require_approval BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       BIGINT  NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    -- Stored trimmed and lower-cased, which makes it unique case-insensitively.
    email         TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    is_support    BOOLEAN NOT NULL DEFAULT FALSE,
    -- Bumped when the password changes or a membership is removed: every session
    -- that remembers an older value is ended on its next request.
    session_epoch BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE memberships (
    organization_id        INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id                INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role                   TEXT    NOT NULL CHECK (role IN ('owner', 'admin')),
    credentials_permission TEXT    NULL CHECK (credentials_permission IN ('edit', 'view')),
    created_at             BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, user_id),
    CHECK ((role = 'owner' AND credentials_permission IS NULL)
        OR (role = 'admin' AND credentials_permission IS NOT NULL))
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY,
    -- NULL for events that belong to no organization (a failed sign-in for an unknown email).
    organization_id INTEGER NULL REFERENCES organizations (id),
    actor_user_id   INTEGER NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    target          TEXT    NULL,
    ip              TEXT    NULL,
    user_agent      TEXT    NULL,
    detail          TEXT    NOT NULL DEFAULT '{}',
    created_at      BIGINT  NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (organization_id, id);

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- One row per failed sign-in, keyed by 'email:<address>' and 'ip:<address>'.
CREATE TABLE sign_in_failures (
    key TEXT   NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_key_at ON sign_in_failures (key, at);
