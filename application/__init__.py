"""The portal's use cases: plain async functions that the API routes, the console pages, the
bench and the tests all call, so a rule lives in one place.

One module per aggregate or flow (accounts, access, service history, programming, stations,
operations, ...). The convention:

- a use case is `async def verb_noun(resources: AppResources, caller: User, ..., /) -> result`:
  `resources` (`application.resources`) gives the settings, the database and the Temporal
  client; `caller` is who asks, when the answer depends on it; the inputs are typed values or
  one pydantic model;
- it applies the rules (`application.authorization`, `domain/`), reads and writes through the
  `db/` repositories, and starts, updates and queries workflows by their contracts;
- it returns plain values or pydantic models and raises `domain.errors.DomainError`s, which
  the API turns into problem documents and the console into pages;
- it holds no FastAPI, Starlette, Jinja or HTTP type: parsing a request and shaping an answer
  is the route's or the page's job (import-linter keeps it so).
"""
