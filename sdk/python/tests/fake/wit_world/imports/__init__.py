"""The fake host: ``host`` holds what goes in and what came out."""

from types import SimpleNamespace

host = SimpleNamespace()


def reset(input=(), signals=(), topics=None, config="{}", args="[]"):
    host.__dict__.clear()
    host.input, host.signals, host.topics = list(input), list(signals), dict(topics or {})
    host.config, host.args, host.closed = config, args, False
    host.writes, host.emitted, host.logs, host.published, host.subscribed = [], [], [], [], []
    host.progress, host.kept_alive = [], []


reset()
