from . import host


def log(level, message):
    host.state.logs.append((level.name.lower(), message))
