import subprocess
import sys
from pathlib import Path

import pytest

from hub.stack.process import (
    StackError,
    alive,
    port_open,
    read_pid,
    run,
    spawn,
    tail,
    terminate,
)
from tests.fixtures.services import free_port


def test_error_names_component_command_and_log() -> None:
    error = StackError("kafka", "exited with status 1", ["java", "-cp", "x"], "line one\nline two")
    text = str(error)
    assert text.startswith("kafka: exited with status 1")
    assert "command: java -cp x" in text
    assert "    line two" in text


def test_run_failure_carries_the_output_tail() -> None:
    script = "import sys; print('boom at the end'); sys.exit(3)"
    with pytest.raises(StackError) as caught:
        run("opa", [sys.executable, "-c", script])
    assert "exited with status 3" in str(caught.value)
    assert "boom at the end" in caught.value.log


def test_run_reports_a_missing_program() -> None:
    with pytest.raises(StackError, match="program not found: no-such-program-xyz"):
        run("opa", ["no-such-program-xyz"])


def test_run_times_out() -> None:
    with pytest.raises(StackError, match="timed out"):
        run("postgres", [sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5)


def test_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)), encoding="utf-8")
    assert tail(log, 3).splitlines() == ["line 97", "line 98", "line 99"]
    assert tail(tmp_path / "absent.log") == ""


def test_spawned_process_is_found_and_terminated(tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    pid = spawn(
        "demo",
        [sys.executable, "-c", "import time; time.sleep(60)", marker],
        tmp_path / "out.log",
        tmp_path / "demo.pid",
    )
    assert read_pid(tmp_path / "demo.pid") == pid
    assert alive(pid, marker)
    assert not alive(pid, "somebody-else's-marker")
    terminate("demo", pid, marker, timeout=10)
    assert not alive(pid, marker)


def test_terminate_escalates_to_sigkill(tmp_path: Path) -> None:
    marker = str(tmp_path / "stubborn")
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    pid = spawn(
        "demo", [sys.executable, "-c", code, marker], tmp_path / "o.log", tmp_path / "p.pid"
    )
    terminate("demo", pid, marker, timeout=1)
    assert not alive(pid, marker)


def test_free_port_is_closed_until_someone_listens() -> None:
    port = free_port()
    assert not port_open(port)
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            if port_open(port):
                break
            subprocess.run([sys.executable, "-c", "import time; time.sleep(0.1)"], check=True)
        assert port_open(port)
    finally:
        server.terminate()
        server.wait(10)
