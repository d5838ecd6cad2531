-- Secrets reported leaked by GitHub's secret scanning: where they were
-- found. The credential is disabled at once; a report of the same place
-- again is the same leak.
CREATE TABLE credential_leaks (
    id            INTEGER PRIMARY KEY,
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    url           TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    token_type    TEXT    NOT NULL,
    reported_at   BIGINT  NOT NULL,
    UNIQUE (credential_id, url)
);
