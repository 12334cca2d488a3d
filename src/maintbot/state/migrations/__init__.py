"""The state DB's Alembic migrations, shipped inside the package so that an installed service can run them.

`maintbot.state.schema` runs them (at start, and by `maintbot migrate`). A new revision is a file in
`versions/` named `NNNN_what_it_does.py` whose `revision` is the next number and whose `down_revision` is
the newest one; write it by hand or let Alembic draft it from the models
(`command.revision(config, message=..., rev_id="NNNN", autogenerate=True)` with a connection in
`config.attributes["connection"]`, as `schema.py` does), then read the draft before keeping it.
"""
