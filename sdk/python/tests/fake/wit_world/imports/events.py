from . import host


def emit(name, message):
    host.emitted.append((name, message))


def wait(timeout_ms):
    return host.signals.pop(0) if host.signals else None


def keep_alive(ms):
    host.kept_alive.append(ms)
