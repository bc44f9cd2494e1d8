"""schemathesis over the whole OpenAPI, with every check, against a live API.

The API runs over real HTTP (uvicorn on a free port) on a fresh database, the Temporal dev
server and a real portal worker; schemathesis runs as its own process (its CLI, as an operator
would run it) on a fixed seed, three ways: anonymous, as a workshop owner and as the
administrator. The signed-in runs pin `workshop_id` to a workshop with every service covered,
so the generated calls get past the tenant and entitlement checks into the routes' own rules.

`--checks all`, with these limits, and why:
- `positive_data_acceptance` also accepts 402 and 422 for a schema-valid request. Some rules
  depend on stored state or on several fields, which a schema cannot say: a balance that
  covers a price (402 `insufficient-credit`), a VIN's check digit, a VAT number's format for
  the chosen country, a token or code that must exist (422, each with its own problem type).
  Every rule a schema can carry is declared (tests/api_contract/test_client_mistakes.py).
- `POST /auth/logout` and `POST /auth/password-change` are left out of the signed-in runs: they
  end the session the rest of the run signs in with (the anonymous run covers them).
- The station routes (`/stations/{id}/packages/...`, `/stations/{id}/traces/...`) take a
  station's own token, which no run holds: every run sees only their refusals.
- Example counts are bounded (`--max-examples`) and the anonymous run skips the coverage
  phase (its calls stop at the sign-in check; the public routes get it in the signed-in runs),
  to keep the three runs within about three minutes on two cores. The seed is fixed, so a
  failure reproduces with the printed command.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.accounts import Role
from domain.catalogue import Service
from portal_app import create_app
from settings import Settings
from testkit.factories import create_workshop, grant_ticket, sign_in
from testkit.serving import serving_api

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = 20261129
MAX_EXAMPLES = 8
MIN_CASES = 200  # each run generates several hundred or more; fewer means it did not run
# The coverage phase (boundary values of every declared bound) runs signed in, where the calls
# reach the routes; an anonymous caller's calls stop at the sign-in check before any bound.
ANONYMOUS_PHASES = "examples,fuzzing,stateful"
# Routes that end the signed-in session the run depends on.
SESSION_ENDING = "^/auth/(logout|password-change)$"
# What a schema-valid request may still get (positive_data_acceptance): schemathesis's defaults,
# 402 (a valid purchase the balance does not cover), and 422 for the rules a schema cannot
# carry, each with its own problem type: a VIN's check digit, a VAT number's format for its
# country, a token or code that must exist.
ACCEPTED_REFUSALS = ["2xx", "3xx", "401", "402", "403", "404", "409", "422", "429", "5xx"]


async def run_schemathesis(
    base_url: str, tmp_path: Path, *, token: str | None, workshop_id: str | None
) -> tuple[int, str]:
    config = tmp_path / "schemathesis.toml"
    lines = [
        "[generation]",
        "allow-x00 = false",
        'database = "none"',
        "",
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps(ACCEPTED_REFUSALS)}",
    ]
    if workshop_id is not None:
        lines[:0] = [f'parameters = {{ "path.workshop_id" = "{workshop_id}" }}', ""]
    config.write_text("\n".join(lines) + "\n")
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker: schemathesis's workers are threads, and CPython 3.11 before 3.11.9 can fail
        # building ASTs in two threads at once ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--request-timeout",
        "30",
        # Hypothesis's health checks judge the generator (too slow, too much filtered), not the
        # API; against a live API with workflows behind it they fail on speed alone.
        "--suppress-health-check",
        "all",
    ]
    if token is None:
        command += ["--phases", ANONYMOUS_PHASES]
    else:
        command += ["--header", f"Authorization: Bearer {token}"]
        command += ["--exclude-path-regex", SESSION_ENDING]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
            "PYTHONPATH": str(Path(__file__).parent),
        },
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.mark.e2e
@pytest.mark.parametrize("caller", ["anonymous", "owner", "administrator"])
async def test_the_api_keeps_its_openapi_promises(
    caller: str,
    portal_on_dev_server: Settings,
    dev_env: WorkflowEnvironment,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    token: str | None = None
    workshop_id: str | None = None
    if caller != "anonymous":
        workshop_id = await create_workshop(session_factory)
        # Every service covered, so the runs get past the entitlement check into the routes.
        now = datetime.now(UTC)
        for service in Service:
            await grant_ticket(
                session_factory,
                workshop_id,
                now - timedelta(days=1),
                now + timedelta(days=1),
                service,
            )
        role = Role.WORKSHOP_OWNER if caller == "owner" else Role.ADMINISTRATOR
        signed_in = await sign_in(session_factory, role, workshop_id if caller == "owner" else None)
        token = signed_in.token
    # With payload keys, so the codec routes do their work rather than answer 409.
    settings = portal_on_dev_server.model_copy(
        update={"payload_keys": f"k1={base64.b64encode(bytes(32)).decode()}"}
    )
    app = create_app(settings, temporal=dev_env.client)
    async with serving_api(app) as base_url:
        status, output = await run_schemathesis(
            base_url, tmp_path, token=token, workshop_id=workshop_id
        )
    assert status == 0, output
    # A run that tested nothing (no schema, every operation skipped) must not pass.
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None and int(generated.group(1)) >= MIN_CASES, output
    print(f"schemathesis as {caller}: {generated.group(0)} cases, 0 failures")
