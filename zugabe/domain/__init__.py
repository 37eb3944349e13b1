"""Plain domain objects and rules: no Flask, no SQL."""
