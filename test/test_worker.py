"""The nodes' torch thread: jobs before frames, the newest frames kept, one thread for all of it."""
import threading

import pytest

from vos_ros.nodes.worker import TorchWorker


def test_jobs_run_before_frames_on_one_thread_and_old_frames_are_dropped() -> None:
    seen, threads = [], set()
    entered, gate = threading.Event(), threading.Event()

    def handle(frame: int) -> None:
        entered.set()
        gate.wait(5)
        threads.add(threading.get_ident())
        seen.append(frame)

    worker = TorchWorker("test_worker", handle)
    worker.start()
    try:
        assert worker.put_frame(1, keep=2) == 0
        assert entered.wait(5)                              # frame 1 taken: the worker waits at the gate
        assert worker.put_frame(2, keep=2) == 0 and worker.put_frame(3, keep=2) == 0
        assert worker.put_frame(4, keep=2) == 1             # frame 2 dropped: the newest two are kept
        job = worker.submit(lambda: (threads.add(threading.get_ident()), list(seen))[1])
        gate.set()
        assert job.result(5) == [1]                         # the job ran before frames 3 and 4
        assert worker.run(lambda: "done") == "done"
        with pytest.raises(ZeroDivisionError):
            worker.run(lambda: 1 / 0)                        # the job's exception, raised to the caller
        assert worker.run(lambda: list(seen)) == [1, 3, 4]
        assert len(threads) == 1 and threading.get_ident() not in threads
    finally:
        worker.stop("test over")
    assert not worker.running
    waiting = worker.submit(lambda: None)                   # nobody runs it after stop
    worker.stop("stopped")
    with pytest.raises(ValueError, match="stopped"):
        waiting.result(1)
