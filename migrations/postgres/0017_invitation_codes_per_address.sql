-- The codes emailed to one address in the last day, across every
-- organization's invitations, are counted from the audit log.
CREATE INDEX audit_events_code_sent ON audit_events (target, created_at)
    WHERE action = 'member.invitation_code_sent';
