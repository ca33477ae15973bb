"""The Python SDK against a fake host: ``python3 -m unittest discover sdk/python/tests``.

Line and record framing across chunks, output buffering, events, topics, errors, the async
driver, and the render side.
"""

import os
import struct
import sys
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "fake"), os.path.dirname(HERE)]

import weir  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from weir import _render, _sequence  # noqa: E402
from wit_world.imports import frames, host, reset, types  # noqa: E402


def chunks(text, *cuts):
    data = text.encode()
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def run(function):
    weir.sequence(function)
    _sequence.run_sequence()


def output():
    return b"".join(host.writes).decode()


class SequenceTest(unittest.TestCase):
    def test_lines_split_across_chunks_inside_a_utf8_character_and_crlf_dropped(self):
        # "ö" is two bytes at offsets 8 and 9: the cut at 9 splits it.
        reset(input=chunks("hello\r\nwörld\nlast", 3, 9, 13))

        async def upper(ctx):
            await ctx.map_lines(str.upper)

        run(upper)
        self.assertEqual(output(), "HELLO\nWÖRLD\nLAST\n")

    def test_output_is_flushed_before_each_read_of_input(self):
        reset(input=[b"a\nb\n", b"c\n"])

        async def wrap(ctx):
            await ctx.map_lines(lambda line: f"<{line}>")

        run(wrap)
        self.assertEqual(host.writes, [b"<a>\n<b>\n", b"<c>\n"])

    def test_a_bad_record_names_its_line_and_ends_the_run(self):
        reset(input=[b'{"a":1}\n\n[1\n'])

        async def same(ctx):
            await ctx.map_records(lambda record: record)

        with self.assertRaises(Err) as raised:
            run(same)
        self.assertTrue(raised.exception.value.startswith("line 3: "), raised.exception.value)
        self.assertEqual(output(), '{"a":1}\n')

    def test_filter_records_with_an_async_predicate(self):
        reset(input=[b'{"n":1}\n{"n":2}\n{"n":3,"s":"\xc3\xa9"}\n'])

        async def odd(record):
            return record["n"] % 2 == 1

        async def keep(ctx):
            await ctx.filter_records(odd)

        run(keep)
        self.assertEqual(output(), '{"n":1}\n{"n":3,"s":"é"}\n')

    def test_events_end_at_the_stop_request(self):
        reset(
            signals=[
                types.Signal_Event(types.Event("ping", '{"n":1}')),
                None,
                types.Signal_Event(types.Event("ping", "not json")),
                types.Signal_Stop(types.StopRequest(5000, True)),
                types.Signal_Event(types.Event("never", "null")),
            ]
        )
        seen = []

        async def pong(ctx):
            async for event in ctx.events():
                seen.append(event.message)
                ctx.emit("pong", event.message)
            ctx.keep_alive(1500)

        run(pong)
        self.assertEqual(seen, [{"n": 1}, "not json"])
        self.assertEqual(host.emitted, [("pong", '{"n":1}'), ("pong", '"not json"')])
        self.assertEqual(host.kept_alive, [1500])

    def test_on_hands_events_to_their_handler_while_until_stopped_waits(self):
        reset(
            signals=[
                types.Signal_Event(types.Event("ping", '"a"')),
                types.Signal_Event(types.Event("other", "1")),
                types.Signal_Event(types.Event("ping", '"b"')),
                types.Signal_Stop(types.StopRequest(0, False)),
            ]
        )

        async def pong(ctx):
            ctx.on("ping", lambda message: ctx.emit("pong", f"reply to {message}"))
            await ctx.until_stopped()

        run(pong)
        self.assertEqual(host.emitted, [("pong", '"reply to a"'), ("pong", '"reply to b"')])

    def test_topics_publish_records_and_read_a_subscription(self):
        reset(topics={"in": [b'{"x":1}\n{"x', b'":2}\n']})

        async def scale(ctx):
            async for record in ctx.topic("in").subscribe().records():
                await ctx.topic("out").publish_record({"y": record["x"] * 10})

        run(scale)
        self.assertEqual(host.subscribed, ["in"])
        self.assertEqual(host.published, [("out", '{"y":10}\n'), ("out", '{"y":20}\n')])

    def test_config_args_and_log(self):
        reset(config='{"mode":"fast"}', args='["a",2]')

        def plain(ctx):  # a plain function works too
            ctx.info(f"{ctx.config['mode']} {ctx.args}")
            with self.assertRaises(ValueError):
                ctx.log("loud", "x")

        run(plain)
        self.assertEqual(host.logs, [("info", "fast ['a', 2]")])

    def test_awaiting_something_else_is_an_error_that_says_why(self):
        reset()

        class Foreign:
            def __await__(self):
                yield "a future of some event loop"

        async def sleepy(ctx):
            await Foreign()

        with self.assertRaises(Err) as raised:
            run(sleepy)
        self.assertIn("can await only the SDK's calls", raised.exception.value)

    def test_a_closed_output_is_an_error_naming_it(self):
        reset()
        host.closed = True

        async def write(ctx):
            await ctx.output.write("x")

        with self.assertRaises(Err) as raised:
            run(write)
        self.assertEqual(raised.exception.value, "the output is closed")


class RenderTest(unittest.TestCase):
    def test_a_frame_becomes_artifacts_with_progress(self):
        reset()

        @weir.render
        async def render(frame):
            frame.progress(0.5)
            s = frame.settings_with({"text": "x", "size": 2})
            return [frame.artifact(f"frame-{frame.padded()}.txt", "text/plain", f"{s['text']} {frame.number} {s['size']}")]

        [artifact] = _render.run_render(frames.FrameRequest("j", 7, 1, '{"text":"hi"}'))
        self.assertEqual((artifact.name, artifact.media_type, artifact.data), ("frame-000007.txt", "text/plain", b"hi 7 2"))
        self.assertEqual(host.progress, [0.5])

    def test_an_error_fails_the_frame_with_its_message(self):
        @weir.render
        def render(frame):
            raise ValueError("bad frame")

        with self.assertRaises(Err) as raised:
            _render.run_render(frames.FrameRequest("j", 1, 1, "{}"))
        self.assertEqual(raised.exception.value, "bad frame")

    def test_png_inflates_back_to_the_pixels(self):
        rgb = bytes(i * 7 % 256 for i in range(3 * 4 * 2))
        png = _render.encode_png(4, 2, rgb)
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        (length,) = struct.unpack(">I", png[33:37])
        self.assertEqual(png[37:41], b"IDAT")
        self.assertEqual(zlib.decompress(png[41 : 41 + length]), b"\x00" + rgb[:12] + b"\x00" + rgb[12:])


if __name__ == "__main__":
    unittest.main()
