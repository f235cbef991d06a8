"""The wheel holds everything `tracker app --demo` needs, and the app starts from it outside a checkout."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    uv = shutil.which("uv")
    assert uv, "uv builds the wheel (README: python3 -m pip install uv)"
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([uv, "build", "--wheel", "--out-dir", str(out), str(REPO)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("healing_tracker-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel unpacked as an installer would lay it out (its dependencies come from this environment)."""
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _python(installed: Path, code: str, cwd: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(installed))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_wheel_ships_the_app_the_pages_and_the_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    pages = {p.name for p in (REPO / "pages").glob("*.py")}
    assert "tracker/web/app/app.py" in names
    assert "tracker/web/app/serve.py" in names
    assert {f"tracker/web/app/pages/{p}" for p in pages} <= names
    assert "tracker/web/app/.streamlit/config.toml" in names
    assert "tracker/sample_images/manifest.csv" in names
    samples = {str(p.relative_to(REPO)) for p in (REPO / "sample_images").rglob("*.jpg")}
    assert {"tracker/" + s for s in samples} <= names
    assert "tracker/recovery/treatments.toml" in names
    assert any(n.startswith("tracker/store/migrations/versions/") for n in names)


def test_outside_a_checkout_the_package_finds_its_app_and_samples(installed, tmp_path):
    found = _python(installed, "import tracker, tracker.web, tracker.services.demo as d; "
                               "print(tracker.__file__); print(tracker.web.app_dir()); print(d.default_samples())",
                    cwd=tmp_path).splitlines()
    package = installed / "tracker"
    assert found == [str(package / "__init__.py"), str(package / "web" / "app"), str(package / "sample_images")]


def _listening_addresses(port: int) -> set[str]:
    """The local addresses (IPv4, dotted) with a socket listening on ``port``, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tracker_app_demo_serves_from_the_installed_package(installed, tmp_path):
    port = _free_port()
    data_dir = tmp_path / "data"
    env = dict(os.environ, PYTHONPATH=str(installed))
    env.pop("TRACKER_DATABASE_URL", None)
    code = ("import sys; from tracker.cli import main; "
            f"sys.argv = ['tracker', '--data-dir', {str(data_dir)!r}, 'app', '--demo', '--port', '{port}']; main()")
    log = (tmp_path / "app.log").open("w")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    health = response.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        output = (tmp_path / "app.log").read_text()
        assert health == "ok", output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200 and b"<html" in response.read().lower()
        assert "Demo sign-ins (simulated patients, not real people):" in output
        assert "dr.rivera" in output and (data_dir / "demo-accounts.txt").exists()
        # This machine only, unless --host says otherwise (issue #13, finding 7); and with the security headers.
        if Path("/proc/net/tcp").exists():
            assert _listening_addresses(port) == {"127.0.0.1"}
        assert f"Starting the app on http://localhost:{port}" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
