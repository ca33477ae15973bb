"""The fake host's state: what the runner reads, and what it wrote, emitted and logged.

Signals are delivered first, one per ``next`` call that could block or poll (a signal given
as ``(n, signal)`` waits for the n-th call, or for the runner to block); input is
given a chunk per read; a wait with nothing to deliver sleeps its timeout for real.
"""

import time

from . import types


class State:
    def __init__(self, input=(), ended=True, signals=(), content_type=None, root=None, config="{}", args="[]"):
        self.input = list(input)
        self.ended = ended
        self.signals = list(signals)
        self.content_type = content_type
        self.root = root
        self.config = config
        self.args = args
        self.topics = {}
        self.subscribed = []
        self.published = []
        self.writes = []
        self.logs = []
        self.emitted = []
        self.kept_alive = []
        self.exit_code = None
        self.calls = []
        self.closed = False

    def output(self):
        return b"".join(self.writes)


state = State()


def reset(**kwargs):
    global state
    state = State(**kwargs)
    return state


def event(name, message="null"):
    return types.Signal_Event(types.Event(name, message))


def stop(timeout_ms=1000, can_keep_alive=False):
    return types.Signal_Stop(types.StopRequest(timeout_ms, can_keep_alive))


def next_arrival(read, max_len, timeout_ms):
    from . import events

    state.calls.append((read, timeout_ms))
    if state.signals:
        signal = state.signals[0]
        # (n, signal): delivered from the n-th call on, or when the runner would block.
        at, signal = signal if isinstance(signal, tuple) else (0, signal)
        if len(state.calls) > at or (timeout_ms is None and not state.input and not state.ended):
            state.signals.pop(0)
            return events.Arrival_Signal(signal)
    if isinstance(read, events.Source_Input):
        if state.input:
            chunk = state.input.pop(0)
            if len(chunk) > max_len:
                chunk, rest = chunk[:max_len], chunk[max_len:]
                state.input.insert(0, rest)
            return events.Arrival_Data(chunk)
        if state.ended:
            return events.Arrival_Data(None)
    if isinstance(read, events.Source_Topic):
        queue = state.topics.get(read.value, [])
        return events.Arrival_Data(queue.pop(0) if queue else None)
    if timeout_ms is None:
        raise RuntimeError("the runner waits for ever with nothing left to deliver")
    time.sleep(timeout_ms / 1000)
    return events.Arrival_Timeout()
