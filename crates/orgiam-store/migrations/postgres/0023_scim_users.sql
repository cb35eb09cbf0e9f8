-- SCIM 2.0 users (migrations/sqlite/0023_scim_users.sql). Text columns filters compare or
-- sort on are COLLATE "C": ordering by code point, as on SQLite and in memory.
ALTER TABLE users ADD COLUMN user_name TEXT;
ALTER TABLE users ADD COLUMN user_name_key TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN external_id TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN display_name_key TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN given_name_key TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN family_name TEXT;
ALTER TABLE users ADD COLUMN family_name_key TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN formatted TEXT;
ALTER TABLE users ADD COLUMN formatted_key TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN locale TEXT;
ALTER TABLE users ADD COLUMN locale_key TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN timezone TEXT;
ALTER TABLE users ADD COLUMN timezone_key TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN date_updated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

UPDATE users SET
    user_name = email,
    user_name_key = lower(email),
    display_name = NULLIF(friendly_name, ''),
    display_name_key = lower(NULLIF(friendly_name, '')),
    date_updated = date_created;

CREATE UNIQUE INDEX users_user_name_key ON users (org_sid, user_name_key);
CREATE INDEX users_external_id ON users (org_sid, external_id);

CREATE TABLE user_emails (
    org_sid     TEXT COLLATE "C" NOT NULL,
    user_sid    TEXT COLLATE "C" NOT NULL REFERENCES users (sid) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    value       TEXT NOT NULL,
    value_key   TEXT COLLATE "C" NOT NULL,
    type        TEXT,
    type_key    TEXT COLLATE "C",
    is_primary  BOOLEAN NOT NULL,
    PRIMARY KEY (user_sid, position)
);
CREATE INDEX user_emails_value_key ON user_emails (org_sid, value_key);

INSERT INTO user_emails (org_sid, user_sid, position, value, value_key, type, type_key, is_primary)
SELECT org_sid, sid, 0, email, lower(email), 'work', 'work', TRUE FROM users;
