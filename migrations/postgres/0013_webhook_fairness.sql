-- Test events and resends are limited per endpoint: at most a few in a
-- window of a minute that starts with the first of them.
ALTER TABLE webhook_endpoints ADD COLUMN manual_window_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN manual_sends BIGINT NOT NULL DEFAULT 0;

-- Workers count what is pending and in flight per endpoint, to claim
-- fairly across endpoints and organizations.
CREATE INDEX webhook_deliveries_pending_endpoint ON webhook_deliveries (endpoint_id, locked_until) WHERE status = 'pending';

-- A failed attempt is stored as one of a few categories, never the
-- library's or resolver's text (which can name internal addresses). Text
-- stored before is replaced by its category.
UPDATE webhook_deliveries SET last_error = CASE
        WHEN last_error LIKE '%loopback, private or reserved address%' THEN 'address_not_allowed'
        WHEN last_error LIKE '%does not resolve%' THEN 'could_not_resolve'
        WHEN last_error LIKE 'no answer within%' THEN 'timeout'
        WHEN last_error LIKE '%redirects are not followed%' THEN 'redirect'
        WHEN last_error LIKE 'answered %' THEN 'http_status'
        WHEN last_error LIKE 'the signing secret cannot be read%' THEN 'secret_unreadable'
        WHEN last_error LIKE 'this server cannot send webhooks%' THEN 'sender_unavailable'
        ELSE 'send_failed'
    END
WHERE last_error IS NOT NULL;

-- A delivery refused by the address guard is no longer retried.
UPDATE webhook_deliveries SET status = 'failed'
WHERE status = 'pending' AND last_error = 'address_not_allowed';
