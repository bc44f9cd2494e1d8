"""The workshop console: server-rendered pages for the people at the counter and at the car.

Served by the API app under `/console/` (`console.app.install_console`). The pages call the
same repositories (`db/`), domain rules (`domain/`) and workflow calls (`application.workflow_calls`)
as the JSON API; they hold no rule of their own. See `console/FOUNDATION.md`.
"""
