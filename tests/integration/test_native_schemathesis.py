"""schemathesis against the LIVE native API (issue 9 "Shape of the API"): a real uvicorn on
loopback serving its own copy of the test library, every operation of /api/v1/openapi.json
fuzzed statelessly (valid and invalid inputs) with an API key: no 5xx, and every response fits
the document (status code, content type, body schema).

GET /events is left out: a Server-Sent Events stream never ends, so a fuzzer's request to it
would wait forever (tests/integration/test_native_events.py covers it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from orbsonic.scanner.scanner import scan
from tests.conftest import ADMIN, LiveServer, add_users, clone_db, make_app
from tests.integration.native_client import api_key_for

EXAMPLES = 25  # per operation and mode: a few hundred in all
CHECKS = [checks.not_a_server_error, openapi_checks.status_code_conformance,
          openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_server(pg: Any, template_url: str, test_library: tuple[Path, Any],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    url = clone_db(pg, template_url)  # its own database: the fuzzer creates keys, reports playback …
    scan(url, [test_library[0]], workers=2)
    data = tmp_path_factory.mktemp("fuzzdata")
    add_users(url, data)
    key = api_key_for(url, ADMIN[0])
    with LiveServer(make_app(url, data, (test_library[0],))) as server:
        yield server, key


@pytest.mark.slow  # about a minute with every route registered (2 modes × 25 examples per operation)
def test_live_native_api_conforms_to_its_openapi_document(fuzzed_server: tuple[LiveServer, str]) -> None:
    server, key = fuzzed_server
    schema = schemathesis.openapi.from_url(server.url + "/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    ran: list[str] = []
    calls: list[int] = []
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path == "/api/v1/events":
            continue
        if op.method.upper() == "DELETE" and op.path == "/api/v1/api-keys/{key_id}":
            continue  # would revoke the run's own key; covered by test_native_base
        ran.append(f"{op.method.upper()} {op.path}")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def fuzz(case: Any) -> None:
                r = case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS)
                calls.append(r.status_code)

            fuzz()
    assert "GET /api/v1/sync" in ran and "POST /api/v1/playback" in ran, ran
    assert len(calls) >= 200 and any(c < 300 for c in calls) and any(400 <= c < 500 for c in calls), calls
    print(f"\nschemathesis: {len(calls)} requests over {len(ran)} operations; statuses {sorted(set(calls))}")
