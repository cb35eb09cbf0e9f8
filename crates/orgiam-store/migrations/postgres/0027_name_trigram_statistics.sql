-- How common each trigram of the role names is: extended statistics on the names' trigrams
-- keep their most common elements with the share of names holding each (refreshed by ANALYZE,
-- which autovacuum and every import run). A search by an organization holding most roles asks
-- the trigram index for its rarest trigrams, not a spread of them. PostgreSQL 14 or later.
CREATE STATISTICS roles_name_trigrams ON (show_trgm(name_key)) FROM roles;
