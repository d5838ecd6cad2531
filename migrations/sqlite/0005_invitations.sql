-- Invitations: people join an organization through a single-use link; the
-- token is stored only as a keyed digest.
CREATE TABLE invitations (
    id                     INTEGER PRIMARY KEY,
    organization_id        INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email                  TEXT    NOT NULL,
    role                   TEXT    NOT NULL CHECK (role IN ('owner', 'admin')),
    credentials_permission TEXT    NULL CHECK (credentials_permission IN ('edit', 'view')),
    token_digest           TEXT    NOT NULL UNIQUE,
    invited_by             INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    invited_by_name        TEXT    NOT NULL,
    created_at             BIGINT  NOT NULL,
    expires_at             BIGINT  NOT NULL,
    accepted_at            BIGINT  NULL,
    revoked_at             BIGINT  NULL,
    CHECK ((role = 'owner' AND credentials_permission IS NULL)
        OR (role = 'admin' AND credentials_permission IS NOT NULL))
);
CREATE INDEX invitations_org ON invitations (organization_id, email);

-- A user's own events (sign-ins, password changes) carry no organization;
-- their Account page reads them by user.
CREATE INDEX audit_events_actor_user ON audit_events (actor_user_id, id);

-- Requests can be cancelled (by an owner, or when their requester leaves or
-- is demoted) and approvals expire; a request can also be for a change to an
-- existing credential (credential_id), which holds no name of its own.
CREATE TABLE credential_requests_new (
    id                 INTEGER PRIMARY KEY,
    organization_id    INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    request_id         TEXT    NOT NULL UNIQUE,
    credential_id      INTEGER NULL REFERENCES credentials (id) ON DELETE CASCADE,
    name               TEXT    NOT NULL,
    name_key           TEXT    NOT NULL,
    description        TEXT    NULL,
    permission_set     TEXT    NOT NULL,
    permissions        TEXT    NOT NULL,
    ip_allowlist       TEXT    NOT NULL,
    justification      TEXT    NOT NULL,
    requested_by       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    requested_by_email TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'completed', 'cancelled', 'expired')),
    decided_by         TEXT    NULL,
    decided_at         BIGINT  NULL,
    created_at         BIGINT  NOT NULL
);
INSERT INTO credential_requests_new
    (id, organization_id, request_id, name, name_key, description, permission_set, permissions,
     ip_allowlist, justification, requested_by, requested_by_email, status, decided_by, decided_at, created_at)
SELECT id, organization_id, request_id, name, name_key, description, permission_set, permissions,
     ip_allowlist, justification, requested_by, requested_by_email, status, decided_by, decided_at, created_at
FROM credential_requests;
DROP TABLE credential_requests;
ALTER TABLE credential_requests_new RENAME TO credential_requests;
CREATE UNIQUE INDEX credential_requests_active_name ON credential_requests (organization_id, name_key)
    WHERE status IN ('pending', 'approved') AND credential_id IS NULL;
CREATE INDEX credential_requests_org_status ON credential_requests (organization_id, status);
