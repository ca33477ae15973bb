"""The runner against a fake host: the sample packages of ``tests/scramjet/python``, the event
loop, input decoding and exit codes."""

import contextlib
import io
import json
import os
import sys
import time
import unittest

import support
from componentize_py_types import Err  # noqa: E402
from wit_world.imports import events, host  # noqa: E402

import weir_runner  # noqa: E402
from weir_runner import codec  # noqa: E402


def sample(name):
    return os.path.join(support.SAMPLES, name)


class Run:
    """Runs a sample package's ``run`` export and restores the process afterwards."""

    def __init__(self, name, mounted=True, **state):
        self.state = host.reset(root=sample(name), **state)
        self.error = None
        cwd, path = os.getcwd(), list(sys.path)
        started = time.monotonic()
        weir_runner.package.ROOT = sample(name) if mounted else "/nonexistent/package"
        meta_path = list(sys.meta_path)
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                weir_runner.WitWorld().run()
        except Err as e:
            self.error = e.value
        finally:
            self.stderr = stderr.getvalue()
            self.took = time.monotonic() - started
            os.chdir(cwd)
            sys.path[:] = path
            sys.meta_path[:] = meta_path
            for module in ("greeting", "shout"):
                sys.modules.pop(module, None)
            sys.modules.pop("sequence", None)

    @property
    def output(self):
        return self.state.output().decode()

    def records(self):
        return [json.loads(line) for line in self.output.splitlines()]


class SamplesTest(unittest.TestCase):
    def test_stringstream_upper_cases_non_empty_lines_split_across_reads(self):
        run = Run("stringstream", input=[b"hel", b"lo\nwor", b"ld\n\nbye"], content_type="text/plain")
        self.assertIsNone(run.error)
        self.assertEqual(run.output, "HELLO\nWORLD\nBYE\n")

    def test_async_gen_yields_objects_as_ndjson_with_config(self):
        run = Run("async-gen", config='{"count": 4}')
        self.assertIsNone(run.error)
        self.assertEqual(
            run.output,
            '{"n": 0, "square": 0}\n{"n": 1, "square": 1}\n{"n": 2, "square": 4}\n{"n": 3, "square": 9}\n',
        )

    def test_events_answers_ping_while_it_waits_for_input(self):
        run = Run("events", input=[b"a\nb\n"], signals=[host.event("ping", '{"x": 1}')])
        self.assertIsNone(run.error)
        emitted = dict(run.state.emitted)
        self.assertEqual(sorted(emitted), ["hello", "pong"])
        self.assertEqual(json.loads(emitted["pong"])["got"], {"x": 1})
        self.assertEqual(run.output, "echo: a\necho: b\n")
        self.assertIn(("info", "got ping {'x': 1}"), run.state.logs)

    def test_sleep_overlaps_sleeping_tasks_and_emits_ticks(self):
        run = Run("sleep")
        self.assertIsNone(run.error)
        self.assertEqual(run.records(), [{"order": [50, 100, 150]}])
        self.assertEqual([m for n, m in run.state.emitted if n == "tick"], ["50", "100", "150"])
        self.assertLess(run.took, 0.4)
        # The loop's waits went to the host as timeouts, without reading the unread input.
        self.assertTrue(any(timeout and read is None for read, timeout in run.state.calls))

    def test_throws_fails_with_23_after_its_first_output(self):
        run = Run("throws")
        self.assertEqual(run.state.exit_code, 23)
        self.assertIn("RuntimeError: this sequence fails on purpose", run.error)
        self.assertIn("Traceback", run.error)
        self.assertEqual(run.output, "first\n")
        self.assertEqual(run.state.logs[-1], ("error", run.error))
        self.assertIn("RuntimeError: this sequence fails on purpose", run.stderr)

    def test_syntax_error_fails_with_22(self):
        run = Run("syntax-error")
        self.assertEqual(run.state.exit_code, 22)
        self.assertIn("SyntaxError", run.error)
        self.assertIn("line 3", run.error)
        self.assertEqual(run.output, "")

    def test_main_naming_no_file_fails_with_21(self):
        run = Run("main-missing")
        self.assertEqual(run.state.exit_code, 21)
        self.assertIn("Sequence entrypoint path missing.py is invalid", run.error)

    def test_uses_pypackages_imports_both_layouts(self):
        run = Run("uses-pypackages", input=[b"ann\nbob\n"])
        self.assertIsNone(run.error)
        self.assertEqual(run.output, "Hello, ann!\nHELLO, BOB!\n")

    def test_without_the_mount_modules_load_through_read_file(self):
        run = Run("uses-pypackages", mounted=False, input=[b"ann\nbob\n"])
        self.assertIsNone(run.error)
        self.assertEqual(run.output, "Hello, ann!\nHELLO, BOB!\n")
        run = Run("syntax-error", mounted=False)
        self.assertEqual(run.state.exit_code, 22)
        self.assertIn('File "/package/main.py", line 3', run.error)
        run = Run("main-missing", mounted=False)
        self.assertEqual(run.state.exit_code, 21)

    def test_ndjson_map_parses_records_split_across_reads(self):
        lines = "".join(json.dumps({"id": i, "name": f"n{i}", "n": i}) + "\n" for i in range(1000)).encode()
        chunks = [lines[i : i + 1000] for i in range(0, len(lines), 1000)]
        run = Run("ndjson-map", input=chunks, content_type="application/x-ndjson")
        self.assertIsNone(run.error)
        records = run.records()
        self.assertEqual(len(records), 1000)
        self.assertEqual(records[7], {"id": 7, "name": "N7", "n": 14})

    def test_passthrough_keeps_bytes_and_writes_in_64_kib_pieces(self):
        data = bytes(range(256)) * 1024
        run = Run("passthrough", input=[data], content_type="application/octet-stream")
        self.assertIsNone(run.error)
        self.assertEqual(run.state.output(), data)
        self.assertTrue(all(len(w) >= codec.OUTPUT_BUFFER for w in run.state.writes[:-1]))

    def test_input_is_read_only_while_the_sequence_awaits_it(self):
        run = Run("first-output", input=[b"x"], content_type="text/plain")
        self.assertIsNone(run.error)
        self.assertIn('"ready"', run.output)
        reads = [call for call in run.state.calls if isinstance(call[0], events.Source_Input)]
        self.assertEqual(len(reads), 2)  # the chunk, then the end

    def test_an_unended_stream_is_written_and_the_run_ends_at_the_stop_request(self):
        class Module:
            @staticmethod
            async def run(context, input):
                from scramjet.streams import Stream

                stream = Stream()
                stream.write("Hello World!")
                return stream

        from weir_runner.sequence import Instance

        state = host.reset(ended=False, signals=[(99, host.stop())])
        Instance().run(Module)
        self.assertEqual(state.output(), b"Hello World!")
        self.assertEqual(state.calls[-1][1], None)  # it waited for the stop without a timeout

    def test_a_stop_request_runs_the_stop_handler_and_ends_the_run(self):
        stopped = []

        class Module:
            @staticmethod
            async def run(context, input):
                context.set_stop_handler(lambda timeout, can: stopped.append((timeout, can)))
                async for chunk in input:
                    yield chunk

        from weir_runner.sequence import Instance

        host.reset(ended=False, signals=[host.stop(2000, False)])
        Instance().run(Module)
        self.assertEqual(stopped, [(2.0, False)])

    def test_the_loop_is_current_while_the_module_loads(self):
        import asyncio

        from weir_runner.sequence import Instance

        instance = Instance()
        self.assertIs(asyncio.get_event_loop(), instance.loop)
        instance.close()

    def test_the_result_can_name_its_output_topic(self):
        from scramjet.streams import Stream
        from weir_runner.sequence import Instance

        class Module:
            @staticmethod
            async def run(context, input):
                stream = Stream.read_from([{"a": 1}])
                stream.provides = {"provides": "out", "contentType": "application/x-ndjson"}
                return stream

        state = host.reset()
        Instance().run(Module)
        self.assertEqual(state.published, [("out", b'{"a": 1}\n')])
        self.assertEqual(state.output(), b"")

    def test_newer_scramjet_names_main_topic_and_content_type_are_read(self):
        from weir_runner.sequence import Instance

        class Module:
            provides = {"topic": "t", "content_type": "text/plain"}

            @staticmethod
            async def main(context, input, *args):
                async for chunk in input:
                    yield f"got: {chunk}"

        state = host.reset(input=[b"x"])
        Instance().run(Module)
        self.assertEqual(state.published, [("t", b"got: x")])

    def test_context_end_completes_and_destroy_fails_the_run(self):
        from weir_runner.sequence import Failed, Instance

        class Ending:
            @staticmethod
            async def run(context, input):
                yield "before\n"
                context.end()
                await input.to_list()  # never reached: end() cancels the run

        class Destroying:
            @staticmethod
            async def run(context, input):
                context.destroy(ValueError("bad state"))
                await input.to_list()

        state = host.reset(ended=False, signals=[(99, host.stop())])
        Instance().run(Ending)
        self.assertEqual(state.output(), b"before\n")
        host.reset(ended=False, signals=[(99, host.stop())])
        with self.assertRaises(Failed) as raised:
            Instance().run(Destroying)
        self.assertEqual((raised.exception.code, raised.exception.message), (23, "bad state"))

    def test_sys_exit_ends_the_run_with_its_code(self):
        from weir_runner.sequence import Failed, Instance

        class Clean:
            @staticmethod
            async def run(context, input):
                yield "bye\n"
                raise SystemExit(0)

        class Failing:
            @staticmethod
            async def run(context, input):
                raise SystemExit(3)

        state = host.reset()
        Instance().run(Clean)
        self.assertEqual(state.output(), b"bye\n")
        host.reset()
        with self.assertRaises(Failed) as raised:
            Instance().run(Failing)
        self.assertEqual(raised.exception.code, 3)

    def test_keep_alive_in_the_stop_handler_keeps_the_run_going(self):
        class Module:
            @staticmethod
            async def run(context, input):
                context.set_stop_handler(lambda timeout, can: context.keep_alive(5000))
                async for chunk in input:
                    yield chunk

        from weir_runner.sequence import Instance

        state = host.reset(input=[b"late"], ended=True, signals=[host.stop(1000, True)])
        Instance().run(Module)
        self.assertEqual(state.kept_alive, [5000])
        self.assertEqual(state.output(), b"late")


class NdjsonTest(unittest.TestCase):
    def test_a_bad_line_is_named(self):
        decoder = codec.NdjsonDecoder()
        self.assertEqual(decoder.decode(b'{"a": 1}\n\n  \n[2]\n'), [{"a": 1}, [2]])
        with self.assertRaises(codec.InputError) as raised:
            decoder.decode(b"{}\nnope\n")
        self.assertIn("input line 6", str(raised.exception))

    def test_the_last_line_needs_no_newline(self):
        decoder = codec.NdjsonDecoder()
        self.assertEqual(decoder.decode(b'1\n{"b"'), [1])
        self.assertEqual(decoder.decode(b": 2}"), [])
        self.assertEqual(decoder.decode(None), [{"b": 2}])

    def test_text_that_is_not_utf8_passes_through_unchanged(self):
        data = bytes(range(256)) * 4
        run = Run("passthrough", input=[data[:300], data[300:]])
        self.assertIsNone(run.error)
        self.assertEqual(run.state.output(), data)

    def test_content_types(self):
        self.assertIsInstance(codec.decoder("application/x-ndjson; charset=utf-8"), codec.NdjsonDecoder)
        self.assertIsInstance(codec.decoder(None), codec.TextDecoder)
        self.assertIsInstance(codec.decoder("application/octet-stream"), codec.BytesDecoder)
        self.assertEqual(codec.encode_any(["a", b"b", {"c": 1}, 2]), b'ab{"c": 1}\n2\n')


if __name__ == "__main__":
    unittest.main()
