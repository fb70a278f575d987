import io

from zipfit_ray.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress("score", 10, "rows", interval=0.0, stream=stream)
    progress.advance(4, "1/3 shards")
    progress.advance(6, "3/3 shards")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("zipfit-ray: score: 4/10 rows, 1/3 shards, ")
    assert "rows/s, ETA" in lines[0]
    assert lines[-1].startswith("zipfit-ray: score: 10/10 rows, 3/3 shards, ")
    assert "\r" not in stream.getvalue()


def test_quiet_between_intervals_but_always_a_final_line():
    stream = io.StringIO()
    progress = Progress("plan", 1000, "footers", interval=3600.0, stream=stream)
    for _ in range(1000):
        progress.advance(1)
    assert stream.getvalue() == ""
    progress.close()
    assert stream.getvalue().startswith("zipfit-ray: plan: 1,000/1,000 footers")


def test_a_bar_on_a_terminal():
    stream = Terminal()
    progress = Progress("score", 10, "rows", stream=stream)
    progress.advance(5, "2/4 shards")
    progress.advance(5, "4/4 shards")
    progress.close()
    assert "\r" in stream.getvalue() and "score:" in stream.getvalue()
    assert "100%" in stream.getvalue() and "zipfit-ray:" not in stream.getvalue()
