-- orgiam schema, PostgreSQL: the tables and constraints of migrations/sqlite/0001_init.sql.
-- Times are Unix seconds (BIGINT); SIDs are text. Text that is ordered or compared is
-- COLLATE "C": byte-wise, exactly like SQLite's BINARY collation, whatever the database's locale.

-- Trigram indexes answer the roles' substring search.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Counters bumped in the same transaction as every change they describe; replicas poll them.
-- Each bump is its transaction's first write: the row lock makes those transactions commit in
-- the order of the values they took.
CREATE TABLE revisions (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO revisions (name, value) VALUES ('apps', 0), ('keys', 0);

CREATE TABLE signing_keys (
    kid         TEXT COLLATE "C" PRIMARY KEY,
    private_der BYTEA NOT NULL,
    public_raw  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

CREATE TABLE orgs (
    sid           TEXT COLLATE "C" PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'OR%'),
    friendly_name TEXT NOT NULL,
    date_created  BIGINT NOT NULL
);

CREATE TABLE apps (
    sid              TEXT COLLATE "C" PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'OQ%'),
    org_sid          TEXT COLLATE "C" NOT NULL REFERENCES orgs (sid),
    friendly_name    TEXT NOT NULL,
    description      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
    policy           TEXT NOT NULL,
    access_token_ttl BIGINT NOT NULL CHECK (access_token_ttl BETWEEN 60 AND 2592000),
    date_created     BIGINT NOT NULL,
    date_updated     BIGINT NOT NULL,
    rev              BIGINT NOT NULL
);
CREATE INDEX apps_by_rev ON apps (rev);

CREATE TABLE app_secrets (
    app_sid    TEXT COLLATE "C" NOT NULL REFERENCES apps (sid) ON DELETE CASCADE,
    hash       BYTEA NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_sid, hash)
);

-- Built-in roles have no organization; custom roles belong to one. `policy` is text so it
-- comes back exactly as written; `resource_types` is a JSONB array (or NULL) for `?|`.
CREATE TABLE roles (
    sid                  TEXT COLLATE "C" PRIMARY KEY CHECK (length(sid) = 34 AND sid LIKE 'IX%'),
    org_sid              TEXT COLLATE "C" REFERENCES orgs (sid),
    name_key             TEXT COLLATE "C" NOT NULL,
    friendly_name        TEXT NOT NULL,
    external_description TEXT NOT NULL,
    product_group        TEXT COLLATE "C" NOT NULL,
    product_group_name   TEXT NOT NULL,
    lowest_level         TEXT NOT NULL CHECK (lowest_level IN ('ORGANIZATION', 'ACCOUNT', 'SUB_ACCOUNT')),
    policy               TEXT NOT NULL,
    resource_types       JSONB CHECK (resource_types IS NULL OR jsonb_typeof(resource_types) = 'array'),
    date_created         BIGINT NOT NULL,
    date_updated         BIGINT NOT NULL
);
CREATE INDEX roles_in_order ON roles (org_sid, name_key, sid);
CREATE INDEX roles_by_group ON roles (org_sid, product_group, name_key, sid);
CREATE INDEX roles_by_name_trigram ON roles USING gin (name_key gin_trgm_ops);
