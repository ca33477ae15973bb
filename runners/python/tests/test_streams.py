"""scramjet.streams with plain asyncio: ``python3 -m unittest discover runners/python/tests``."""

import asyncio
import io
import unittest

import support  # noqa: F401

from scramjet.streams import Stream, StreamAlreadyConsumed, StringStream, UnsupportedOperation


def run(coroutine):
    return asyncio.run(coroutine)


async def alist(items):
    for item in items:
        await asyncio.sleep(0)
        yield item


class StreamTest(unittest.TestCase):
    def test_map_filter_each_with_plain_and_async_callbacks(self):
        seen = []

        async def double(x):
            await asyncio.sleep(0)
            return x * 2

        async def main():
            return await (
                Stream.read_from(range(10))
                .map(double)
                .filter(lambda x: x % 3 == 0)
                .each(seen.append)
                .map(lambda x: x + 1)
                .to_list()
            )

        self.assertEqual(run(main()), [1, 7, 13, 19])
        self.assertEqual(seen, [0, 6, 12, 18])

    def test_async_map_runs_in_parallel_and_keeps_order(self):
        async def slow(x):
            await asyncio.sleep(0.05 if x % 2 else 0.01)
            return x

        async def main():
            loop = asyncio.get_running_loop()
            start = loop.time()
            result = await Stream.read_from(list(range(20))).map(slow).to_list()
            return result, loop.time() - start

        result, took = run(main())
        self.assertEqual(result, list(range(20)))
        self.assertLess(took, 0.5)

    def test_read_from_async_iterable_file_and_callback(self):
        async def main():
            from_async = await Stream.read_from(alist("abc")).to_list()
            from_lines = await StringStream.read_from(io.StringIO("x\ny\n")).to_list()
            from_reads = await Stream.read_from(io.BytesIO(b"abcdefg"), chunk_size=3).to_list()
            return from_async, from_lines, from_reads

        self.assertEqual(run(main()), (["a", "b", "c"], ["x\n", "y\n"], [b"abc", b"def", b"g"]))
        with self.assertRaises(UnsupportedOperation):
            Stream.read_from(42)

    def test_decode_joins_characters_split_across_chunks_and_split_lines(self):
        data = "zażółć\ngęślą\njaźń".encode()

        async def main():
            chunks = [data[i : i + 3] for i in range(0, len(data), 3)]
            return await Stream.read_from(chunks).decode("utf-8").split("\n").to_list()

        self.assertEqual(run(main()), ["zażółć", "gęślą", "jaźń"])

    def test_split_without_separator_splits_at_whitespace_across_chunks(self):
        async def main():
            return await StringStream.read_from(["foo ba", "r  baz ", "qux"]).split().to_list()

        self.assertEqual(run(main()), ["foo", "bar", "baz", "qux"])

    def test_flatmap_batch_sequence_and_reduce(self):
        async def main():
            flat = await Stream.read_from([1, 2, 3]).flatmap(lambda x: [x] * x).to_list()
            batches = await Stream.read_from(range(7)).batch(lambda x: x % 3 == 2).to_list()
            pairs = (
                await Stream.read_from("abcde")
                .sequence(lambda part, c: [part + c] if len(part + c) < 2 else [part + c, ""], "")
                .to_list()
            )
            total = await Stream.read_from(range(5)).reduce(lambda a, b: a + b)
            joined = await Stream.read_from("abc").reduce(lambda a, b: a + b, ">")
            return flat, batches, pairs, total, joined

        self.assertEqual(
            run(main()),
            ([1, 2, 2, 3, 3, 3], [[0, 1, 2], [3, 4, 5], [6]], ["ab", "cd", "e"], 10, ">abc"),
        )

    def test_write_end_and_async_iteration_with_backpressure(self):
        async def main():
            stream = Stream(max_parallel=2)
            out = stream.map(str.upper)

            async def produce():
                for word in ("a", "b", "c", "d"):
                    await stream.write(word)
                stream.end()

            producer = asyncio.create_task(produce())
            got = [chunk async for chunk in out]
            await producer
            return got

        self.assertEqual(run(main()), ["A", "B", "C", "D"])

    def test_read_pipe_parse_match_and_operators(self):
        async def main():
            stream = Stream.read_from([1, 2])
            first, second, end = await stream.read(), await stream.read(), await stream.read()
            target = Stream()
            Stream.read_from([1, 2, 3]).pipe(target)
            piped = await ((target | (lambda x: x * 10)) % (lambda x: x > 10)).to_list()
            parsed = await StringStream.read_from(["1", "2"]).parse(int).to_list()
            matched = await StringStream.read_from(["a1 b22 c333"]).match(r"\d+").to_list()
            return first, second, end, piped, parsed, matched

        self.assertEqual(run(main()), (1, 2, None, [20, 30], [1, 2], ["1", "22", "333"]))

    def test_a_stream_has_one_consumer(self):
        async def main():
            stream = Stream.read_from([1])
            stream.map(str)
            stream.map(str)

        with self.assertRaises(StreamAlreadyConsumed):
            run(main())

    def test_a_stream_cannot_be_awaited(self):
        async def main():
            await Stream.read_from([1])

        with self.assertRaises(TypeError):
            run(main())


if __name__ == "__main__":
    unittest.main()
