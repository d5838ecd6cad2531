-- A request carries the expiry it asks for: applied when the credential is
-- generated or the change approved, not dropped on the way.
ALTER TABLE credential_requests ADD COLUMN expires_at BIGINT NULL;
