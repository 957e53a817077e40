"""Developer scripts (``make contract``); not part of the installed package."""
