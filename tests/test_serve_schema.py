"""Property tests of the API from its own OpenAPI schema (schemathesis): every operation, a bounded
number of generated requests each, valid and invalid; no 500, and every answer as documented.

Half the requests that name a video name a real one (generated ids are all unknown: 404), so the
tasks and media are reached too. The app runs with a token, as it would off loopback."""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from serve_support import built_library
from vidmm.serve import ServeOptions, create_app

TOKEN = "schemathesis-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 8  # per operation and generation mode: bounded, the suite stays quick


@pytest.fixture(scope="module")
def api_app(tmp_path_factory, lite):
    built = built_library(tmp_path_factory, lite)
    options = ServeOptions(db=built.db, host="0.0.0.0", token=TOKEN, cache=tmp_path_factory.mktemp("schema-thumbs"))
    app = create_app(options, model=lite)
    videos = app.state.served.library.snapshot().videos
    app.state.real_id = next(v.video_id for v in videos if v.path.endswith("cat.mp4"))
    return app


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_breaks_the_api(api_app, mode):
    """Every operation in turn (schemathesis' pytest plugin does not run on this pytest: its
    strategies are driven with hypothesis directly); all failures are collected, then reported."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app, headers=AUTH)
    broken: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:
        turn = itertools.count()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def check(case):
            if "video_id" in (case.path_parameters or {}) and next(turn) % 2:
                case.path_parameters["video_id"] = api_app.state.real_id
            response = case.call_and_validate(headers=AUTH)
            assert response.status_code < 500

        try:
            check()
        except Unsatisfiable:  # no invalid request exists (a path id may be any string): nothing to try
            assert mode == GenerationMode.NEGATIVE, operation.label
        except Exception as err:  # noqa: BLE001 — gathered, reported together below
            broken[operation.label] = f"{type(err).__name__}: {err}"[:2000]
    assert not broken, "\n\n".join(f"{label}: {why}" for label, why in broken.items())
