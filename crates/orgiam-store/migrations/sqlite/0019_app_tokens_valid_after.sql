-- Tokens of an app issued (iat) before this instant (Unix seconds) are refused: moved forward
-- when the app is disabled or deleted, and when its secret is rotated with no grace.
ALTER TABLE apps ADD COLUMN tokens_valid_after INTEGER NOT NULL DEFAULT 0;
