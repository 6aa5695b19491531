"""Template tags of monitor."""
