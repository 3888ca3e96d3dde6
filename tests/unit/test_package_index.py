"""Talking to the package index, pure parts: where uv would look, which releases can install on a
Python, how a failed uv command is classified from its own words, and the bounded retries."""

from __future__ import annotations

import pytest
from packaging.version import Version

from harness.envs import retry
from harness.envs.install import failure_kind, network_failed
from harness.envs.package_index import PYPI_SIMPLE, IndexLocation, Release, index_locations
from harness.errors import BadInput

UV_VARIABLES = ("UV_INDEX", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_NO_INDEX")

#: uv 0.13's own words (stderr, not a terminal) for each kind of failure.
NO_SUCH_VERSION = ("error: No solution found when resolving dependencies\n  cause: Because there is no version of "
                   "harness-exp==9.0 and you require harness-exp==9.0, we can conclude that your requirements are unsatisfiable.")
NO_SUCH_PACKAGE = ("error: No solution found when resolving dependencies\n  cause: Because harness-nope was not found in the "
                   "package registry and you require harness-nope==9.0, we can conclude that your requirements are unsatisfiable.")
SERVER_503 = ("error: Failed to fetch: http://127.0.0.1:8765/simple/harness-exp/\n  cause: HTTP status server error "
              "(503 Service Unavailable) for url (http://127.0.0.1:8765/simple/harness-exp/)")
RESET = ("error: Failed to fetch: http://127.0.0.1:8765/simple/harness-exp/\n  cause: error sending request for url "
         "(http://127.0.0.1:8765/simple/harness-exp/)\n  cause: client error (SendRequest)\n  cause: connection error\n"
         "  cause: Connection reset by peer (os error 104)")
TIMED_OUT = ("error: Failed to fetch: http://127.0.0.1:8765/simple/harness-exp/\n  cause: error sending request for url "
             "(http://127.0.0.1:8765/simple/harness-exp/)\n  cause: operation timed out")
RETRIED_BY_UV = ("error: Request failed after 3 retries in 6.8s\n  cause: Failed to fetch: http://127.0.0.1:8765/simple/harness-exp/\n"
                 "  cause: HTTP status server error (503 Service Unavailable) for url (http://127.0.0.1:8765/simple/harness-exp/)")
FILE_404 = ("error: Failed to fetch: http://127.0.0.1:8765/files/harness_exp-1.0-py3-none-any.whl\n  cause: HTTP status "
            "client error (404 Not Found) for url (http://127.0.0.1:8765/files/harness_exp-1.0-py3-none-any.whl)")


@pytest.fixture
def no_uv_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in UV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def urls(locations: list[IndexLocation]) -> list[str]:
    return [location.where for location in locations]


def test_pypi_is_the_default_index(no_uv_settings: pytest.MonkeyPatch) -> None:
    assert urls(index_locations()) == [PYPI_SIMPLE]


def test_indexes_in_uvs_order(no_uv_settings: pytest.MonkeyPatch) -> None:
    no_uv_settings.setenv("UV_INDEX", "https://a.example/simple/ mine=https://b.example/simple")
    no_uv_settings.setenv("UV_EXTRA_INDEX_URL", "https://c.example/simple https://d.example/simple")
    no_uv_settings.setenv("UV_INDEX_URL", "https://old.example/simple")
    assert urls(index_locations()) == ["https://a.example/simple", "https://b.example/simple", "https://c.example/simple",
                                       "https://d.example/simple", "https://old.example/simple"]
    no_uv_settings.setenv("UV_DEFAULT_INDEX", "https://default.example/simple")  # the newer name wins over UV_INDEX_URL
    assert urls(index_locations())[-1] == "https://default.example/simple"
    # --index-url is the default index: the indexes uv prefers still come first
    assert urls(index_locations("https://given.example/simple"))[-1] == "https://given.example/simple"
    assert urls(index_locations("https://given.example/simple"))[0] == "https://a.example/simple"


def test_a_url_with_an_equals_sign_is_no_index_name(no_uv_settings: pytest.MonkeyPatch) -> None:
    no_uv_settings.setenv("UV_INDEX", "https://a.example/simple?token=x")
    assert urls(index_locations())[0] == "https://a.example/simple?token=x"


def test_a_wheel_folder_replaces_every_index(no_uv_settings: pytest.MonkeyPatch) -> None:
    no_uv_settings.setenv("UV_INDEX", "https://a.example/simple")
    no_uv_settings.setenv("UV_FIND_LINKS", "/wheels")
    no_uv_settings.setenv("UV_NO_INDEX", "1")
    assert index_locations() == [IndexLocation("folder", "/wheels")]


def test_passwords_stay_out_of_messages() -> None:
    assert IndexLocation("url", "https://me:secret@host.example:8443/simple").shown == "https://host.example:8443/simple"
    assert IndexLocation("url", "https://host.example/simple").shown == "https://host.example/simple"


def test_requires_python_decides_which_releases_install() -> None:
    release = Release(Version("1.0"), files=["a.whl", "b.whl"], requires_python=[">=3.99", ">=3.8"])
    assert release.supports_python("3.11.7")  # one file of it fits
    assert not Release(Version("1.0"), files=["a.whl"], requires_python=[">=3.99"]).supports_python("3.11.7")
    assert Release(Version("1.0"), files=["a.whl"], requires_python=[None]).supports_python("3.11.7")
    assert Release(Version("1.0"), files=["a.whl"], requires_python=["not a specifier"]).supports_python("3.11.7")
    assert Release(Version("1.0"), files=["a.whl"], requires_python=[">=3.10,<3.12"]).supports_python("3.10")
    assert Release(Version("1.0"), files=["a.whl", "b.whl"], requires_python=[">=3.99", ">=4"]).python_requirement == ">=3.99 | >=4"


@pytest.mark.parametrize("status, message, kind", [
    (1, NO_SUCH_VERSION, "resolution"),
    (1, NO_SUCH_PACKAGE, "resolution"),
    (2, SERVER_503, "network"),
    (2, RESET, "network"),
    (2, TIMED_OUT, "network"),
    (2, RETRIED_BY_UV, "network"),
    (None, "", "network"),  # the installer did not finish in time
    (1, FILE_404, "other"),  # uv refused the request: a file the index does not have
    (1, SERVER_503, "other"),  # uv's status 1 is never the network's
    (2, "error: Failed to inspect Python interpreter from provided path at `nope`", "other"),
])
def test_failures_are_told_apart_by_uvs_words_and_status(status: int | None, message: str, kind: str) -> None:
    assert failure_kind(status, message) == kind


def test_a_network_failure_is_recognised_by_its_last_line() -> None:
    assert network_failed("error: ...\nthe network failed after 3 tries: Failed to fetch: x")
    assert not network_failed(NO_SUCH_VERSION) and not network_failed("")


class Flaky:
    """An attempt that fails on the network ``failures`` times, then returns ``"done"``."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise retry.Transient(f"reset {self.calls}")
        return "done"


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(retry.time, "sleep", slept.append)
    return slept


def test_a_transient_failure_is_tried_again_with_growing_pauses(pauses: list[float]) -> None:
    notes: list[str] = []
    attempt = Flaky(2)
    assert retry.with_retries(attempt, notes.append, retry.RetryPolicy(tries=3, first_pause_s=5)) == "done"
    assert attempt.calls == 3 and pauses == [5, 10]
    assert notes == ["try 1 of 3 failed on the network (reset 1); trying again in 5 s",
                     "try 2 of 3 failed on the network (reset 2); trying again in 10 s"]


def test_retries_are_bounded(pauses: list[float]) -> None:
    attempt = Flaky(10)
    with pytest.raises(retry.Transient) as raised:
        retry.with_retries(attempt, None, retry.RetryPolicy(tries=3, first_pause_s=1))
    assert attempt.calls == 3 and raised.value.tries == 3 and raised.value.reason == "reset 3" and pauses == [1, 2]


def test_other_failures_are_never_retried(pauses: list[float]) -> None:
    calls: list[int] = []

    def unsatisfiable() -> str:
        calls.append(1)
        raise ValueError("no such version")

    with pytest.raises(ValueError):
        retry.with_retries(unsatisfiable, None, retry.RetryPolicy(tries=3))
    assert calls == [1] and pauses == []


def test_the_retry_policy_comes_from_the_environment() -> None:
    assert retry.retry_policy({}) == retry.RetryPolicy(retry.TRIES, retry.FIRST_PAUSE_S)
    assert retry.retry_policy({"HARNESS_NETWORK_TRIES": "5", "HARNESS_NETWORK_PAUSE_S": "0.5"}) == retry.RetryPolicy(5, 0.5)


@pytest.mark.parametrize("variables, fragment", [
    ({"HARNESS_NETWORK_TRIES": "0"}, "$HARNESS_NETWORK_TRIES is '0'; it must be a whole number, at least 1."),
    ({"HARNESS_NETWORK_TRIES": "two"}, "$HARNESS_NETWORK_TRIES is 'two'"),
    ({"HARNESS_NETWORK_PAUSE_S": "-1"}, "it must be a number of seconds, at least 0."),
    ({"HARNESS_NETWORK_PAUSE_S": "inf"}, "$HARNESS_NETWORK_PAUSE_S is 'inf'"),
    ({"HARNESS_NETWORK_PAUSE_S": "nan"}, "$HARNESS_NETWORK_PAUSE_S is 'nan'"),
])
def test_a_bad_retry_setting_is_one_line(variables: dict[str, str], fragment: str) -> None:
    with pytest.raises(BadInput) as raised:
        retry.retry_policy(variables)
    assert fragment in str(raised.value) and "\n" not in str(raised.value)
