"""Mail delivery: how the portal's mail leaves it (SMTP, or the outbox table in the embedded
mode).

Not in `db/`, which holds the database and nothing else: sending mail is talking to the world.
The outbox is a table, so its reads and writes stay in `db.outbox`; the sender that chooses it
lives here. Used by the use cases (`application/`) and the `send_mail` activity, so it sits
below both, above `db`.
"""
