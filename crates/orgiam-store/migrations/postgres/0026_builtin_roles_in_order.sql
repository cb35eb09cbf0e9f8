-- The built-in roles in name order, for the built-in arm of every role listing. Through
-- `roles_by_org_sid` PostgreSQL fetched all of them and sorted them (their stored JSON with them)
-- on every page: ~0.1 ms of a first page's ~0.15 ms of execution. Through this index the arm
-- reads them in order and stops at the page's limit.
CREATE INDEX roles_builtin_in_order ON roles (name_key, sid) WHERE org_sid IS NULL;
