"""The offline install: `mpesa-lab workshop wheelhouse` against a small local registry, the
wheelhouse served read-only by the workshop server, and a real offline install from it.

The registry is a folder of small wheels made here: a project (``tinyproj``, standing for
mpesa-lab's own wheel) that needs ``tinydep``, whose wheels exist for Linux x86-64, Windows and
macOS arm64 but not Linux arm64. Real pip downloads per platform; real pip and uv install from the
served URL into fresh venvs with no index. The full-size path (mpesa-lab's own wheelhouse from
the public registry, an offline install, notebook 04) is bench/bench_wheelhouse.py: it downloads
~200 MB, too much for a test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from mpesa_lab.workshop import WorkshopServer
from mpesa_lab.workshop.files import NotAWheelhouse
from mpesa_lab.workshop.install import install_lines
from mpesa_lab.workshop.wheelhouse import WheelhouseError, build_wheelhouse, platform_named

DEP_TAGS = ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-win_amd64", "cp311-cp311-macosx_11_0_arm64")


def make_wheel(folder: Path, name: str, tag: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal valid wheel: one module, METADATA, WHEEL and RECORD."""
    dist = f"{name}-1.0"
    path = folder / f"{dist}-{tag}.whl"
    files = {
        f"{name}/__init__.py": f"WHERE = {tag!r}\n",
        f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\nName: {}\nVersion: 1.0\n{}".format(
            name, "".join(f"Requires-Dist: {r}\n" for r in requires)
        ),
        f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        record = "".join(f"{member},,\n" for member in files) + f"{dist}.dist-info/RECORD,,\n"
        archive.writestr(f"{dist}.dist-info/RECORD", record)
    return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> tuple[Path, Path]:
    """(a folder of wheels standing for the registry, the project's wheel)."""
    folder = tmp_path_factory.mktemp("registry")
    for tag in DEP_TAGS:
        make_wheel(folder, "tinydep", tag)
    project = make_wheel(tmp_path_factory.mktemp("dist"), "tinyproj", "py3-none-any", requires=("tinydep",))
    return folder, project


def pip_env() -> dict[str, str]:
    """pip without this machine's configuration (its find-links and extra indexes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_CONFIG="1")
    return env


@pytest.fixture(scope="module")
def house(registry, tmp_path_factory) -> Path:
    folder, project = registry
    root = tmp_path_factory.mktemp("house")
    source = tmp_path_factory.mktemp("source")  # a clone's course: notebooks and data
    (source / "notebooks").mkdir()
    (source / "notebooks" / "04-first-push.ipynb").write_text("{}")
    (source / "data" / "week").mkdir(parents=True)
    (source / "data" / "week" / "day1.jsonl").write_text("{}\n")
    old = os.environ.copy()
    os.environ.clear()
    os.environ.update(pip_env())
    try:
        built = build_wheelhouse(
            root / "wh",
            ["linux-x86_64", "windows-amd64", "macos-arm64", "linux-aarch64"],
            source=source,
            project_wheel=project,
            extra=(),
            pip_args=["--no-index", "--find-links", str(folder)],
        )
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert built.platforms == ["linux-x86_64", "windows-amd64", "macos-arm64"]
    return built.folder


def test_a_wheelhouse_holds_each_platforms_wheels_and_says_which_failed(house):
    names = sorted(p.name for p in (house / "wheels").glob("*.whl"))
    assert names == sorted(["tinyproj-1.0-py3-none-any.whl"] + [f"tinydep-1.0-{tag}.whl" for tag in DEP_TAGS])
    manifest = json.loads((house / "wheelhouse.json").read_text())
    assert manifest["python_version"] == "3.11" and manifest["project_wheel"] == "tinyproj-1.0-py3-none-any.whl"
    # no tinydep for Linux arm64 in the registry: that platform is reported, the others built
    assert list(manifest["failed"]) == ["linux-aarch64"] and "tinydep" in manifest["failed"]["linux-aarch64"]
    index = (house / "wheels" / "index.html").read_text()
    assert all(f'href="{name}"' in index for name in names)
    with zipfile.ZipFile(house / "course.zip") as course:
        assert course.namelist() == [
            "mpesa-lab-course/notebooks/04-first-push.ipynb",
            "mpesa-lab-course/data/week/day1.jsonl",
        ]
    guide = (house / "INSTALL.md").read_text()
    for line in (
        "python3.11 -m venv .venv && .venv/bin/python -m pip install --no-index --find-links wheels mpesa-lab",
        r"py -3.11 -m venv .venv; .venv\Scripts\python.exe -m pip install --no-index --find-links wheels mpesa-lab",
        r"py -3.11 -m venv .venv && .venv\Scripts\python.exe -m pip install --no-index --find-links wheels mpesa-lab",
        "--offline --no-index --find-links wheels mpesa-lab",
    ):
        assert line in guide


def test_every_platform_fails_is_one_clear_error(registry, tmp_path):
    folder, project = registry
    with pytest.raises(WheelhouseError, match="no platform could be built: linux-aarch64: .*tinydep"):
        build_wheelhouse(
            tmp_path / "wh",
            ["linux-aarch64"],
            project_wheel=project,
            extra=(),
            pip_args=["--no-index", "--find-links", str(folder)],
        )
    with pytest.raises(WheelhouseError, match="unknown platform 'amiga'"):
        platform_named("amiga")
    assert platform_named("linux-arm64").name == "linux-aarch64"


def test_install_lines_per_shell_over_http_trust_the_host():
    url = "http://192.0.2.10:8000/install/wheels/"
    assert install_lines("bash", "3.11", url) == (
        "python3.11 -m venv .venv && .venv/bin/python -m pip install --no-index --find-links "
        f"{url} --trusted-host 192.0.2.10 mpesa-lab"
    )
    powershell = install_lines("powershell", "3.11", url, tool="uv")
    assert "&&" not in powershell  # Windows PowerShell 5 has no &&
    assert powershell.endswith(
        rf".venv\Scripts\uv.exe pip install --python .venv\Scripts\python.exe --no-index --find-links {url} mpesa-lab"
    )
    with pytest.raises(ValueError, match="shell must be one of"):
        install_lines("fish", "3.11", url)


@pytest.fixture
def served(house, tmp_path):
    server = WorkshopServer(tmp_path / "room", participants=1, wheelhouse=house, name="wheelhouse-test").start()
    try:
        yield server
    finally:
        server.stop()


def test_a_fresh_venv_installs_from_the_served_wheelhouse_with_no_index(served, tmp_path):
    wheels = f"{served.url}/install/wheels/"
    page = httpx.get(f"{served.url}/install/", trust_env=False)
    assert page.status_code == 200
    assert f"--find-links {wheels} --trusted-host 127.0.0.1 mpesa-lab" in page.text
    env = pip_env()
    venv = tmp_path / "venv"
    # A fresh venv with nothing in it; this pip installs into it (pip --python), as its own would.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--find-links", wheels]
    pip += ["--trusted-host", "127.0.0.1"]
    done = subprocess.run([*pip, "tinyproj"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    where = subprocess.run([str(python), "-c", "import tinydep; print(tinydep.WHERE)"], capture_output=True, text=True)
    assert where.stdout.strip() == "cp311-cp311-manylinux_2_17_x86_64"
    # uv, over the same URL, into another fresh venv
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv, "uv is in the test extra (pip install -e '.[test]')"
    subprocess.run([uv, "venv", "-q", str(tmp_path / "venv-uv")], check=True, env=env)
    done = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(tmp_path / "venv-uv" / "bin" / "python"), "--no-index",
         "--find-links", wheels, "tinyproj"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def raw_get(url: str, target: str, method: str = "GET") -> tuple[int, bytes]:
    """Send ``target`` as written (no client-side normalisation of ``..`` or escapes)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode()
        )
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[-1]


def test_the_served_wheelhouse_is_read_only_and_never_leaves_its_folder(served, house, tmp_path):
    secret = b"room secret 7f3a"
    (house.parent / "secret.txt").write_bytes(secret)  # beside the wheelhouse
    (house / "notes.txt").write_bytes(secret)  # inside it, but not a served name
    link = house / "wheels" / "link.whl"
    link.symlink_to(house.parent / "secret.txt")  # a symlink out of the folder
    try:
        url = served.url
        assert raw_get(url, "/install/wheelhouse.json")[0] == 200
        assert raw_get(url, "/install/wheels/")[1].count(b".whl</a>") == 4
        for target in (
            "/install/../secret.txt",
            "/install/wheels/../../secret.txt",
            "/install/%2e%2e/secret.txt",
            "/install/wheels/%2e%2e%2f%2e%2e%2fsecret.txt",
            "/install/wheels/..%5c..%5csecret.txt",
            "/install/wheels/link.whl",
            "/install/notes.txt",
            "/install//etc/passwd",
            "/install/wheels/%00",
            "/install/../room/roster.json",
            "/install/C:%5cWindows%5cwin.ini",
        ):
            status, body = raw_get(url, target)
            assert status in (400, 404), (target, status)
            assert secret not in body and b"consumer_secret" not in body, target
        for method in ("POST", "PUT", "DELETE"):
            assert raw_get(url, "/install/wheels/tinyproj-1.0-py3-none-any.whl", method)[0] == 405
        assert (house / "wheels" / "tinyproj-1.0-py3-none-any.whl").stat().st_size > 0
    finally:
        link.unlink()


def test_the_cards_are_served_to_the_facilitator_only(served):
    url = f"{served.url}/_workshop/cards"
    assert httpx.get(url, trust_env=False).json()["errorCode"] == "404.001.03"
    creds = served.credentials("p01")
    as_participant = httpx.get(url, auth=(creds["consumer_key"], creds["consumer_secret"]), trust_env=False)
    assert as_participant.status_code == 401
    page = httpx.get(url, headers={"Authorization": f"Bearer {served.facilitator_token}"}, trust_env=False)
    assert page.status_code == 200 and creds["consumer_secret"] in page.text
    # every card says where to install from and how to check the room, on every OS
    assert f"open <code>{served.url}/install/</code>" in page.text
    assert ".venv/bin/mpesa-lab workshop check .env" in page.text
    assert r".venv\Scripts\mpesa-lab workshop check .env" in page.text


def test_a_folder_that_is_not_a_wheelhouse_is_refused(tmp_path, capsys):
    with pytest.raises(
        NotAWheelhouse,
        match=r"is not a wheelhouse \(no readable wheelhouse.json\): build one with `mpesa-lab workshop wheelhouse ",
    ):
        WorkshopServer(tmp_path / "room", wheelhouse=tmp_path)
    from mpesa_lab.cli import main

    serve = ["workshop", "serve", "--port", "0", "--dir", str(tmp_path / "room"), "--wheelhouse", str(tmp_path)]
    assert main(serve) == 2  # one line, no server left running
    assert "is not a wheelhouse" in capsys.readouterr().err


def test_docs_and_readme_give_the_lines_the_code_gives():
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "workshop.md").read_text(encoding="utf-8")
    for shell in ("bash", "powershell", "cmd"):
        assert install_lines(shell, "3.11", "wheels") in doc, shell
    assert install_lines("bash", "3.11", "wheels", tool="uv") in doc
