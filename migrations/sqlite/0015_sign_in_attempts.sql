-- A sign-in attempt is counted before its password is checked, so that
-- concurrent guesses cannot pass a limit together; `attempt` names the rows
-- of one attempt, so they can be taken back when it succeeds or is refused.
-- Rows of earlier versions (and of the token endpoint) have none.
ALTER TABLE sign_in_failures ADD COLUMN attempt TEXT NULL;
CREATE INDEX sign_in_failures_attempt ON sign_in_failures (attempt);
