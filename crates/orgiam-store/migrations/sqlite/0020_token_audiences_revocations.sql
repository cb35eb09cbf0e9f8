-- Audiences (resource servers) an app may ask access tokens for besides the server itself:
-- a JSON array of strings.
ALTER TABLE apps ADD COLUMN audiences TEXT NOT NULL DEFAULT '[]';

-- Access tokens revoked before their expiry, by their `jti`; kept only until they expire
-- (pruned when the next one is revoked). `rev` numbers them for the replicas' polls.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    org_sid TEXT NOT NULL,
    app_sid TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    date_created INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_rev ON revoked_tokens (rev);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
INSERT INTO revisions (name, value) VALUES ('revocations', 0);
