-- An account is made from an invitation link only with a one-time code sent
-- to the invited address: the code (stored as a keyed digest), when it stops
-- working, how many wrong codes were tried, and how many codes were sent.
ALTER TABLE invitations ADD COLUMN code_digest TEXT NULL;
ALTER TABLE invitations ADD COLUMN code_expires_at BIGINT NULL;
ALTER TABLE invitations ADD COLUMN code_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN codes_sent BIGINT NOT NULL DEFAULT 0;

-- Whether the account's address was proven (or its account made by the
-- operator). Accounts made from an invitation link before codes existed were
-- never proven: whoever held the link could make them. The holder of the
-- address who proves it with a code takes such an account over.
ALTER TABLE users ADD COLUMN email_confirmed BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE users SET email_confirmed = FALSE
WHERE EXISTS (
    SELECT 1 FROM audit_events a
    WHERE a.actor_user_id = users.id AND a.action = 'member.joined' AND a.created_at = users.created_at
);
