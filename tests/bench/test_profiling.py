"""The benchmarks' profile names where a worker process spends its time, sampled from outside."""

import subprocess
import sys
import textwrap
import time

from tests.bench.profiling import Profile, sampled

RAW = """\
process 10:"gunicorn: worker";<module> (gunicorn/__main__.py:7);handle (sync.py:1);bulk (sessions/api/views.py:40);price (sessions/pricing/engine.py:9) 6
process 10:"gunicorn: worker";<module> (gunicorn/__main__.py:7);handle (sync.py:1);bulk (sessions/api/views.py:41);wait (psycopg/connection.py:3) 3
process 10:"gunicorn: worker";<module> (gunicorn/__main__.py:7);handle (sync.py:1) 1
process 10:"gunicorn: worker";Thread._bootstrap (threading.py:995);Condition.wait (threading.py:320) 90
"""  # noqa: E501
# py-spy unwound two samples only part of the way: the main loop is still on every whole stack.
PARTLY_UNWOUND = """\
process 10:"gunicorn: worker";price (sessions/pricing/engine.py:9) 2
"""


def test_the_profile_counts_each_function_once_per_sample_and_leaves_out_plumbing():
    profile = Profile()
    profile.add_raw(RAW)
    # The connection pool's background thread is not the work measured.
    assert profile.samples == 10
    assert profile.top(3) == [
        ("bulk (sessions/api/views.py)", 0.9, 0.0),
        ("price (sessions/pricing/engine.py)", 0.6, 0.6),
        ("wait (psycopg/connection.py)", 0.3, 0.3),
    ]
    assert profile.top_own(1) == [("price (sessions/pricing/engine.py)", 0.6, 0.6)]
    report = profile.report()
    assert "top 10 functions by cumulative time" in report
    assert "90.0%" in report and "bulk (sessions/api/views.py)" in report
    assert "<module>" not in report  # on every sample: the process's main loop


def test_stacks_unwound_only_part_of_the_way_do_not_make_the_main_loop_look_like_work():
    profile = Profile()
    profile.add_raw(RAW + PARTLY_UNWOUND)
    listed = [function for function, _cumulative, _own in profile.top(10)]
    assert "<module> (gunicorn/__main__.py)" not in listed
    assert "handle (sync.py)" not in listed
    assert listed[:2] == ["bulk (sessions/api/views.py)", "price (sessions/pricing/engine.py)"]


BUSY = textwrap.dedent(
    """
    import time

    def add_up_the_meter_values():
        return sum(range(20000))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        add_up_the_meter_values()
    """
)


def test_a_busy_process_is_found_busy_in_its_own_function():
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(0.5)
        with sampled([busy.pid], rate=100) as profile:
            time.sleep(1.5)
    finally:
        busy.kill()
        busy.wait()
    assert profile.problem == ""
    assert profile.processes == 1
    assert profile.samples > 50
    function, _cumulative, own = profile.top_own(1)[0]
    assert function == "add_up_the_meter_values (<string>)"
    assert own > 0.8
