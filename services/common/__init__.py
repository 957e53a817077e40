"""Machinery the four services share: settings, database, events, bus, auth and the web edge."""
