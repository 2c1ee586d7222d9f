#!/usr/bin/env python3
"""Instructions per request by function, from a callgrind dump (bench/run.sh --instructions).

    callgrind_self.py DUMP REQUESTS [--top N]            # self cost per function
    callgrind_self.py DUMP REQUESTS --callees REGEX      # what functions matching REGEX call
    callgrind_self.py DUMP REQUESTS --callers REGEX      # who calls functions matching REGEX

Self cost is what a function spends in its own code, callees excluded (inlined code counts as
the function it was inlined into). callgrind_annotate's own exclusive listing puts nearly every
instruction of these binaries under `__libc_start_main`, hence this reader of the format
(https://valgrind.org/docs/manual/cl-format.html): cost lines after a `calls=` line are the
inclusive cost of that call, every other cost line is self cost of the current `fn=`.
"""

import argparse
import collections
import re
import sys

COMPRESSED = re.compile(r"\((\d+)\)(?: (.*))?")


def read(path):
    """Yields (function, callee or None, instructions) for every cost line of the dump."""
    names = {}

    def name(value):
        match = COMPRESSED.match(value)
        if not match:
            return value
        if match.group(2) is not None:
            names[match.group(1)] = match.group(2)
        return names.get(match.group(1), value)

    function = callee = None
    call = False
    with open(path, errors="replace") as dump:
        for line in dump:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("fn="):
                function, call = name(line[3:]), False
            elif line.startswith("cfn="):
                callee = name(line[4:])
            elif line.startswith("calls="):
                call = True
            elif line[0].isdigit() or line[0] in "+-*":
                fields = line.split()
                if len(fields) >= 2 and function is not None:
                    yield function, callee if call else None, int(fields[1])
                call = False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump")
    parser.add_argument("requests", type=float)
    parser.add_argument("--top", type=int, default=60)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--callees", metavar="REGEX")
    group.add_argument("--callers", metavar="REGEX")
    args = parser.parse_args()

    costs = collections.Counter()
    total = 0
    for function, callee, cost in read(args.dump):
        if callee is None:
            total += cost
            if not (args.callees or args.callers):
                costs[function] += cost
        elif args.callees and re.search(args.callees, function):
            costs[callee] += cost
        elif args.callers and re.search(args.callers, callee) and not re.search(args.callers, function):
            costs[function] += cost
    print(f"{total / args.requests:12,.0f}  instructions per request in all")
    for function, cost in costs.most_common(args.top):
        print(f"{cost / args.requests:12,.0f}  {100 * cost / max(total, 1):5.1f}%  {function[:180]}")


if __name__ == "__main__":
    sys.exit(main())
