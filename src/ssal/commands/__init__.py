"""CLI sub-commands: each module parses its arguments and calls the library (no logic here)."""
