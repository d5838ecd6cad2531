-- The claim reads each endpoint's first few due deliveries in order (due
-- time, then id) and stops there, so its cost does not grow with one
-- endpoint's backlog.
CREATE INDEX webhook_deliveries_pending_turn ON webhook_deliveries (endpoint_id, next_attempt_at, id) WHERE status = 'pending';
