-- Webhook endpoints of an organization. The signing secret is sealed under
-- the server key (XChaCha20-Poly1305), since signing needs it back; during
-- a rotation the previous one also signs until `previous_until`.
CREATE TABLE webhook_endpoints (
    id                   INTEGER PRIMARY KEY,
    organization_id      INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                  TEXT    NOT NULL,
    description          TEXT    NOT NULL,
    events               TEXT    NOT NULL,
    enabled              BOOLEAN NOT NULL,
    secret               TEXT    NOT NULL,
    previous_secret      TEXT,
    previous_until       BIGINT,
    failures_in_a_row    BIGINT  NOT NULL DEFAULT 0,
    failing_since        BIGINT,
    created_at           BIGINT  NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (organization_id);

-- The outbox: one row per event and endpoint, written in the transaction of
-- the change it describes. Workers claim due rows with a lease
-- (`locked_until`), so an instance that dies mid-delivery delays a row but
-- never loses it.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id       TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    subject          TEXT,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    give_up_at       BIGINT  NOT NULL,
    locked_until     BIGINT  NOT NULL DEFAULT 0,
    last_attempt_at  BIGINT,
    response_status  BIGINT,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (endpoint_id, event_type, subject, created_at);
