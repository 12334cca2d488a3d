"""The built-in engine: a deterministic semantic parser over the domain description."""
