"""The shared store: tables, sessions, the event bus and the services more than one package needs."""
