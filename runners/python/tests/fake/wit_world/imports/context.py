from . import host


def instance_id():
    return "00000000-0000-4000-8000-000000000000"


def config():
    return host.state.config


def args():
    return host.state.args


def input_content_type():
    return host.state.content_type
