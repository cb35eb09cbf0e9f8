-- orgiam schema, SQLite. Times are Unix seconds; SIDs are text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Counters bumped in the same transaction as every change they describe; replicas poll them.
CREATE TABLE revisions (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO revisions (name, value) VALUES ('apps', 0), ('keys', 0);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_der BLOB NOT NULL,
    public_raw  BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

CREATE TABLE orgs (
    sid           TEXT PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'OR%'),
    friendly_name TEXT NOT NULL,
    date_created  INTEGER NOT NULL
);

CREATE TABLE apps (
    sid              TEXT PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'OQ%'),
    org_sid          TEXT NOT NULL REFERENCES orgs (sid),
    friendly_name    TEXT NOT NULL,
    description      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    policy           TEXT NOT NULL,
    access_token_ttl INTEGER NOT NULL CHECK (access_token_ttl BETWEEN 60 AND 2592000),
    date_created     INTEGER NOT NULL,
    date_updated     INTEGER NOT NULL,
    rev              INTEGER NOT NULL
);
CREATE INDEX apps_by_rev ON apps (rev);

CREATE TABLE app_secrets (
    app_sid    TEXT NOT NULL REFERENCES apps (sid) ON DELETE CASCADE,
    hash       BLOB NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_sid, hash)
);

-- Built-in roles have no organization; custom roles belong to one.
CREATE TABLE roles (
    sid                  TEXT PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'IX%'),
    org_sid              TEXT REFERENCES orgs (sid),
    name_key             TEXT NOT NULL,
    friendly_name        TEXT NOT NULL,
    external_description TEXT NOT NULL,
    product_group        TEXT NOT NULL,
    product_group_name   TEXT NOT NULL,
    lowest_level         TEXT NOT NULL CHECK (lowest_level IN ('ORGANIZATION', 'ACCOUNT', 'SUB_ACCOUNT')),
    policy               TEXT NOT NULL,
    resource_types       TEXT,
    date_created         INTEGER NOT NULL,
    date_updated         INTEGER NOT NULL
);
CREATE INDEX roles_in_order ON roles (org_sid, name_key, sid);
CREATE INDEX roles_by_group ON roles (org_sid, product_group, name_key, sid);
