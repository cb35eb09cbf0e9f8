-- Bumped first by every change to what permission checks read (users, their active flag,
-- accounts, role assignments): servers keep decision data in memory and follow the changes'
-- audit events once they see this counter move.
INSERT INTO revisions (name, value) VALUES ('access', 0) ON CONFLICT DO NOTHING;
