"""The web console's static files (served by ``tensorgate.server.console``)."""
