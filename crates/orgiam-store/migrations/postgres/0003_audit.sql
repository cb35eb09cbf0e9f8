-- Custom roles change at run time: replicas follow a roles revision. And the audit trail.

INSERT INTO revisions (name, value) VALUES ('roles', 0) ON CONFLICT DO NOTHING;

-- Every change to access, written in the transaction of the change. `seq` orders them;
-- org_sid is NULL for install-wide events (signing keys).
CREATE TABLE audit_events (
    seq          BIGSERIAL PRIMARY KEY,
    sid          TEXT COLLATE "C" NOT NULL UNIQUE CHECK (length(sid) = 34 AND sid LIKE 'AE%'),
    org_sid      TEXT COLLATE "C",
    date_created BIGINT NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    action       TEXT COLLATE "C" NOT NULL,
    target       TEXT COLLATE "C" NOT NULL,
    request_id   TEXT,
    before       TEXT,
    after        TEXT
);
CREATE INDEX audit_events_by_org ON audit_events (org_sid, seq);
