"""`mpesa-lab lab`: JupyterLab on the course, from a clone and from an installed wheel.

Both runs are real: a source tree (the project's files, plus its notebooks/ or, while that folder
is empty on this branch, a small generated notebook) started with ``python -m mpesa_lab.cli lab``;
and a wheel built from that tree, installed with ``--no-deps --target`` and started the same way.
Each must answer HTTP with the course in its file browser, and stop cleanly on Ctrl-C (SIGINT).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest

from mpesa_lab.notebook_server import copy_course, course_files

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120.0


def write_notebook(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    nbformat.write(nb, path)


# --------------------------------------------------------------------------------------------
# Copying the course: never over a learner's file


def test_copy_course_keeps_the_learners_edits(tmp_path):
    shipped, work = tmp_path / "shipped", tmp_path / "work"
    write_notebook(shipped / "01-journey.ipynb", "shipped one")
    write_notebook(shipped / "02-token.ipynb", "shipped two")
    write_notebook(shipped / "solutions" / "02-token.ipynb", "solution")
    (shipped / "source").mkdir()
    (shipped / "source" / "02_token.py").write_text("# authoring source, not for learners")
    write_notebook(shipped / ".ipynb_checkpoints" / "01-journey-checkpoint.ipynb", "checkpoint")
    write_notebook(work / "01-journey.ipynb", "MY EDITS")

    result = copy_course(shipped, work)
    assert sorted(result.copied) == ["02-token.ipynb"]
    assert result.kept == ["01-journey.ipynb"]
    assert "MY EDITS" in (work / "01-journey.ipynb").read_text()
    assert not (work / "source").exists() and not (work / ".ipynb_checkpoints").exists()
    assert not (work / "solutions").exists()  # a learner's copy holds no answers
    # again: nothing new to copy, nothing overwritten
    again = copy_course(shipped, work)
    assert again.copied == [] and len(again.kept) == 2


def test_course_files_are_the_learners_files(tmp_path):
    write_notebook(tmp_path / "00-start.ipynb", "x")
    (tmp_path / "README.md").write_text("# course")
    (tmp_path / "build.py").write_text("")
    assert [str(p) for p in course_files(tmp_path)] == ["00-start.ipynb", "README.md"]


# --------------------------------------------------------------------------------------------
# Running it for real


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory) -> Path:
    """A clone-like source tree: the project's files and a notebooks/ folder with the course."""
    root = tmp_path_factory.mktemp("clone") / "mpesa-lab"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "mpesa_lab", root / "mpesa_lab", ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, root / name)
    course = REPO / "notebooks"
    if course.is_dir() and any(course.glob("*.ipynb")):
        shutil.copytree(course, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    else:  # this branch has no course yet: a small stand-in notebook
        write_notebook(root / "notebooks" / "00-lab-smoke.ipynb", "# mpesa-lab lab smoke test")
    shutil.copytree(REPO / "data", root / "data", ignore=ignore)
    return root


def jupyter_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        folder = tmp_path / name.lower()
        folder.mkdir(exist_ok=True)
        env[name] = str(folder)
    env["MPESA_LAB_HOME"] = str(tmp_path / "home")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_and_stop(env: dict[str, str], cwd: Path, *args: str) -> tuple[list[str], str, dict]:
    """Start `mpesa-lab lab`, check it answers, list its files, press Ctrl-C; return what it printed."""
    port = free_port()
    command = [sys.executable, "-m", "mpesa_lab.cli", "lab", "--no-browser", "--port", str(port), *args]
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        url = None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            match = re.match(r"Open (http://127\.0\.0\.1:\d+/lab\?token=\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, f"no URL printed: {lines}"
        assert f":{port}/" in url
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "JupyterLab" in page.text
        token = url.split("token=")[1]
        contents = httpx.get(f"http://127.0.0.1:{port}/api/contents", params={"token": token}, timeout=30).json()
        # Ctrl-C: only this process gets it (its own session), it stops JupyterLab itself
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        lines += rest.splitlines()
        assert process.returncode == 0, lines
        assert "Stopped." in lines
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2)
        return lines, url, contents
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def names(contents: dict) -> set[str]:
    return {item["name"] for item in contents["content"]}


def test_from_a_clone_opens_notebooks_in_place(source_tree, tmp_path):
    env = jupyter_env(tmp_path, PYTHONPATH=str(source_tree))
    lines, _url, contents = run_and_stop(env, tmp_path)
    assert f"JupyterLab is running on {source_tree / 'notebooks'}" in lines
    expected = {p.name for p in (source_tree / "notebooks").glob("*.ipynb")}
    assert expected and expected <= names(contents)
    assert not (tmp_path / "home" / "notebooks").exists()  # nothing copied from a clone


def test_from_an_installed_wheel_copies_then_opens(source_tree, tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source_tree)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(wheels.glob("mpesa_lab-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    shipped = sorted(p.name for p in (target / "mpesa_lab" / "notebooks").glob("*.ipynb"))
    assert shipped == sorted(p.name for p in (source_tree / "notebooks").glob("*.ipynb"))
    assert not (target / "mpesa_lab" / "notebooks" / "source").exists()
    assert not (target / "mpesa_lab" / "notebooks" / "solutions").exists()  # answers stay in the clone
    shipped_data = target / "mpesa_lab" / "notebooks" / "data"
    assert sorted(shipped_data.joinpath("week").rglob("*.parquet")), "data/week ships for notebook 07"
    assert (shipped_data / "messy_callbacks.jsonl").is_file()

    env = jupyter_env(tmp_path, PYTHONPATH=str(target))
    work = tmp_path / "home" / "notebooks"
    edited = work / shipped[0]
    write_notebook(edited, "MY OWN NOTES")  # a learner's edited copy from an earlier run
    probe = subprocess.run(
        [sys.executable, "-c", "import mpesa_lab; print(mpesa_lab.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().startswith(str(target))  # the installed wheel, not this checkout

    lines, _url, contents = run_and_stop(env, tmp_path)
    assert f"JupyterLab is running on {work}" in lines
    assert any("1 of yours kept" in line for line in lines), lines
    assert "MY OWN NOTES" in edited.read_text()
    assert set(shipped) <= names(contents)
    assert sorted((work / "data" / "week").rglob("*.parquet"))  # where course.dataset("week") looks


def test_dir_wins_and_a_missing_dir_says_so(tmp_path):
    from mpesa_lab.notebook_server import NotebookServerError, resolve_folder

    assert resolve_folder(tmp_path) == (tmp_path.resolve(), None)
    with pytest.raises(NotebookServerError, match="--dir"):
        resolve_folder(tmp_path / "nope")


def test_the_lab_opens_without_the_news_pop_up(tmp_path, monkeypatch):
    import json

    from mpesa_lab.notebook_server import lab_command

    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))
    command = lab_command(tmp_path, "127.0.0.1", 8888, False)
    folder = Path(next(a for a in command if a.startswith("--LabApp.app_settings_dir=")).split("=", 1)[1])
    overrides = json.loads((folder / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


# --- the token is private; a busy port is named (issue 19 item 2, issue 18 item 12) ----------


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (from /proc: parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def all_command_lines() -> dict[int, bytes]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:
                pass
    return out


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_the_jupyter_token_is_on_no_command_line(source_tree, tmp_path):
    """`ps -eo args` shows every user every process's arguments: the token must not be there,
    neither the server's nor any child's (a kernel started through the API), and the URL printed
    still opens the lab while a request without the token is refused. Before: the token was
    `--IdentityProvider.token=...` on JupyterLab's command line."""
    env = jupyter_env(tmp_path, PYTHONPATH=str(source_tree))
    port = free_port()
    command = [sys.executable, "-m", "mpesa_lab.cli", "lab", "--no-browser", "--port", str(port)]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        url, lines, deadline = None, [], time.monotonic() + START_TIMEOUT
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.match(r"Open (http://127\.0\.0\.1:\d+/lab\?token=(\S+))", line)
            if match:
                url, token = match.group(1), match.group(2)
        assert url, f"no URL printed: {lines}"
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(url, timeout=30).status_code == 200
        assert httpx.get(f"{base}/api/contents", params={"token": token}, timeout=30).status_code == 200
        assert httpx.get(f"{base}/api/contents", timeout=30).status_code == 403
        assert httpx.get(f"{base}/api/contents", params={"token": "x" + token}, timeout=30).status_code == 403
        kernel = httpx.post(f"{base}/api/kernels", params={"token": token}, json={"name": "python3"}, timeout=60)
        assert kernel.status_code == 201
        tree = process_tree(process.pid)
        assert len(tree) >= 3  # mpesa-lab, JupyterLab, the kernel
        leaks = {pid: line for pid, line in all_command_lines().items() if token.encode() in line}
        assert leaks == {}
        # Nor in their environments (a kernel would hand it to every subprocess and `%env`), and
        # the file it came in is gone once the lab answered.
        for pid in tree:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert token.encode() not in environ, pid
            names = dict(item.split(b"=", 1) for item in environ.split(b"\0") if b"=" in item)
            if b"JUPYTER_TOKEN_FILE" in names:
                assert not Path(names[b"JUPYTER_TOKEN_FILE"].decode()).exists()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_busy_port_is_named_with_a_free_one_to_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = jupyter_env(tmp_path)
        done = subprocess.run(
            [sys.executable, "-m", "mpesa_lab.cli", "lab", "--no-browser", "--port", str(port), "--dir", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert f"port {port} on 127.0.0.1 is already in use" in message, message
    suggested = int(re.search(r"mpesa-lab lab --port (\d+)", message).group(1))
    assert suggested != port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", suggested))  # it was free (and still is)
    assert "Traceback" not in done.stderr


def test_port_is_free_and_busy_message():
    from mpesa_lab.notebook_server import port_busy_message, port_is_free

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        message = port_busy_message("127.0.0.1", port)
    assert message.startswith(f"port {port} on 127.0.0.1 is already in use")
    assert "--port" in message
    assert port_is_free("127.0.0.1", port)


@pytest.mark.parametrize(
    ("platform", "options"),
    [
        ("linux", {"start_new_session": True}),
        ("darwin", {"start_new_session": True}),
        ("win32", {"creationflags": 0x200}),  # CREATE_NEW_PROCESS_GROUP: Windows has no sessions
    ],
)
def test_jupyterlab_runs_apart_from_the_terminals_ctrl_c_on_every_os(monkeypatch, platform, options):
    from mpesa_lab.notebook_server import own_session

    monkeypatch.setattr(sys, "platform", platform)
    assert own_session() == options
