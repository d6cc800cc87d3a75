"""orbsonic.check probes on real files and sockets: each problem is one sentence that names
the cause and the fix, and a healthy subject is None."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from orbsonic.check import dir_problem, folder_problem, open_urls, port_problem, redact_url, url_problem


def test_dir_problem(tmp_path: Path) -> None:
    assert dir_problem(tmp_path / "new" / "deeper") is None and (tmp_path / "new" / "deeper").is_dir()
    assert dir_problem(tmp_path / "later", create=False) is None and not (tmp_path / "later").exists()
    (tmp_path / "file").write_text("x")
    problem = dir_problem(tmp_path / "file")
    assert problem and "is not a directory" in problem and str(tmp_path / "file") in problem
    problem = dir_problem(tmp_path / "file" / "below")
    assert problem and "is not a directory" in problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a mode-555 directory anyway")
def test_dir_problem_of_ones_own_read_only_dir(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    problem = dir_problem(d)
    assert problem and "is yours" in problem and "0555" in problem and "chmod u+w" in problem


def test_folder_problem(tmp_path: Path) -> None:
    assert folder_problem(tmp_path / "nope") == f"music folder {tmp_path / 'nope'} does not exist"
    (tmp_path / "f").write_text("")
    assert folder_problem(tmp_path / "f") == f"music folder {tmp_path / 'f'} is not a directory"
    (tmp_path / "empty").mkdir()
    assert folder_problem(tmp_path / "empty") == f"music folder {tmp_path / 'empty'} is empty"
    assert folder_problem(tmp_path / "empty", empty_ok=True) is None
    assert folder_problem(tmp_path) is None


def test_port_problem() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        problem = port_problem("127.0.0.1", port)
        assert problem and "already in use" in problem and "--port" in problem and "ORBSONIC_PORT" in problem
    assert port_problem("127.0.0.1", port) is None  # free again once closed
    problem = port_problem("192.0.2.254", port)  # TEST-NET-1: no machine here has it
    if problem is not None:  # (unless the test network is configured locally)
        assert "not an address of this machine" in problem and "ORBSONIC_HOST" in problem
    problem = port_problem("no-such-host.invalid", port)
    assert problem and "cannot be resolved" in problem


def test_open_urls() -> None:
    assert open_urls("127.0.0.1", 4040) == ["http://127.0.0.1:4040/"]
    assert open_urls("::1", 4040) == ["http://[::1]:4040/"]
    urls = open_urls("0.0.0.0", 4041)
    assert urls[0] == "http://localhost:4041/"
    assert not any("0.0.0.0" in u or "127.0.0.1" in u or "169.254." in u for u in urls)


def test_database_urls() -> None:
    assert url_problem("postgresql://u:pw@db.example:5432/music") is None
    assert url_problem("host=db port=5432 dbname=music") is None
    assert "not a valid PostgreSQL URL" in (url_problem("foo") or "")
    assert "invalid port" in (url_problem("postgresql://u@h:http/db") or "")
    assert redact_url("postgresql://u:secret@db.example:5433/music") == "u@db.example:5433/music"
