"""scripts/setup.sh's `with_progress` (the step that installs torch), run in isolation: away
from a terminal it prints a line every few seconds with how long the step has run and what it
last printed, then `done`; a failing step's output is shown in full and its exit code kept.
(setup.sh itself is not run: it installs packages.)"""

from __future__ import annotations

import subprocess

from .conftest import REPO

SETUP = REPO / "scripts" / "setup.sh"
# Only the function's lines, taken from setup.sh between its markers, under setup.sh's own options.
LOAD = f'set -euo pipefail; eval "$(sed -n "/^# -- progress/,/^# -- end progress/p" {SETUP})"; '


def run_step(step: str, tmp_path) -> subprocess.CompletedProcess:
    (tmp_path / ".venv").mkdir(exist_ok=True)
    return subprocess.run(["bash", "-c", LOAD + step], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "SETUP_PROGRESS_EVERY": "1"})


def test_a_long_step_prints_what_it_is_doing_while_it_runs(tmp_path):
    done = run_step('with_progress "installing torch" bash -c "echo Collecting torch; sleep 2.5; '
                    'printf \'Downloading torch.whl (190 MB)\\r\\n\'; sleep 2"', tmp_path)
    lines = done.stdout.splitlines()
    assert (0, "setup: installing torch", True) == (done.returncode, lines[0], lines[-1].startswith(
        "setup: installing torch: done in "))
    middle = lines[1:-1]
    assert len(middle) >= 3 and all(" s so far; " in line and ".venv " in line for line in middle)
    assert ("Collecting torch" in middle[0], "Downloading torch.whl (190 MB)" in middle[-1]) == (True, True)


def test_a_failing_step_shows_its_output_and_keeps_its_exit_code(tmp_path):
    done = run_step('with_progress "installing torch" bash -c "echo no such version; exit 3" || echo "rc=$?"',
                    tmp_path)
    assert ("rc=3", True, True) == (done.stdout.splitlines()[-1], "no such version" in done.stderr,
                                    "failed (exit 3)" in done.stderr)
