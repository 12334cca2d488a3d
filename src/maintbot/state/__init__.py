"""The state DB: what the service writes (chat sessions and their messages), never the maintenance DB."""
