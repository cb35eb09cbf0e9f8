-- Searches scoped to the organization: no plan reads another organization's roles.
--
-- Every organization gets a number (an INTEGER PRIMARY KEY, so VACUUM keeps it); built-in
-- roles count as organization 0. The trigram index is keyed by `number * 2^40 + roles.rowid`,
-- so each organization's names occupy one range of the index's keys, and a search asks the
-- index for the caller's range and the built-ins' (FTS5 seeks to a rowid range) instead of
-- every organization's matches.
CREATE TABLE org_numbers (
    num     INTEGER PRIMARY KEY,
    org_sid TEXT NOT NULL UNIQUE REFERENCES orgs (sid)
);
INSERT INTO org_numbers (org_sid) SELECT sid FROM orgs ORDER BY rowid;
CREATE TRIGGER orgs_number AFTER INSERT ON orgs BEGIN
    INSERT INTO org_numbers (org_sid) VALUES (new.sid);
END;

DROP TRIGGER roles_search_insert;
DROP TRIGGER roles_search_delete;
DROP TRIGGER roles_search_update;
DROP TABLE roles_search;

-- Contentless: its rowids are the keys above, not the rows of `roles`.
CREATE VIRTUAL TABLE roles_search USING fts5(
    name_key,
    content = '',
    tokenize = 'trigram'
);

-- An import indexes its rows with one statement instead: it sets the marker row in `meta` inside
-- its transaction (no other writer can start, readers never see it) and deletes it before
-- committing. (Dropping and re-creating the trigger, as before, changed the schema on every
-- import: every other connection then re-read the schema.)
CREATE TRIGGER roles_search_insert AFTER INSERT ON roles
WHEN NOT EXISTS (SELECT 1 FROM meta WHERE key = 'import_defers_search_index') BEGIN
    INSERT INTO roles_search (rowid, name_key) VALUES (
        coalesce((SELECT num FROM org_numbers WHERE org_sid = new.org_sid), 0) * 1099511627776 + new.rowid,
        new.name_key);
END;

CREATE TRIGGER roles_search_delete AFTER DELETE ON roles BEGIN
    INSERT INTO roles_search (roles_search, rowid, name_key) VALUES ('delete',
        coalesce((SELECT num FROM org_numbers WHERE org_sid = old.org_sid), 0) * 1099511627776 + old.rowid,
        old.name_key);
END;

CREATE TRIGGER roles_search_update AFTER UPDATE OF name_key, org_sid ON roles BEGIN
    INSERT INTO roles_search (roles_search, rowid, name_key) VALUES ('delete',
        coalesce((SELECT num FROM org_numbers WHERE org_sid = old.org_sid), 0) * 1099511627776 + old.rowid,
        old.name_key);
    INSERT INTO roles_search (rowid, name_key) VALUES (
        coalesce((SELECT num FROM org_numbers WHERE org_sid = new.org_sid), 0) * 1099511627776 + new.rowid,
        new.name_key);
END;

INSERT INTO roles_search (rowid, name_key)
    SELECT coalesce(n.num, 0) * 1099511627776 + r.rowid, r.name_key
    FROM roles AS r LEFT JOIN org_numbers AS n ON n.org_sid = r.org_sid;
INSERT INTO roles_search (roles_search) VALUES ('optimize');

-- A role-SID prefix search looks up the caller's SID range, not every organization's.
CREATE INDEX roles_by_org_sid ON roles (org_sid, sid);
