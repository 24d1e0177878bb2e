"""The web server: app factory, CLI, settings wiring, and all realtime (websockets, routing, widget)."""
