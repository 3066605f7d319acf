"""Injection, for every filter: client text never names the address to ban.

Each filter declares the fields of its log lines a remote client writes
(``attacker_fields``) and marks where they sit in its samples (``fields:``).
For every marked field of every sample, in every mode, this suite rewrites the
field with address-like text, separators, quotes, the tokens daemons put
before an address (``from``, ``rhost=``, ``client:`` ...), and whole copies of
the line's own tail with another address in it, and matches the result: the
reported address must be the sample's real peer or nothing. The filter files
are found by listing ``filters/``, so a new filter is covered (and fails the
declaration tests until it says what its clients write).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from journalban.addresses import parse_address
from journalban.errors import FilterError
from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import AttackerField, FilterDef, Sample, load_filter_text
from journalban.matching.library import FilterLibrary

LIBRARY = FilterLibrary(override_dir=None)
NAMES = LIBRARY.names()
NOW = 1_800_000_000.0

# The addresses a client tries to get banned; no sample uses them.
INJECTED4 = "203.0.113.254"
INJECTED6 = "2001:db8:ffff::66"
INJECTED = {INJECTED4, INJECTED6}

# What daemons write before an address: a client repeating one hopes the
# regex takes its copy for the daemon's.
TOKENS = (
    "from ", "from: ", "rhost=", "rip=", "lip=", "ip=", "host=", "addr=", "client=", "client: ",
    "client ", "[client ", "remote ", "remote=", "IP ", "IP: ", "for ", "on ", "at ", "by ",
    "connect from ", "address ", "@", "user=x rhost=", ", client: ", "; client: ",
)  # fmt: skip
SEPARATORS = (" ", "  ", ", ", ": ", "; ", ",", ":", "'", '"', "(", ")", "[", "]", "<", ">",
              "|", "/", "\\", "=", "\t", "{", "}", ") ", "] ", '" ', "' ")  # fmt: skip
WRAPS = ("{}", "[{}]", "({})", "<{}>", "'{}'", '"{}"', "{}:22", "{}#22", "{} port 22",
         "{}/32", "::ffff:{}")  # fmt: skip


def _addresses_in(text: str) -> set[str]:
    found = set()
    for token in re.findall(r"[0-9A-Fa-f:.]{2,}", text):
        addr = parse_address(token.strip(".:"))
        if addr is not None:
            found.add(str(addr))
    return found


def _injected_tails(sample: Sample, start: int, end: int) -> list[str]:
    """The line around the field, with the real address swapped for an injected one."""
    line = sample.line
    real = sample.host or ""
    out = []
    for fake in (INJECTED4, INJECTED6):
        after = line[end:]
        before = line[:start]
        if real and real in after:
            out.append(after.replace(real, fake))
        if real and real in before:
            # the message before the field (after the syslog prefix, or all of it)
            msg = before.split(": ", 1)[1] if ": " in before else before
            out.append(msg.replace(real, fake))
        out.append(after)  # a copy of the tail as it is
    return out


def payloads(sample: Sample, value: str, start: int, end: int) -> Iterator[str]:
    """Texts a client could put in the field whose text is ``value`` at ``start:end``."""
    yield ""
    for fake in (INJECTED4, INJECTED6):
        for wrap in WRAPS:
            if wrap.startswith("::ffff:") and fake == INJECTED6:
                continue
            text = wrap.format(fake)
            yield text
            yield f"{value} {text}"
            yield f"{text} {value}"
        for token in TOKENS:
            yield f"{token}{fake}"
            yield f"{value} {token}{fake}"
            yield f"{value} {token}{fake} port 22"
            yield f"{value} {token}[{fake}]"
            yield f"{value} {token}{fake} ssh2"
        for sep in SEPARATORS:
            yield f"{value}{sep}{fake}"
            yield f"{value}{sep}{fake}{sep}"
            yield f"{sep}{fake}{sep}{value}"
    for sep in SEPARATORS:
        yield f"{value}{sep}"
        yield f"{sep}{value}"
    for tail in _injected_tails(sample, start, end):
        yield tail
        yield value + tail
        yield tail + value
        for sep in (" ", '"', "'", ")", "]", ">", "\t"):
            yield value + sep + tail
            yield value + tail + sep
    # A copy of the whole message with the fake address (two lines in one).
    message = sample.line.split(": ", 1)[-1]
    for fake in (INJECTED4, INJECTED6):
        if sample.host:
            yield value + " " + message.replace(sample.host, fake)
            yield message.replace(sample.host, fake) + " " + value


def as_written(field: AttackerField, text: str) -> str | None:
    """``text`` as the server writes it into the field, None if it never would."""
    if any(c in field.never for c in text):
        return None
    if field.escaped:
        text = "".join("\\" + c if c in field.escaped or c == "\\" else c for c in text)
    return text


def mutations(fdef: FilterDef, sample: Sample) -> Iterator[tuple[str, str]]:
    """(what was done, the rewritten line) for every marked field, and pairs of fields.

    A field's text is replaced wherever it occurs (a server may write it twice,
    as pam_unix's ruser= and user=, or nginx's decoded path and request line).
    """
    line = sample.line
    declared = fdef.attacker_fields or {}
    spans = []
    for name, value in sample.fields:
        start = line.index(value)
        spans.append((name, value, start, start + len(value), line.count(value)))
    for name, value, start, end, _ in spans:
        for raw in dict.fromkeys(payloads(sample, value, start, end)):
            text = as_written(declared[name], raw)
            if text is not None:
                yield f"{name}={text!r}", line.replace(value, text)
    # Two fields at once: the tail copies in one, address look-alikes in the other.
    single = sorted((s for s in spans if s[4] == 1), key=lambda s: s[2])
    for (n1, v1, s1, e1, _), (n2, v2, s2, e2, _) in itertools.combinations(single, 2):
        if e1 > s2:
            continue
        firsts = [v1 + t for t in _injected_tails(sample, s1, e1)] + [f"{v1} from {INJECTED4}"]
        seconds = [v2 + t for t in _injected_tails(sample, s2, e2)] + [f'{v2}" from {INJECTED4}']
        for raw1, raw2 in itertools.product(firsts, seconds):
            t1, t2 = as_written(declared[n1], raw1), as_written(declared[n2], raw2)
            if t1 is not None and t2 is not None:
                yield f"{n1}={t1!r} {n2}={t2!r}", line[:s1] + t1 + line[e1:s2] + t2 + line[e2:]


def _marked(fdef: FilterDef) -> list[Sample]:
    return [s for s in fdef.samples if s.fields]


@pytest.mark.parametrize("name", NAMES)
def test_filter_declares_what_its_clients_write(name: str) -> None:
    fdef = LIBRARY.load(name)
    if fdef.attacker_fields == {}:
        # Declared empty: the service writes no client text into these lines (Bitwarden's
        # "Failed login attempt. ADDR"). Then every regex is anchored at both ends,
        # so that no text the declaration missed can stand before or after the address.
        loose = [
            r.pattern
            for r in fdef.failregex
            if not (r.pattern.startswith("^") and r.pattern.endswith("$"))
        ]
        assert not loose, (
            f"{fdef.file}: attacker_fields: {{}} needs regexes anchored at both ends: {loose}"
        )
        return
    assert fdef.attacker_fields, (
        f"{fdef.file}: no attacker_fields. Name each field of these log lines a remote "
        "client writes (user names, paths, headers, HELO ...) and mark it in samples "
        "with fields: (docs/filter-writing.md)"
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_regex_reading_a_user_name_is_covered(name: str) -> None:
    """A failregex that captures a user name is hit by a sample that marks client text."""
    fdef = LIBRARY.load(name)
    covered: set[int] = set()
    for mode in fdef.modes:
        matcher = LineMatcher(CompiledFilter(fdef, mode), lambda: NOW)
        lines = [s.line for s in _marked(fdef) if mode in s.modes and s.host is not None]
        covered |= {o.regex for o in matcher.match_lines(lines) if o.kind == MATCHED}
    uncovered = [
        f"#{i}: {r.pattern}"
        for i, r in enumerate(fdef.failregex)
        if "user" in r.regex.groupindex and i not in covered
    ]
    assert not uncovered, (
        f"{name}: failregexes reading a user name that no sample with fields: hits:\n"
        + "\n".join(uncovered)
    )


def test_no_sample_uses_the_injected_addresses() -> None:
    for name in NAMES:
        for sample in LIBRARY.load(name).samples:
            assert not _addresses_in(sample.line) & INJECTED, f"{name}: {sample.line}"


@pytest.mark.parametrize("name", NAMES)
def test_client_text_never_names_the_banned_address(name: str) -> None:
    fdef = LIBRARY.load(name)
    escapes: list[str] = []
    vacuous: list[str] = []
    tried = 0
    for mode in fdef.modes:
        matcher = LineMatcher(CompiledFilter(fdef, mode), lambda: NOW)
        for sample in _marked(fdef):
            if mode not in sample.modes:
                continue
            real = None if sample.host is None else str(parse_address(sample.host))
            allowed = {real} if real is not None else _addresses_in(sample.line)
            cases = list(mutations(fdef, sample))
            tried += len(cases)
            found = matcher.match_lines([line for _, line in cases])
            still = 0
            for out in found:
                if out.kind != MATCHED or out.address is None:
                    continue
                got = str(out.address)
                still += got == real
                if got not in allowed or got in INJECTED:
                    what, line = cases[out.index]
                    escapes.append(
                        f"[{mode}] sample line {sample.where}, {what}:\n    {line}\n"
                        f"    reported {got}, real peer {real}"
                    )
            # The rewritten lines must still exercise the regexes: a marking that
            # makes every line a miss would test nothing.
            if real is not None and not still:
                vacuous.append(f"[{mode}] sample line {sample.where}: no rewritten line matched")
    assert tried > 0 or not fdef.attacker_fields
    assert not escapes, f"{name}: {len(escapes)} injected lines:\n" + "\n".join(escapes[:15])
    assert not vacuous, f"{name}: " + "\n".join(vacuous)


_FILTER = """\
failregex: ['^login failed for <USER> from <HOST>$']
attacker_fields: {ATTACKER}
samples:
  - line: "login failed for bob from 203.0.113.5"
    host: 203.0.113.5
    fields: {FIELDS}
"""


@pytest.mark.parametrize(
    ("attacker", "fields", "error"),
    [
        ("{user: ''}", "{user: bob}", "a description"),
        ("{user: {about: x, colour: red}}", "{user: bob}", "a description"),
        ("[user]", "{user: bob}", "must map each field"),
        ("{user: the login}", "{agent: bob}", "'agent' is not in attacker_fields"),
        ("{user: the login}", "{user: alice}", "'alice' is not in the line"),
        ("{user: the login, agent: the User-Agent}", "{user: bob}", r"\['agent'\] are marked"),
    ],
)
def test_attacker_fields_are_validated_with_file_and_line(
    attacker: str, fields: str, error: str
) -> None:
    text = _FILTER.replace("{ATTACKER}", attacker).replace("{FIELDS}", fields)
    with pytest.raises(FilterError, match=error) as info:
        load_filter_text(text, "example", "example.yaml")
    assert info.value.file == "example.yaml"
    assert info.value.line is not None


def test_a_declared_field_is_read_with_what_the_server_guarantees() -> None:
    text = _FILTER.replace("{ATTACKER}", "{user: {about: the login, never: ':', escaped: '\"'}}")
    fdef = load_filter_text(text.replace("{FIELDS}", "{user: bob}"), "example", "example.yaml")
    assert fdef.attacker_fields == {"user": AttackerField("the login", ":", '"')}
    assert fdef.samples[0].fields == (("user", "bob"),)
    assert as_written(fdef.attacker_fields["user"], 'a"b') == 'a\\"b'
    assert as_written(fdef.attacker_fields["user"], "a:b") is None
