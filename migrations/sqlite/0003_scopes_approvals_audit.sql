-- Permission sets and IP allowlists on credentials, credential requests for
-- approval, and indexes for the audit log's filters.

ALTER TABLE credentials ADD COLUMN permission_set TEXT NOT NULL DEFAULT 'monitoring';
-- Space-separated OAuth scopes, type:action:scope[:resource].
ALTER TABLE credentials ADD COLUMN permissions TEXT NOT NULL DEFAULT 'audit:read:org balances:read:org transactions:read:org webhooks:read:org';
-- '0.0.0.0/0' for all addresses, else space-separated addresses and CIDR ranges.
ALTER TABLE credentials ADD COLUMN ip_allowlist TEXT NOT NULL DEFAULT '0.0.0.0/0';

CREATE TABLE credential_requests (
    id                 INTEGER PRIMARY KEY,
    organization_id    INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    request_id         TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL,
    name_key           TEXT    NOT NULL,
    description        TEXT    NULL,
    permission_set     TEXT    NOT NULL,
    permissions        TEXT    NOT NULL,
    ip_allowlist       TEXT    NOT NULL,
    justification      TEXT    NOT NULL,
    requested_by       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    requested_by_email TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'completed')),
    decided_by         TEXT    NULL,
    decided_at         BIGINT  NULL,
    created_at         BIGINT  NOT NULL
);
-- Active requests hold their name like a credential does.
CREATE UNIQUE INDEX credential_requests_active_name ON credential_requests (organization_id, name_key)
    WHERE status IN ('pending', 'approved');

CREATE INDEX audit_events_org_action ON audit_events (organization_id, action, id);
CREATE INDEX audit_events_org_actor ON audit_events (organization_id, actor, id);
CREATE INDEX audit_events_org_target ON audit_events (organization_id, target, id);
CREATE INDEX audit_events_org_time ON audit_events (organization_id, created_at, id);
CREATE INDEX credential_requests_org_status ON credential_requests (organization_id, status);
