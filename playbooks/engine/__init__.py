"""The engine's pure logic: plugin registry, decisions, severity, verification, post-mortem."""
