"""Run benchmarks/ws_load.py on the embedded default and on the scaled set-up (2 servers, 2 workers), side by side."""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALED = ROOT / "scripts" / "scaled.sh"
PATTERNS = {
    "learners held": r"^connected: (\d+)/\d+",
    "frames sent": r"^frames sent:\s+(\d+)",
    "analysed": r"^analysed:\s+(\d+)",
    "dropped": r"^dropped:\s+(\d+)",
    "errors": r"^errors:\s+(\d+)",
    "frames/s analysed": r"^analysed frames/s: ([\d.]+)",
    "round trip p50 ms": r"^round trip \(send -> analysis\): p50\s+([\d.]+)",
    "round trip p95 ms": r"^round trip \(send -> analysis\): p50\s+[\d.]+\s+p95\s+([\d.]+)",
    "lost rows": r"^lost rows: (\d+)",
    "server CPU ms/frame": r"^server CPU per analysed frame: ([\d.]+) ms",
}


def run_load(label: str, extra: list[str], args: argparse.Namespace, env: dict | None = None) -> dict:
    """One ws_load.py run; its full output goes to a log beside this script's output, its figures are returned."""
    command = [sys.executable, str(ROOT / "benchmarks" / "ws_load.py"), "--learners", str(args.learners),
               "--duration", str(args.duration), "--interval", str(args.interval), *extra]
    print(f"[{label}] {shlex.join(command)}", flush=True)
    output = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.duration + 600)
    log = Path(args.logs) / f"ws_load-{label}.log"
    log.write_text(output.stdout + output.stderr)
    figures = {}
    for name, pattern in PATTERNS.items():
        found = re.search(pattern, output.stdout, re.M)
        figures[name] = found.group(1) if found else "?"
    print(f"[{label}] exit {output.returncode}; full output in {log}", flush=True)
    return figures


def scaled_env() -> dict:
    """DATABASE_URL, REDIS_URL and CELERY_BROKER_URL as scripts/scaled.sh prints them."""
    lines = subprocess.run([str(SCALED), "env"], capture_output=True, text=True, check=True).stdout.split()
    return dict(line.split("=", 1) for line in lines)


def main() -> None:
    """Embedded first, then scaled; a table of both."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=150)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--logs", default="/tmp", help="folder for the two runs' full outputs (default /tmp)")
    args = parser.parse_args()
    print("command: " + shlex.join([sys.executable, *sys.argv]))
    results = {"embedded": run_load("embedded", [], args)}
    subprocess.run([str(SCALED), "start"], check=True, cwd=ROOT, env={**os.environ, "DEMO": "0"})
    try:
        env = scaled_env()
        urls = "http://127.0.0.1:8001,http://127.0.0.1:8002"
        results["scaled"] = run_load("scaled", ["--url", urls, "--database-url", env["DATABASE_URL"]], args,
                                     env={**os.environ, **env})
    finally:
        subprocess.run([str(SCALED), "stop"], cwd=ROOT)
    print(f"\n{'':22}{'embedded (1 process)':>24}{'scaled (2 servers + 2 workers)':>34}")
    for name in PATTERNS:
        print(f"{name:22}{results['embedded'][name]:>24}{results['scaled'][name]:>34}")


if __name__ == "__main__":
    main()
