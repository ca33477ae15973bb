"""The event loop's waits against the fake host: what it asks ``events.next`` for, when."""

import asyncio
import time
import unittest

import support  # noqa: F401
from wit_world.imports import events, host

from weir_runner.loop import RunnerLoop, Waits


def make_loop(flushes=None, signals=None):
    signals = signals if signals is not None else []
    flushes = flushes if flushes is not None else []
    waits = Waits(signals.append, lambda: flushes.append(1))
    return waits, RunnerLoop(waits)


class LoopTest(unittest.TestCase):
    def tearDown(self):
        asyncio.set_event_loop(None)

    def test_a_timer_becomes_the_timeout_of_one_host_wait(self):
        state = host.reset()
        waits, loop = make_loop()
        started = time.monotonic()
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.close()
        self.assertGreaterEqual(time.monotonic() - started, 0.05)
        timeouts = [timeout for read, timeout in state.calls if timeout]
        self.assertTrue(timeouts and all(40 <= t <= 51 for t in timeouts), state.calls)

    def test_reads_only_while_a_task_awaits_and_flushes_before_blocking(self):
        state = host.reset(input=[b"a", b"b"], ended=True)
        flushes = []
        waits, loop = make_loop(flushes)
        reader = waits.reader(events.Source_Input())

        async def two_reads():
            first = await reader.read()
            await asyncio.sleep(0.01)  # no read is asked for while this sleeps
            return first, await reader.read(), await reader.read()

        self.assertEqual(loop.run_until_complete(two_reads()), (b"a", b"b", None))
        loop.close()
        reads = [call for call in state.calls if isinstance(call[0], events.Source_Input)]
        self.assertEqual(len(reads), 3)
        sleeping = [call for call in state.calls if call[0] is None and call[1]]
        self.assertTrue(sleeping)
        self.assertTrue(flushes)

    def test_signals_are_handed_over_while_tasks_run(self):
        signals = []
        state = host.reset(signals=[host.event("ping", '{"n": 1}')])
        waits, loop = make_loop(signals=signals)

        async def busy():
            for _ in range(50):
                await asyncio.sleep(0.001)

        loop.run_until_complete(busy())
        loop.close()
        self.assertEqual([(s.name, s.message) for s in signals], [("ping", {"n": 1})])
        self.assertLess(len(state.calls), 200)  # polls while busy are spaced, not one per step

    def test_file_descriptors_are_refused(self):
        waits, loop = make_loop()
        with self.assertRaises(OSError):
            loop.add_reader(0, lambda: None)
        loop.close()


if __name__ == "__main__":
    unittest.main()
