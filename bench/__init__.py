"""`make bench` / `python -m bench`: the platform as real processes under load (see README.md)."""
