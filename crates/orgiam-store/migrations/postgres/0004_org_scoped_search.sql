-- Searches scoped to the organization: no plan reads another organization's roles.
--
-- The trigram index leads with the organization (btree_gin lets a GIN index hold the
-- organization's equality next to the name's trigrams), so a search's candidate lookup visits
-- the caller's roles only; the index over every organization's names goes, so no plan can
-- fall back to it. Built-in roles (no organization) are few and read through roles_in_order.
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX roles_by_org_trigram ON roles USING gin (org_sid, name_key gin_trgm_ops);
DROP INDEX IF EXISTS roles_by_name_trigram;

-- A role-SID prefix search looks up the caller's SID range, not every organization's.
CREATE INDEX roles_by_org_sid ON roles (org_sid, sid);
