from . import host


def log(level, message):
    host.logs.append((level.name.lower(), message))
