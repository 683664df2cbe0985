"""The child process ``grader.notebooks.bounded`` renders in: limits itself, then renders stdin.

``python -m grader.notebooks.render_child --title T --memory-mb M --cpu-s C`` reads the notebook's
bytes on stdin and writes the page on stdout. It sets its own rlimits first (the parent may be
threaded, where ``preexec_fn`` is unsafe): address space ``M`` MiB, CPU time ``C`` s (a backstop if
the parent dies before its wall-clock kill). Exit 0: the page; 2: the notebook is unreadable (the
reason on stderr); 3: out of memory.
"""

from __future__ import annotations

import argparse
import resource
import sys

EXIT_UNREADABLE = 2
EXIT_OUT_OF_MEMORY = 3


def limit_self(memory_mb: int, cpu_s: int) -> None:
    memory = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="render_child")
    parser.add_argument("--title", required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-s", type=int, required=True)
    args = parser.parse_args(argv)
    data = sys.stdin.buffer.read()  # before the limits: the parent's bytes are already bounded
    limit_self(args.memory_mb, args.cpu_s)
    try:
        from grader.notebooks.render import RenderError, render_notebook

        try:
            page = render_notebook(data, title=args.title)
        except RenderError as exc:
            sys.stderr.write(str(exc)[:2000])
            return EXIT_UNREADABLE
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    sys.stdout.buffer.write(page)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
