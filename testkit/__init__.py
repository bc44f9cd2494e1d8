"""What the tests and the benchmarks both use to set up a portal: records written straight to the
database (`factories`), the API in-process or over HTTP (`serving`), an owner's steps through the
API (`portal_api`), and a station's token and gateway (`station_gateway`). Never imported by the
product (import-linter checks it)."""
