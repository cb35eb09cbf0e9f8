-- A trigram index over role names, for substring search that need not scan every role.
-- It indexes roles.name_key (already lower-cased), kept in step by triggers.
CREATE VIRTUAL TABLE roles_search USING fts5(
    name_key,
    content = 'roles',
    content_rowid = 'rowid',
    tokenize = 'trigram'
);

CREATE TRIGGER roles_search_insert AFTER INSERT ON roles BEGIN
    INSERT INTO roles_search (rowid, name_key) VALUES (new.rowid, new.name_key);
END;

CREATE TRIGGER roles_search_delete AFTER DELETE ON roles BEGIN
    INSERT INTO roles_search (roles_search, rowid, name_key) VALUES ('delete', old.rowid, old.name_key);
END;

CREATE TRIGGER roles_search_update AFTER UPDATE OF name_key ON roles BEGIN
    INSERT INTO roles_search (roles_search, rowid, name_key) VALUES ('delete', old.rowid, old.name_key);
    INSERT INTO roles_search (rowid, name_key) VALUES (new.rowid, new.name_key);
END;

INSERT INTO roles_search (roles_search) VALUES ('rebuild');
