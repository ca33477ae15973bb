from . import host


def instance_id():
    return "00000000-0000-0000-0000-000000000000"


def config():
    return host.config


def args():
    return host.args
