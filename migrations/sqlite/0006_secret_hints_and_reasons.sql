-- The last four characters of each secret, so a person can tell which one
-- a system holds (as Stripe shows them). Never more: the rest is only in
-- the digest. NULL for secrets made before this migration.
ALTER TABLE credential_secrets ADD COLUMN hint TEXT NULL;

-- The optional reason an owner gives when rejecting a request, shown to
-- the requester.
ALTER TABLE credential_requests ADD COLUMN decision_note TEXT NULL;
