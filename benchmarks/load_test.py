"""Load test of the app on loopback: concurrent clients x mixed requests, latency, memory, capacity.

    python benchmarks/load_test.py [--clients 16] [--requests 10] [--time-bound 900] [--request-timeout 300]
                                   [--rounds 1] [--quick] [--json PATH]
    python benchmarks/load_test.py --capacity [--levels 8,16,32,33,34,40,48] [--quick] [--json PATH]

Starts the real app (``python app.py``, default configuration: one heavy action at a time, a queue of 32)
in a temporary folder of its own and waits for its background warm-up.

**Load** (default): one warm-up round of every request kind and every edit of the mix (the edit cache
then holds its steady-state set), then a single-client baseline (each kind
alone, one after the other: the latency a lone user sees), then ``--clients`` threads, each with its own
``gradio_client.Client`` (its own session), released together, each sending ``--requests`` requests one
after the other: a fixed, deterministic mix cycling through ``/generate``, ``/compare``, ``/unlearn``
(live unlearning: 7 method/concept/hyperparameter combinations, each made once at warm-up, so in the
run they come from the app's edit cache), ``/inspect`` and ``/code_motion`` (the inspector), with varied prompts, seeds,
backbones and lengths. Every request has a timeout (``--request-timeout``) and the run a wall-clock
bound (``--time-bound``): a request still waiting then counts as timed out and the rest are not sent.
Latency is submit -> result (files downloaded). The server's resident memory (VmRSS of its process
and any children) is read after the warm-up and after the run, each time after a short settle; the
run passes when every request succeeded (none refused, failed or timed out) and memory after the run
is at most 1.10 x memory after the warm-up. ``--rounds R`` repeats the clients R times (new sessions
each round) to tell a bounded cache (memory levels off) from a leak (memory keeps growing).

**Capacity** (``--capacity``): for each K of ``--levels``, K clients send one 3-second comparison at the
same moment; records how many succeed, how many are refused (and the message) and their latency. The
largest K with no refusal and no error is how many concurrent requests the default configuration holds.

Both print p50/p95/max latency with ratios to the single-client baseline measured in the same run and
write JSON to benchmarks/results/load_test.json (load_capacity.json with ``--capacity``; nothing with
``--quick`` unless ``--json`` is given). The server is stopped at the end, also on errors and Ctrl-C.
``tests/test_load.py`` runs a bounded form of the load through :func:`run_load`.
Exit codes: 0 passed, 1 a criterion failed, 2 the app could not start or warm up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests", REPO / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from app_helpers import AppProcess, start_app  # noqa: E402
from timing import load_average, machine_busy, write_result  # noqa: E402

KINDS = ("generate", "compare", "unlearn", "inspect", "code_motion")
PROMPTS = ("a man punches and then kicks", "a person walks forward and waves", "someone does a roundhouse kick",
           "a man jumps up and down twice", "a person throws a right hook", "someone sits down on a chair",
           "a man drives his knee up into an opponent", "a person walks forward then kicks")
#: (method, concept, hyperparameters as JSON): the first is the app's default edit; the warm-up makes
#: every one of them, so the run measures the edit cache (8 edits) in its steady state.
EDITS = (("lcr-gated", "violence", "{}"), ("lcr-nearest", "violence", "{}"), ("uce", "violence", "{}"),
         ("lcr", "kick", "{}"), ("rece", "punch", "{}"), ("lcr-gated", "jump, hop, leap", "{}"),
         ("lcr", "violence", '{"k": 48}'))
SECONDS = (2.0, 3.0, 4.0, 6.0)
QUICK_SECONDS = (2.0, 3.0)
NB_CODE = 512
RSS_LIMIT = 1.10
CAPACITY_LEVELS = (8, 16, 32, 33, 34, 40, 48)
QUICK_LEVELS = (8, 34)
CAPACITY_SECONDS = 3.0
STATUSES = ("ok", "refused", "error", "timeout", "not_run")


# ------------------------------------------------------------------------------------------- requests

@dataclass(frozen=True)
class Call:
    """One API request: endpoint (kind) and its positional arguments."""

    kind: str
    args: tuple

    @property
    def api_name(self) -> str:
        return f"/{self.kind}"


def make_call(kind: str, n: int, seconds: tuple[float, ...] = SECONDS, edit: tuple[str, str, str] | None = None
              ) -> Call:
    """The ``n``-th request of a kind, deterministic: prompt, seed, length, backbone and edit vary with n."""
    prompt = PROMPTS[n % len(PROMPTS)]
    method, concept, hp = EDITS[n % len(EDITS)] if edit is None else edit
    secs = seconds[n % len(seconds)]
    backbone = "bamm" if n % 4 == 3 else "momask"
    if kind in ("compare", "inspect"):
        return Call(kind, (prompt, backbone, method, n, secs, concept, hp))
    if kind == "generate":
        return Call(kind, (prompt, backbone, "original" if n % 2 == 0 else method, n, secs, concept, hp))
    if kind == "unlearn":
        return Call(kind, (concept, method, hp, backbone))
    if kind == "code_motion":
        return Call(kind, ((n * 37) % NB_CODE, method, concept, hp))
    raise ValueError(f"unknown request kind {kind!r}")


def client_plan(client: int, requests: int, seconds: tuple[float, ...] = SECONDS) -> list[Call]:
    """A client's requests: the kinds in turn (each client starting at another one), numbered globally."""
    return [make_call(KINDS[(client + j) % len(KINDS)], client * requests + j, seconds) for j in range(requests)]


def _result_problem(kind: str, out) -> str:
    """Why a returned value is not a real result ("" when it is)."""
    out = out if isinstance(out, (list, tuple)) else (out,)
    if kind == "compare" and not (out[2] and Path(out[2]).is_file() and out[4]):
        return "no unlearned video or judge"
    if kind == "generate" and not (out[0] and Path(out[0]).is_file() and out[1]):
        return "no video or judge"
    if kind == "unlearn" and not (out[0] and out[1]):
        return "no summary or report"
    if kind == "inspect" and not out[0]:
        return "no codebook map"
    if kind == "code_motion" and not (out[0] and Path(out[0]).is_file()):
        return "no video"
    return ""


def _refused(err: BaseException) -> bool:
    from gradio_client.utils import QueueError

    return isinstance(err, QueueError) or "queue is full" in str(err).lower()


def run_call(client, call: Call, timeout: float) -> tuple[str, float, str]:
    """(status, seconds from submit to result, error text): status is one of ok, refused, error, timeout."""
    start = time.perf_counter()
    job = None
    try:
        job = client.submit(*call.args, api_name=call.api_name)
        out = job.result(timeout=timeout)
    except TimeoutError:
        if job is not None:
            try:
                job.cancel()
            except Exception:  # noqa: BLE001 - best effort
                pass
        return "timeout", time.perf_counter() - start, f"no result after {timeout:.0f} s"
    except Exception as err:  # noqa: BLE001 - every failure is recorded, none stops the run
        text = " ".join(str(err).split())[:300]
        return ("refused" if _refused(err) else "error"), time.perf_counter() - start, f"{type(err).__name__}: {text}"
    elapsed = time.perf_counter() - start
    problem = _result_problem(call.kind, out)
    return ("error", elapsed, problem) if problem else ("ok", elapsed, "")


@dataclass
class Record:
    client: int
    index: int
    kind: str
    status: str = "not_run"   # ok | refused | error | timeout | not_run (the time bound came first)
    latency: float | None = None
    error: str = ""
    started: float | None = None  # seconds after the clients were released


def run_clients(url: str, plans: list[list[Call]], request_timeout: float, time_bound: float,
                download_dir: Path) -> tuple[list[Record], float]:
    """Each plan on its own thread and ``gradio_client`` session, all released at once; every request
    waits at most ``request_timeout`` and nothing runs past ``time_bound`` seconds. (records, wall seconds)."""
    from gradio_client import Client

    download_dir.mkdir(parents=True, exist_ok=True)
    clients = [Client(url, download_files=str(download_dir / f"client{i}"), verbose=False)
               for i in range(len(plans))]
    records = [[Record(i, j, call.kind) for j, call in enumerate(plan)] for i, plan in enumerate(plans)]
    gate = threading.Barrier(len(plans) + 1)
    clock: dict[str, float] = {}

    def worker(i: int) -> None:
        gate.wait()
        for call, rec in zip(plans[i], records[i]):
            left = clock["deadline"] - time.monotonic()
            if left <= 0:
                return
            rec.started = time.monotonic() - clock["start"]
            rec.status = "running"
            rec.status, rec.latency, rec.error = run_call(clients[i], call, max(0.5, min(request_timeout, left)))

    threads = [threading.Thread(target=worker, args=(i,), name=f"load-client-{i}", daemon=True)
               for i in range(len(plans))]
    for t in threads:
        t.start()
    clock["start"] = time.monotonic()
    clock["deadline"] = clock["start"] + time_bound
    gate.wait()
    for t in threads:
        t.join(max(0.0, clock["deadline"] - time.monotonic()) + 10.0)
    wall = time.monotonic() - clock["start"]
    for rec in (r for rs in records for r in rs):
        if rec.status == "running":  # still waiting after the bound and the grace: stopped here
            rec.status, rec.error = "timeout", f"still running when the {time_bound:.0f} s bound ended"
            rec.latency = wall - (rec.started or 0.0)
    for client in clients:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - best effort
            pass
    return [r for rs in records for r in rs], wall


# ------------------------------------------------------------------------------------------- memory

def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(parents.get(p, []))
    return tree


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def rss_bytes(pid: int) -> int:
    """Resident memory (VmRSS) of ``pid`` and its child processes (ffmpeg while a video is encoded), in
    bytes. A child still running the server's own executable is not counted: that is the moment between
    fork and exec, when the child's VmRSS is the server's own memory counted a second time (+700 MiB
    spikes in the samples otherwise)."""
    total, server_exe = 0, _exe(pid)
    for p in process_tree(pid):
        if p != pid and _exe(p) == server_exe:
            continue
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def settled_rss(pid: int, settle: float = 3.0, samples: int = 5, interval: float = 0.5) -> int:
    """Median RSS of a few samples taken after ``settle`` idle seconds (the queue drained, files written)."""
    time.sleep(settle)
    values = []
    for i in range(samples):
        if i:
            time.sleep(interval)
        values.append(rss_bytes(pid))
    return int(statistics.median(values))


class RssMonitor:
    """Samples a process tree's RSS in the background; ``peak`` is the largest sample."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


def _mib(n: int) -> float:
    return round(n / 2 ** 20, 1)


# ------------------------------------------------------------------------------------------- statistics

def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolation percentile (q in 0..100); None for no values."""
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def latency_stats(latencies: list[float]) -> dict:
    r = (lambda x: None if x is None else round(x, 3))
    return {"p50": r(percentile(latencies, 50)), "p95": r(percentile(latencies, 95)),
            "max": r(max(latencies) if latencies else None), "mean": r(statistics.mean(latencies) if latencies else None)}


def summarize(records: list[Record], wall: float, baseline: dict[str, float] | None = None) -> dict:
    """Counts per status, latency of the successful requests (overall and per kind), throughput, and
    p50 / p95 under load over the single-client p50 of the same kind when ``baseline`` is given."""
    def block(rs: list[Record], base: float | None) -> dict:
        counts = Counter(r.status for r in rs)
        ok = [r.latency for r in rs if r.status == "ok"]
        out = {"requests": len(rs), **{s: counts.get(s, 0) for s in STATUSES}, **latency_stats(ok)}
        if base:
            out["single_client_p50"] = round(base, 3)
            out["p50_vs_single"] = None if out["p50"] is None else round(out["p50"] / base, 2)
            out["p95_vs_single"] = None if out["p95"] is None else round(out["p95"] / base, 2)
        return out

    baseline = baseline or {}
    ok_count = sum(r.status == "ok" for r in records)
    result = {"wall_seconds": round(wall, 2), "throughput_per_s": round(ok_count / wall, 3) if wall > 0 else None,
              "overall": block(records, None),
              "per_kind": {k: block([r for r in records if r.kind == k], baseline.get(k))
                           for k in KINDS if any(r.kind == k for r in records)}}
    if baseline:
        # Work the server does per request when alone, against the request rate it kept under load:
        # 1.0 = concurrency costs nothing (one action at a time either way); below 1 = overhead.
        busy = sum(baseline.get(r.kind, 0.0) for r in records if r.status == "ok")
        result["server_efficiency"] = round(busy / wall, 2) if wall > 0 else None
    errors = [f"{r.kind} (client {r.client}, request {r.index}): {r.status}: {r.error}"
              for r in records if r.status not in ("ok", "not_run")]
    result["failures"] = errors[:20]
    return result


# ------------------------------------------------------------------------------------------- runs

def single_client(url: str, calls: list[Call], timeout: float, download_dir: Path) -> list[tuple[Call, float]]:
    """The calls one after the other on one client; (call, latency) each. A failure raises: the app is
    not usable, so no load figure would mean anything."""
    from gradio_client import Client

    client = Client(url, download_files=str(download_dir), verbose=False)
    try:
        out = []
        for call in calls:
            status, latency, error = run_call(client, call, timeout)
            if status != "ok":
                raise RuntimeError(f"single-client {call.kind} {call.args!r} failed: {status}: {error}")
            out.append((call, latency))
        return out
    finally:
        client.close()


def server_log_problems(app: AppProcess) -> list[str]:
    """Lines of the app's log that report a failure (tracebacks, failed requests, warnings)."""
    keys = ("Traceback", "ERROR", "request failed", "Exception")
    return [line for line in app.log_text().splitlines() if any(k in line for k in keys)][:20]


def run_load(app: AppProcess, clients: int = 16, requests: int = 10, time_bound: float = 900.0,
             request_timeout: float = 300.0, seconds: tuple[float, ...] = SECONDS, rounds: int = 1,
             baseline_repeats: int | None = None, settle: float = 3.0, download_dir: Path | None = None,
             verbose: bool = True) -> dict:
    """The load test on a started, warmed-up app (see the module doc); returns the result dict with
    ``passed`` and the reasons in ``problems``. ``baseline_repeats`` single-client requests of each kind
    (default: one per length in ``seconds``; 0 skips the baseline)."""
    say = print if verbose else (lambda *a, **k: None)
    own_tmp = download_dir is None
    download_dir = Path(tempfile.mkdtemp(prefix="hmu_load_")) if own_tmp else download_dir
    pid = app.proc.pid
    try:
        rss_started = rss_bytes(pid)
        start = time.perf_counter()
        # Warm-up: every kind once, and every edit of the mix once, so the edit cache (8 edits, bounded)
        # holds what it holds in steady state: growth after that is what a leak would look like.
        warm_calls = [make_call(k, i, seconds, EDITS[0]) for i, k in enumerate(KINDS)]
        warm_calls += [make_call("unlearn", 0, seconds, edit) for edit in EDITS[1:]]
        warm = single_client(app.url, warm_calls, request_timeout, download_dir / "warm")
        repeats = len(seconds) if baseline_repeats is None else baseline_repeats
        calls = [make_call(k, 100 + r, (seconds[r % len(seconds)],), EDITS[0]) for r in range(repeats) for k in KINDS]
        base_runs = single_client(app.url, calls, request_timeout, download_dir / "baseline") if calls else []
        baseline = {k: statistics.median(t for c, t in base_runs if c.kind == k) for k in KINDS
                    if any(c.kind == k for c, _ in base_runs)}
        warm_seconds = time.perf_counter() - start
        rss_warm = settled_rss(pid, settle)
        say(f"warm-up round {warm_seconds:.1f} s; RSS {_mib(rss_started)} MiB at start, "
            f"{_mib(rss_warm)} MiB after warm-up")
        rounds_out, all_records, wall_total = [], [], 0.0
        for rnd in range(rounds):
            plans = [client_plan(c, requests, seconds) for c in range(clients)]
            say(f"round {rnd + 1}/{rounds}: {clients} clients x {requests} requests (bound {time_bound:g} s)")
            with RssMonitor(pid) as monitor:
                records, wall = run_clients(app.url, plans, request_timeout, time_bound,
                                            download_dir / f"round{rnd}")
            rss_after = settled_rss(pid, settle)
            summary = summarize(records, wall, baseline)
            rounds_out.append({"round": rnd + 1, "rss_after_mib": _mib(rss_after), "rss_peak_mib": _mib(monitor.peak),
                               "rss_ratio": round(rss_after / rss_warm, 3), **summary})
            all_records += records
            wall_total += wall
            say(f"  {summary['overall']['ok']}/{len(records)} ok in {wall:.1f} s; RSS after {_mib(rss_after)} MiB "
                f"({rss_after / rss_warm:.3f} x after warm-up), peak {_mib(monitor.peak)} MiB")
        total = summarize(all_records, wall_total, baseline)
        final = rounds_out[-1]
        ratio = final["rss_ratio"]
        problems = []
        o = total["overall"]
        if o["ok"] != o["requests"]:
            problems.append(f"{o['requests'] - o['ok']} of {o['requests']} requests did not succeed "
                            f"(refused {o['refused']}, errors {o['error']}, timeouts {o['timeout']}, "
                            f"not run {o['not_run']})")
        if ratio > RSS_LIMIT:
            problems.append(f"RSS after the run is {ratio:.3f} x RSS after warm-up (limit {RSS_LIMIT})")
        return {
            "clients": clients, "requests_per_client": requests, "rounds": rounds, "time_bound_s": time_bound,
            "request_timeout_s": request_timeout, "seconds": list(seconds), "edits": [list(e) for e in EDITS],
            "warm_up_round_s": round(warm_seconds, 2),
            "single_client": {"repeats": repeats, "p50_per_kind": {k: round(v, 3) for k, v in baseline.items()},
                              "runs": [[c.kind, round(t, 3)] for c, t in base_runs],
                              "warm_up_round": [[c.kind, round(t, 3)] for c, t in warm]},
            "memory": {"rss_at_start_mib": _mib(rss_started), "rss_after_warm_up_mib": _mib(rss_warm),
                       "rss_after_run_mib": final["rss_after_mib"], "rss_peak_mib": max(r["rss_peak_mib"]
                                                                                        for r in rounds_out),
                       "ratio": ratio, "limit": RSS_LIMIT, "settle_s": settle},
            **total, "rounds_detail": rounds_out if rounds > 1 else None,
            "server_log_problems": server_log_problems(app),
            "passed": not problems, "problems": problems,
            "records": [asdict(r) for r in all_records],
        }
    finally:
        if own_tmp:
            shutil.rmtree(download_dir, ignore_errors=True)


def run_capacity(app: AppProcess, levels: tuple[int, ...] = CAPACITY_LEVELS, request_timeout: float = 300.0,
                 seconds: float = CAPACITY_SECONDS, level_bound: float = 600.0, download_dir: Path | None = None,
                 verbose: bool = True) -> dict:
    """K simultaneous comparisons (cached default edit) for each K in ``levels``; see the module doc."""
    say = print if verbose else (lambda *a, **k: None)
    own_tmp = download_dir is None
    download_dir = Path(tempfile.mkdtemp(prefix="hmu_capacity_")) if own_tmp else download_dir

    def compare(i: int) -> Call:
        method, concept, hp = EDITS[0]
        return Call("compare", (PROMPTS[i % len(PROMPTS)], "momask", method, i, seconds, concept, hp))

    try:
        single_client(app.url, [compare(0)], request_timeout, download_dir / "warm")
        base = [t for _, t in single_client(app.url, [compare(i) for i in range(1, 4)], request_timeout,
                                            download_dir / "baseline")]
        base_p50 = statistics.median(base)
        say(f"single client: {seconds:g}-second comparison p50 {base_p50:.2f} s")
        rows = []
        for k in levels:
            records, wall = run_clients(app.url, [[compare(i)] for i in range(k)], request_timeout, level_bound,
                                        download_dir / f"k{k}")
            counts = Counter(r.status for r in records)
            ok = [r.latency for r in records if r.status == "ok"]
            stats = latency_stats(ok)
            messages = sorted({r.error for r in records if r.status in ("refused", "error", "timeout")})
            row = {"clients": k, **{s: counts.get(s, 0) for s in STATUSES}, **stats, "wall_seconds": round(wall, 2),
                   "p50_vs_single": None if stats["p50"] is None else round(stats["p50"] / base_p50, 2),
                   "p95_vs_single": None if stats["p95"] is None else round(stats["p95"] / base_p50, 2),
                   "messages": messages[:5]}
            rows.append(row)
            say(f"  K={k:3d}: ok {row['ok']}, refused {row['refused']}, errors {row['error']}, "
                f"timeouts {row['timeout']}; p50 {stats['p50']} s, p95 {stats['p95']} s"
                + (f"; {messages[0]}" if messages else ""))
            time.sleep(2.0)  # the queue drains and sessions settle between levels
        clean = [r["clients"] for r in rows if r["ok"] == r["clients"]]
        return {"levels": list(levels), "motion_seconds": seconds, "request": "compare, cached default edit",
                "single_client_p50": round(base_p50, 3), "single_client_runs": [round(t, 3) for t in base],
                "rows": rows, "largest_all_ok": max(clean) if clean else 0,
                "smallest_with_refusals": min((r["clients"] for r in rows if r["refused"]), default=None),
                "server_log_problems": server_log_problems(app)}
    finally:
        if own_tmp:
            shutil.rmtree(download_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------- report

def print_load(result: dict) -> None:
    o, m = result["overall"], result["memory"]
    print(f"\n{result['clients']} clients x {result['requests_per_client']} requests x {result['rounds']} round(s): "
          f"ok {o['ok']}/{o['requests']}, refused {o['refused']}, errors {o['error']}, timeouts {o['timeout']}, "
          f"not run {o['not_run']}; {result['wall_seconds']} s, {result['throughput_per_s']} requests/s"
          + (f", server efficiency {result['server_efficiency']}" if result.get("server_efficiency") else ""))
    print(f"{'kind':12s} {'n':>4s} {'ok':>4s} {'p50 s':>7s} {'p95 s':>7s} {'max s':>7s} {'alone p50':>9s} "
          f"{'p50/alone':>9s} {'p95/alone':>9s}")
    rows = [("all", o), *result["per_kind"].items()]
    for name, b in rows:
        def f(x, w=7, d=2):
            return f"{x:{w}.{d}f}" if isinstance(x, (int, float)) else f"{'-':>{w}s}"
        print(f"{name:12s} {b['requests']:4d} {b['ok']:4d} {f(b['p50'])} {f(b['p95'])} {f(b['max'])} "
              f"{f(b.get('single_client_p50'), 9)} {f(b.get('p50_vs_single'), 9, 1)} {f(b.get('p95_vs_single'), 9, 1)}")
    print(f"server RSS: {m['rss_at_start_mib']} MiB at start, {m['rss_after_warm_up_mib']} MiB after warm-up, "
          f"{m['rss_after_run_mib']} MiB after the run ({m['ratio']:.3f} x, limit {m['limit']}), "
          f"peak {m['rss_peak_mib']} MiB")
    for line in result["failures"][:10]:
        print(f"  failed: {line}")
    for line in result["server_log_problems"][:10]:
        print(f"  server log: {line}")
    print("PASSED" if result["passed"] else "FAILED: " + "; ".join(result["problems"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="requests per client (default 10)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the clients (new sessions) R times")
    parser.add_argument("--time-bound", type=float, default=900.0, help="wall-clock bound of a round, s")
    parser.add_argument("--request-timeout", type=float, default=300.0, help="per-request timeout, s")
    parser.add_argument("--capacity", action="store_true", help="measure how many simultaneous requests it holds")
    parser.add_argument("--levels", default=None, help=f"capacity levels (default {','.join(map(str, CAPACITY_LEVELS))})")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 4 clients x 5 requests of 2-3 s motions, or capacity levels 8 and 34; no JSON")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the results (default benchmarks/results/load_test.json, "
                             "load_capacity.json with --capacity; none with --quick)")
    args = parser.parse_args()
    from hmu_demo.ui.server import CONCURRENCY, QUEUE_SIZE

    if min(args.clients, args.requests, args.rounds) < 1 or args.time_bound <= 0 or args.request_timeout <= 0:
        parser.error("clients, requests and rounds must be >= 1, bounds > 0")
    levels = tuple(int(x) for x in args.levels.split(",")) if args.levels else (
        QUICK_LEVELS if args.quick else CAPACITY_LEVELS)
    if args.quick and not args.capacity:
        args.clients, args.requests = min(args.clients, 4), min(args.requests, 5)
    # A kill of this script stops the server too (SIGTERM runs the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tmp = Path(tempfile.mkdtemp(prefix="hmu_load_test_"))
    load_before = load_average()
    app = None
    try:
        try:
            app = start_app(tmp / "app")
            warm = app.wait_warm()
        except (RuntimeError, TimeoutError) as err:
            print(f"the app did not start: {err}", file=sys.stderr)
            return 2
        print(f"app on {app.url}: HTTP 200 after {app.start_seconds:.1f} s, warm after {warm:.1f} s")
        if args.capacity:
            result = run_capacity(app, levels, args.request_timeout,
                                  QUICK_SECONDS[0] if args.quick else CAPACITY_SECONDS,
                                  download_dir=tmp / "downloads")
            passed = True
        else:
            result = run_load(app, args.clients, args.requests, args.time_bound, args.request_timeout,
                              QUICK_SECONDS if args.quick else SECONDS, args.rounds,
                              download_dir=tmp / "downloads")
            print_load(result)
            passed = result["passed"]
        result = {"cpus": os.cpu_count(), "load_average_before": round(load_before, 2),
                  "load_average_after": round(load_average(), 2),
                  "machine_busy": machine_busy(load_before, load_average(), threads=2,
                                               advice="run again on an idle machine"),
                  "start": {"http_200_seconds": round(app.start_seconds, 2), "warm_seconds": round(warm, 2)},
                  "config": {"queue_size": QUEUE_SIZE, "concurrency": CONCURRENCY}, **result}
        if args.capacity:
            print(f"largest K with every request served: {result['largest_all_ok']}; refusals from "
                  f"K={result['smallest_with_refusals']}")
        path = args.json or (None if args.quick else
                             REPO / "benchmarks" / "results" / ("load_capacity.json" if args.capacity
                                                                else "load_test.json"))
        if path is not None:
            write_result(path, result)
        return 0 if passed else 1
    finally:
        if app is not None:
            app.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
