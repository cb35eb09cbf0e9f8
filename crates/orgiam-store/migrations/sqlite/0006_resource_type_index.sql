-- The ResourceTypes filter through an index: one row per (role, resource type), ordered like a
-- listing, so a filtered listing walks only the roles of the types asked for (built-in roles
-- under organization '') and a type no role has costs one index probe, not a look at every row.
CREATE TABLE role_resource_types (
    rt_org      TEXT NOT NULL,
    rt_type     TEXT NOT NULL,
    rt_name_key TEXT NOT NULL,
    rt_sid      TEXT NOT NULL,
    PRIMARY KEY (rt_org, rt_type, rt_name_key, rt_sid)
) WITHOUT ROWID;

CREATE TRIGGER role_resource_types_insert AFTER INSERT ON roles
WHEN new.resource_types IS NOT NULL BEGIN
    INSERT OR IGNORE INTO role_resource_types (rt_org, rt_type, rt_name_key, rt_sid)
        SELECT coalesce(new.org_sid, ''), value, new.name_key, new.sid
        FROM json_each(new.resource_types);
END;

CREATE TRIGGER role_resource_types_delete AFTER DELETE ON roles
WHEN old.resource_types IS NOT NULL BEGIN
    DELETE FROM role_resource_types
    WHERE rt_org = coalesce(old.org_sid, '') AND rt_name_key = old.name_key AND rt_sid = old.sid
      AND rt_type IN (SELECT value FROM json_each(old.resource_types));
END;

CREATE TRIGGER role_resource_types_update AFTER UPDATE OF resource_types, name_key, org_sid, sid ON roles BEGIN
    DELETE FROM role_resource_types
    WHERE old.resource_types IS NOT NULL
      AND rt_org = coalesce(old.org_sid, '') AND rt_name_key = old.name_key AND rt_sid = old.sid
      AND rt_type IN (SELECT value FROM json_each(old.resource_types));
    INSERT OR IGNORE INTO role_resource_types (rt_org, rt_type, rt_name_key, rt_sid)
        SELECT coalesce(new.org_sid, ''), value, new.name_key, new.sid
        FROM json_each(new.resource_types) WHERE new.resource_types IS NOT NULL;
END;

INSERT OR IGNORE INTO role_resource_types (rt_org, rt_type, rt_name_key, rt_sid)
    SELECT coalesce(r.org_sid, ''), j.value, r.name_key, r.sid
    FROM roles AS r, json_each(r.resource_types) AS j
    WHERE r.resource_types IS NOT NULL;
