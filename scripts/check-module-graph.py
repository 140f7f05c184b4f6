#!/usr/bin/env python3
"""Finds import cycles among a Rust crate's modules and prints each as a chain of files.

A module is a file (src/lib.rs, src/x.rs, src/x/mod.rs) or an inline `mod x { ... }`. Module A
depends on module B when A names something of B: a `use` (any visibility, `pub use` included),
or a path in code (`crate::b::f()`, `super::T`, `child::T`, `alias::T` after `use ...::alias`).
A bare `mod x;` declaration is no dependency: a parent that only declares a child does not use
it. A name reached through a re-export (`use crate::Error` where lib.rs has
`pub use error::Error`) counts as a use of the module that defines it, not of the one that
re-exports it: otherwise every module would form a cycle with lib.rs. Every `cfg` is taken (a
cycle under any feature set counts); comments, strings and doc links are not code.

Usage: check-module-graph.py [--src DIR] [--edges]   exit 1 if there is a cycle
       check-module-graph.py --self-test             runs the fixtures in testdata/module-graph
Python 3 standard library only.
"""

import argparse
import bisect
import re
import sys
from collections import deque
from pathlib import Path

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|::|[$#!{}();,*<>\[\]]|[^\sA-Za-z_]")
CHAR_LITERAL = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F_]+\}|.)|[^\\'\n])'")
RAW_STRING = re.compile(r'[bc]?r(#*)"')
ITEM = re.compile(
    r"\b(?:fn|struct|enum|trait|type|const|static|union|mod)\s+([A-Za-z_][A-Za-z0-9_]*)"
    r"|\bmacro_rules!\s*([A-Za-z_][A-Za-z0-9_]*)"
)
PATH_ROOTS = {"crate", "super", "self"}


def strip_comments_and_strings(text):
    """The source with comments, string and char literals blanked out (newlines kept)."""
    out = []
    i, n = 0, len(text)

    def blank(start, end):
        out.append(re.sub(r"[^\n]", " ", text[start:end]))

    while i < n:
        c = text[i]
        prev_ident = i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif not prev_ident and (m := RAW_STRING.match(text, i)):
            close = '"' + m.group(1)
            end = text.find(close, m.end())
            end = n if end < 0 else end + len(close)
            blank(i, end)
            i = end
        elif c == '"' or (not prev_ident and c in "bc" and text.startswith('"', i + 1)):
            j = text.index('"', i) + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'" and (m := CHAR_LITERAL.match(text, i)):
            blank(i, m.end())
            i = m.end()
        elif not prev_ident and c == "b" and (m := CHAR_LITERAL.match(text, i + 1)):
            blank(i, m.end())
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Module:
    def __init__(self, path, file, child_dir, label):
        self.path = path  # ("crate", "a", "b")
        self.file = file
        self.child_dir = child_dir
        self.label = label
        self.children = {}  # name -> module path
        self.defs = set()
        self.imports = {}  # name -> absolute-ish raw path (segments, from module)
        self.globs = []  # raw paths of `use x::*`
        self.refs = []  # (segments, line, text) of uses and paths in code


class Crate:
    def __init__(self, src):
        self.src = Path(src)
        self.base = self.src.parent
        self.modules = {}
        self.missing = []
        root = self.src / "lib.rs"
        if not root.exists():
            root = self.src / "main.rs"
        self.load_file(("crate",), root)

    def rel(self, file):
        try:
            return str(file.relative_to(self.base))
        except ValueError:
            return str(file)

    def load_file(self, path, file):
        if file.name in ("lib.rs", "main.rs", "mod.rs"):
            child_dir = file.parent
        else:
            child_dir = file.with_suffix("")
        module = Module(path, file, child_dir, self.rel(file))
        self.modules[path] = module
        text = strip_comments_and_strings(file.read_text(encoding="utf-8"))
        lines = [m.start() for m in re.finditer("\n", text)]
        tokens = [(m.group(), bisect.bisect_left(lines, m.start()) + 1) for m in TOKEN.finditer(text)]
        self.parse(module, tokens, 0, len(tokens), text)

    def parse(self, module, tokens, start, end, text):
        """Reads tokens[start:end] as the body of `module`; returns where it stopped."""
        i, own = start, []
        while i < end:
            own.append(tokens[i][0])
            tok, line = tokens[i]
            prev = tokens[i - 1][0] if i > 0 else ""
            if tok == "mod" and i + 2 < end and IDENT.fullmatch(tokens[i + 1][0]):
                name, after = tokens[i + 1][0], tokens[i + 2][0]
                child_path = module.path + (name,)
                module.children[name] = child_path
                module.defs.add(name)
                if after == ";":
                    self.load_child(module, name, child_path, line)
                    i += 3
                    continue
                if after == "{":
                    close = matching_brace(tokens, i + 2)
                    inline = Module(
                        child_path,
                        module.file,
                        module.child_dir / name,
                        f"{module.label}::{name}",
                    )
                    self.modules[child_path] = inline
                    self.parse(inline, tokens, i + 3, close, text)
                    own.extend(t for t, _ in tokens[i + 1:i + 3])
                    i = close + 1
                    continue
            if tok == "use" and prev != "::":
                stop = i + 1
                while stop < end and tokens[stop][0] != ";":
                    stop += 1
                for segments, alias in parse_use_tree(tokens, i + 1, stop):
                    text_ = "use " + "::".join(segments) + ("::*" if alias == "*" else "")
                    if alias == "*":
                        module.globs.append(segments)
                    elif alias and alias != "_":
                        module.imports[alias] = segments
                    if segments:
                        module.refs.append((segments, line, text_))
                i = stop + 1
                continue
            if tok == "pub" and i + 3 < end and tokens[i + 1][0] == "(" and tokens[i + 2][0] == "in":
                # `pub(in crate::a)` restricts visibility; it is no use of `a`.
                while i < end and tokens[i][0] != ")":
                    i += 1
                continue
            if (IDENT.fullmatch(tok) and prev != "::" and i + 2 < end
                    and tokens[i + 1][0] == "::" and IDENT.fullmatch(tokens[i + 2][0])):
                segments = [tok]
                j = i + 1
                while j + 1 < end and tokens[j][0] == "::" and IDENT.fullmatch(tokens[j + 1][0]):
                    segments.append(tokens[j + 1][0])
                    j += 2
                module.refs.append((segments, line, "::".join(segments)))
                i = j
                continue
            i += 1
        # Items of this module (an inline child's own are left to it), for following re-exports.
        for m in ITEM.finditer(" ".join(own).replace(" ! ", "! ")):
            module.defs.add(m.group(1) or m.group(2))
        return i

    def load_child(self, parent, name, child_path, line):
        for candidate in (parent.child_dir / f"{name}.rs", parent.child_dir / name / "mod.rs"):
            if candidate.exists():
                self.load_file(child_path, candidate)
                return
        self.missing.append(f"{parent.label}:{line}: no file for `mod {name};`")

    # --- resolution ---------------------------------------------------------------------------

    def absolute(self, module, segments, depth=0):
        """The path from the crate root that `segments` (as written in `module`) names, or None
        for a path outside the crate (another crate, a local type, a generic)."""
        if not segments or depth > 16:
            return None
        first, rest = segments[0], list(segments[1:])
        if first == "crate":
            base = ("crate",)
        elif first in ("self", "super"):
            base = module.path
            while segments and segments[0] in ("self", "super"):
                if segments[0] == "super":
                    base = base[:-1] or ("crate",)
                segments = segments[1:]
            rest = list(segments)
        elif first in module.children:
            base = module.children[first]
        elif first in module.imports and module.imports[first] != segments:
            target = self.absolute(module, module.imports[first], depth + 1)
            return None if target is None else target + tuple(rest)
        else:
            return None
        return tuple(base) + tuple(rest)

    def defining_module(self, path, depth=0):
        """The module that defines what the absolute `path` names (re-exports followed)."""
        cut = len(path)
        while cut > 1 and path[:cut] not in self.modules:
            cut -= 1
        module_path, rest = path[:cut], path[cut:]
        if not rest or depth > 16:
            return module_path
        module, name = self.modules[module_path], rest[0]
        if name in module.defs:
            return module_path
        if name in module.imports:
            target = self.absolute(module, module.imports[name])
            if target is not None and target != path:
                return self.defining_module(target + rest[1:], depth + 1)
        for glob in module.globs:
            target = self.absolute(module, glob)
            if target is None or target == module_path:
                continue
            found = self.defining_module(target + (name,), depth + 1)
            if found != target and name in self.modules[found].defs:
                return found
        return module_path

    def edges(self):
        """{(from, to): (line, text)}: the first place each dependency shows."""
        found = {}
        for module in self.modules.values():
            for segments, line, text in module.refs:
                target = self.absolute(module, segments)
                if target is None:
                    continue
                to = self.defining_module(target)
                if to != module.path and (module.path, to) not in found:
                    found[(module.path, to)] = (line, text)
        return found


def matching_brace(tokens, open_at):
    depth = 0
    for i in range(open_at, len(tokens)):
        if tokens[i][0] == "{":
            depth += 1
        elif tokens[i][0] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(tokens)


def parse_use_tree(tokens, start, stop):
    """The paths a `use` tree imports, each with the name it binds ('*' for a glob)."""
    result = []

    def tree(i, prefix):
        segments = list(prefix)
        if i < stop and tokens[i][0] == "::":
            i += 1  # `use ::x`: another crate
            segments.append("::")
        while i < stop:
            tok = tokens[i][0]
            if tok == "{":
                i += 1
                while i < stop and tokens[i][0] != "}":
                    i = tree(i, segments)
                    if i < stop and tokens[i][0] == ",":
                        i += 1
                return i + 1
            if tok == "*":
                result.append((segments, "*"))
                return i + 1
            if IDENT.fullmatch(tok) or tok == "$":
                if tok == "$":
                    i += 1
                    tok = tokens[i][0]
                segments.append(tok)
                i += 1
                if i < stop and tokens[i][0] == "::":
                    i += 1
                    continue
                alias = segments[-1]
                if alias == "self":
                    segments = segments[:-1]
                    alias = segments[-1] if segments else None
                if i + 1 < stop and tokens[i][0] == "as":
                    alias = tokens[i + 1][0]
                    i += 2
                result.append((segments, alias))
                return i
            return i + 1
        return i

    tree(start, [])
    return [(s, a) for s, a in result if "::" not in s]


def strongly_connected(nodes, graph):
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                out.append(component)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def shortest_cycle(start, graph, members):
    """The shortest chain start -> ... -> start inside `members`."""
    parent = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph.get(v, ())):
            if w == start:
                chain = [v]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])
                return list(reversed(chain))
            if w in members and w not in parent:
                parent[w] = v
                queue.append(w)
    return None


def cycles(crate):
    """The strongly connected groups of modules, each with the shortest cycle through each of
    its modules (deduplicated), as lists of module paths."""
    edges = crate.edges()
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    groups = []
    for component in strongly_connected(crate.modules, graph):
        if len(component) < 2:
            continue
        members, seen, chains = set(component), set(), []
        for node in sorted(component):
            chain = shortest_cycle(node, graph, members)
            turn = chain.index(min(chain))
            canonical = tuple(chain[turn:] + chain[:turn])
            if canonical not in seen:
                seen.add(canonical)
                chains.append(list(canonical))
        chains.sort(key=lambda c: (len(c), c))
        groups.append((sorted(component), chains))
    groups.sort()
    return groups, edges


def chain_text(crate, chain):
    return " -> ".join(crate.modules[p].label for p in chain + chain[:1])


def report(crate, out, show_edges=False):
    groups, edges = cycles(crate)
    for line in crate.missing:
        print(f"warning: {line}", file=out)
    if show_edges:
        for (a, b), (line, text) in sorted(edges.items()):
            print(f"{crate.modules[a].label}:{line} -> {crate.modules[b].label}  ({text})", file=out)
    found = sum(len(chains) for _, chains in groups)
    print(
        f"{len(crate.modules)} modules, {len(edges)} dependencies: "
        + ("no import cycle" if not groups else
           f"{found} cycle(s) in {len(groups)} group(s) of modules that import each other"),
        file=out,
    )
    for number, (members, chains) in enumerate(groups, 1):
        print(f"\ngroup {number}: {', '.join(crate.modules[m].label for m in members)}", file=out)
        for chain in chains:
            print(f"  cycle: {chain_text(crate, chain)}", file=out)
            for a, b in zip(chain, chain[1:] + chain[:1]):
                line, text = edges[(a, b)]
                print(f"    {crate.modules[a].label}:{line}: {text}", file=out)
    return groups


def self_test():
    """Each fixture in testdata/module-graph/<case>/ holds a src/ tree and `expected`: the
    cycles the checker must report, one chain a line (nothing for an acyclic tree)."""
    root = Path(__file__).resolve().parent / "testdata" / "module-graph"
    failures, cases = 0, sorted(p for p in root.iterdir() if p.is_dir())
    for case in cases:
        crate = Crate(case / "src")
        groups, _ = cycles(crate)
        got = sorted(chain_text(crate, c) for _, chains in groups for c in chains)
        expected = sorted(
            line.strip() for line in (case / "expected").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        )
        if got != expected or crate.missing:
            failures += 1
            print(f"FAIL {case.name}\n  expected: {expected}\n  got:      {got}\n  {crate.missing}")
        else:
            print(f"ok   {case.name} ({len(got)} cycle(s))")
    print(f"{len(cases) - failures} passed, {failures} failed")
    return 1 if failures or not cases else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", default=str(Path(__file__).resolve().parent.parent / "src"))
    parser.add_argument("--edges", action="store_true", help="print every dependency found")
    parser.add_argument("--self-test", action="store_true", help="check the fixtures")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    groups = report(Crate(args.src), sys.stdout, args.edges)
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main())
