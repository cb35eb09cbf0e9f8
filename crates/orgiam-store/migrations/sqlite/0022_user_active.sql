-- Whether a user may act: an inactive user keeps its assignments but is granted nothing.
ALTER TABLE users ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
