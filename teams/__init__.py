"""The teams moot ships (TOML files, installed as package data)."""
