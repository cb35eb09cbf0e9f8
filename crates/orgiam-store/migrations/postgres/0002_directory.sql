-- The organization's directory and role assignments (migrations/sqlite/0002_directory.sql).

CREATE TABLE users (
    sid                  TEXT COLLATE "C" PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'US%'),
    org_sid              TEXT COLLATE "C" NOT NULL REFERENCES orgs (sid),
    email                TEXT COLLATE "C" NOT NULL,
    friendly_name        TEXT NOT NULL,
    date_created         BIGINT NOT NULL,
    -- Assignments of built-in roles this user holds; the CHECK makes the limit race-free.
    builtin_assignments  BIGINT NOT NULL DEFAULT 0 CHECK (builtin_assignments BETWEEN 0 AND 25),
    UNIQUE (org_sid, email),
    UNIQUE (org_sid, sid)
);

CREATE TABLE accounts (
    sid           TEXT COLLATE "C" PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'AC%'),
    org_sid       TEXT COLLATE "C" NOT NULL REFERENCES orgs (sid),
    parent_sid    TEXT COLLATE "C",
    friendly_name TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'pending_closure', 'closed')),
    owner_sid     TEXT COLLATE "C",
    date_created  BIGINT NOT NULL,
    UNIQUE (org_sid, sid),
    -- A subaccount's parent is an account of the same organization.
    FOREIGN KEY (org_sid, parent_sid) REFERENCES accounts (org_sid, sid),
    FOREIGN KEY (org_sid, owner_sid) REFERENCES users (org_sid, sid)
);

-- resource_type and resource_id are '' when unset, so the unique key covers them.
CREATE TABLE role_assignments (
    sid           TEXT COLLATE "C" PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'IY%'),
    org_sid       TEXT COLLATE "C" NOT NULL REFERENCES orgs (sid),
    role_sid      TEXT COLLATE "C" NOT NULL REFERENCES roles (sid),
    scope         TEXT COLLATE "C" NOT NULL,
    identity      TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL DEFAULT '',
    resource_id   TEXT COLLATE "C" NOT NULL DEFAULT '',
    builtin       BOOLEAN NOT NULL,
    date_created  BIGINT NOT NULL,
    UNIQUE (org_sid, role_sid, scope, identity, resource_type, resource_id),
    FOREIGN KEY (org_sid, identity) REFERENCES users (org_sid, sid)
);
CREATE INDEX role_assignments_in_order ON role_assignments (org_sid, sid);
CREATE INDEX role_assignments_by_identity ON role_assignments (org_sid, identity, sid);
