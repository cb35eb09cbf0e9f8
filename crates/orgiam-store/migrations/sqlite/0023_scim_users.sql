-- SCIM 2.0 users (docs/SCIM.md): the User attributes beside the columns the command line and
-- role assignments use. `email` holds the userName (so UNIQUE (org_sid, email) never refuses
-- what UNIQUE (org_sid, user_name_key) allows) and `friendly_name` the display name.
-- Each *_key column holds the value folded to lower case by orgiam (NULL when absent).
ALTER TABLE users ADD COLUMN user_name TEXT;
ALTER TABLE users ADD COLUMN user_name_key TEXT;
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN display_name_key TEXT;
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN given_name_key TEXT;
ALTER TABLE users ADD COLUMN family_name TEXT;
ALTER TABLE users ADD COLUMN family_name_key TEXT;
ALTER TABLE users ADD COLUMN formatted TEXT;
ALTER TABLE users ADD COLUMN formatted_key TEXT;
ALTER TABLE users ADD COLUMN locale TEXT;
ALTER TABLE users ADD COLUMN locale_key TEXT;
ALTER TABLE users ADD COLUMN timezone TEXT;
ALTER TABLE users ADD COLUMN timezone_key TEXT;
ALTER TABLE users ADD COLUMN date_updated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- Users made before this migration: their email is their userName and their one email.
-- (Emails so far are ASCII in practice; lower() folds ASCII as orgiam does.)
UPDATE users SET
    user_name = email,
    user_name_key = lower(email),
    display_name = NULLIF(friendly_name, ''),
    display_name_key = lower(NULLIF(friendly_name, '')),
    date_updated = date_created;

CREATE UNIQUE INDEX users_user_name_key ON users (org_sid, user_name_key);
CREATE INDEX users_external_id ON users (org_sid, external_id);

CREATE TABLE user_emails (
    org_sid     TEXT NOT NULL,
    user_sid    TEXT NOT NULL REFERENCES users (sid) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    value       TEXT NOT NULL,
    value_key   TEXT NOT NULL,
    type        TEXT,
    type_key    TEXT,
    is_primary  BOOLEAN NOT NULL,
    PRIMARY KEY (user_sid, position)
);
CREATE INDEX user_emails_value_key ON user_emails (org_sid, value_key);

INSERT INTO user_emails (org_sid, user_sid, position, value, value_key, type, type_key, is_primary)
SELECT org_sid, sid, 0, email, lower(email), 'work', 'work', TRUE FROM users;
