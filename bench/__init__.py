"""`make bench` / `whistle bench`: the platform as real processes under load (see README.md)."""
