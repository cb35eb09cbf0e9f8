-- Each role's JSON as the API shows it (without expanded permissions), rendered when the role is
-- written, so a listing copies it rather than decoding the row. NULL until rendered: the
-- server renders such rows when it opens the store (and a listing renders any it meets).
ALTER TABLE roles ADD COLUMN rendered TEXT;
-- The rows still to render: empty once every role is rendered, so the check at each start
-- costs one probe whatever the number of roles.
CREATE INDEX roles_unrendered ON roles (sid) WHERE rendered IS NULL;
