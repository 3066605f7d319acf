"""The Cockpit page against the real systemd, polkitd and sshd of a booted host.

Cockpit as Debian packages it runs inside the container (``cockpit.socket``
on port 9090, ``cockpit-session`` logging the user in through PAM); Debian's
chromium, driven by Playwright from outside, joins the container's network
namespace (a wrapper around it: Playwright talks to the browser over a pipe)
and logs in at 127.0.0.1:9090, as an administrator
(``cpadmin``, whom a polkit rule allows journalban's actions and starting
journalban.service) or as an ordinary user (``cpuser``, no rule). The page is
the one the packages install to /usr/share/cockpit/journalban/.
"""

from __future__ import annotations

import base64
import functools
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support.cockpit import text
from support.cockpit import wait_until as wait_a_while
from support.container import BootedHost
from support.real import REPO, missing_real, need_tool

ADMIN = "cpadmin"
USER = "cpuser"
PASSWORDS = {ADMIN: "admin-Pw-1", USER: "user-Pw-1"}  # throwaway users of the container
RULE = "/etc/polkit-1/rules.d/50-journalban-cockpit-test.rules"
# The administrators' rule: journalban's actions, and starting/stopping its unit (the
# unit systemd passes to polkit for StartUnit).
RULE_TEXT = """\
polkit.addRule(function(action, subject) {
    if (!subject.isInGroup("jbcockpit")) return polkit.Result.NOT_HANDLED;
    if (action.id.indexOf("org.jailban.") == 0) return polkit.Result.YES;
    if (action.id == "org.freedesktop.systemd1.manage-units" &&
        action.lookup("unit") == "journalban.service") return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
"""
COCKPIT_UNITS = ("cockpit.socket", "cockpit.service", "cockpit-wsinstance-http.socket",
                 "cockpit-wsinstance-http.service")  # fmt: skip
BASE = "http://127.0.0.1:9090"
PAGE = f"{BASE}/cockpit/@localhost/journalban/index.html"
IMAGES = REPO / "docs" / "images"
MANAGER = ("org.jailban", "/org/jailban", "org.jailban.Manager1")
ACTIVATION = "Activating via systemd: service name='org.jailban'"


@pytest.fixture(scope="module")
def cockpit(host: BootedHost) -> Iterator[None]:
    """Two users with passwords, the administrators' polkit rule, and cockpit.socket."""
    host.run("groupadd", "-f", "jbcockpit")
    host.run("useradd", "-m", "-s", "/bin/bash", "-G", "jbcockpit", ADMIN)
    host.run("useradd", "-m", "-s", "/bin/bash", USER)
    host.run("chpasswd", input="".join(f"{u}:{p}\n" for u, p in PASSWORDS.items()))
    host.write(RULE, RULE_TEXT)
    host.systemctl("start", "cockpit.socket")
    try:
        yield
    finally:
        host.systemctl("stop", *COCKPIT_UNITS, check=False)
        host.remove(RULE)
        for user in (ADMIN, USER):
            host.run("userdel", "-r", user, check=False)
        host.systemctl("start", "journalban.service")


@pytest.fixture(scope="module")
def browser(host: BootedHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium = need_tool("chromium")
    need_tool("nsenter")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_real("playwright is not installed (pip install -e .[test])")
    wrapper = tmp_path_factory.mktemp("chromium") / "chromium-in-container-network"
    wrapper.write_text(
        f'#!/bin/sh\nexec nsenter --net=/run/netns/{host.server_ns} {chromium} "$@"\n'
    )
    wrapper.chmod(0o755)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(wrapper), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


# The booted host is slower than a private bus: a longer wait for each step.
wait_until = functools.partial(wait_a_while, timeout=30.0)


def log_in(browser: Any, user: str) -> Any:
    """A page of a fresh browser context whose user logged in to Cockpit, on journalban's page.

    The login is the request Cockpit's login form sends (``GET /cockpit/login``
    with the user and password as HTTP Basic credentials; cockpit-ws checks them
    through cockpit-session and PAM, and sets the session cookie); this root
    has no Cockpit shell for the form to land on.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    login = context.new_page()
    credentials = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    login.set_extra_http_headers({"Authorization": f"Basic {credentials}"})
    response = login.goto(BASE + "/cockpit/login")
    assert response is not None
    assert response.status == 200, f"{user} could not log in: {response.status} {response.text()}"
    login.close()
    page = context.new_page()
    page.goto(PAGE)
    wait_until(lambda: page.query_selector("#agent-state") is not None, "journalban's page")
    return page


def shown(page: Any) -> str:
    """Which view the page settled on: 'stopped' or 'running'."""
    if page.is_visible("#stopped"):
        return "stopped"
    if "Agent running" in text(page, "#agent-state"):
        return "running"
    return ""


def has_owner(host: BootedHost) -> bool:
    reply = host.run("busctl", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                     "org.freedesktop.DBus", "NameHasOwner", "s", "org.jailban").stdout  # fmt: skip
    return reply.strip() == "b true"


def activations(host: BootedHost) -> int:
    return host.journal("-u", "dbus.service", "-o", "cat").count(ACTIVATION)


def polkit_log(host: BootedHost) -> str:
    return host.journal("-u", "polkit.service", "-o", "cat")


def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    IMAGES.mkdir(exist_ok=True)
    page.screenshot(path=str(IMAGES / f"cockpit-{name}.png"), full_page=full_page)


def stop_agent(host: BootedHost) -> None:
    host.systemctl("stop", "journalban.service")
    assert host.show("journalban.service", "ActiveState") == "inactive"
    assert not has_owner(host)


@pytest.mark.usefixtures("cockpit")
def test_a_user_polkit_refuses_is_told_why_and_the_agent_stays_stopped(
    host: BootedHost, browser: Any
) -> None:
    stop_agent(host)
    before = activations(host)
    page = log_in(browser, USER)
    wait_until(lambda: shown(page) == "stopped", "the stopped view")
    assert "not running" in text(page, "#stopped")
    page.click("#start-agent")
    wait_until(lambda: "Not allowed" in text(page, "#start-result"), "the refusal")
    refusal = text(page, "#start-result")
    assert f"polkit does not allow {USER} (uid " in refusal
    assert "org.freedesktop.systemd1.manage-units" in refusal
    assert "AccessDenied" in refusal  # systemd's own answer, shown beside the reason
    # polkitd itself decided: Cockpit's bridge, the session's authentication
    # agent, could not authenticate the user (no password was given).
    assert re.search(
        rf"FAILED to authenticate to gain authorization for action "
        rf"org\.freedesktop\.systemd1\.manage-units .*unix-user:{USER}",
        polkit_log(host),
    ), polkit_log(host)[-2000:]
    assert host.show("journalban.service", "ActiveState") == "inactive"
    assert not has_owner(host)
    assert activations(host) == before, "the page activated org.jailban"
    shot(page, "stopped")
    page.context.close()


@pytest.mark.usefixtures("cockpit")
def test_an_administrator_starts_the_stopped_agent_through_systemd(
    host: BootedHost, browser: Any
) -> None:
    if host.show("journalban.service", "ActiveState") != "inactive":
        stop_agent(host)
    before = activations(host)
    page = log_in(browser, ADMIN)
    wait_until(lambda: shown(page) == "stopped", "the stopped view")
    time.sleep(1)  # anything the page might have called has had time to activate the agent
    assert host.show("journalban.service", "ActiveState") == "inactive", (
        "loading the page started it"
    )
    assert not has_owner(host)
    page.click("#start-agent")
    wait_until(lambda: host.run("systemctl", "is-active", "journalban.service", check=False)
               .stdout.strip() == "active", "journalban.service active")  # fmt: skip
    wait_until(lambda: shown(page) == "running", "the page shows the agent")
    assert not page.is_visible("#stopped")
    assert "sshd" in text(page, "#jails")
    assert not page.is_visible("#access"), "an administrator's page is not read-only"
    assert text(page, "#start-result") == ""
    # systemd's StartUnit started it, which polkit allowed by the rule; D-Bus activation did not.
    assert f"unix-user:{ADMIN}" not in polkit_log(host), "polkit asked the administrator"
    assert activations(host) == before
    page.context.close()


@pytest.mark.usefixtures("cockpit")
def test_real_sshd_failures_and_the_ban_appear_live_and_the_administrator_unbans_it(
    host: BootedHost, browser: Any, attacker4: str
) -> None:
    page = log_in(browser, ADMIN)
    wait_until(lambda: shown(page) == "running", "the running view")
    assert attacker4 not in text(page, "#bans")
    # The first failure, below maxretry: on the jail's page with sshd's own line.
    page.click("#jails a >> text=sshd")
    assert host.ssh_attempt(attacker4, "root") != 0
    wait_until(lambda: attacker4 in text(page, "#jail-failures"), "the failure on the jail page")
    assert f"Failed password for root from {attacker4} port " in text(page, "#jail-failures")
    page.click("#back")
    for _ in range(2):  # the shipped sshd jail: maxretry 3
        if attacker4 in host.nft_elements():
            break
        assert host.ssh_attempt(attacker4, "root") != 0
    host.wait_for(f"{attacker4} banned", lambda: attacker4 in host.nft_elements())
    wait_until(lambda: attacker4 in text(page, "#bans"), "the ban on the open page")
    uid = host.run("id", "-u", ADMIN).stdout.strip()
    page.click(f'#bans tr[data-address="{attacker4}"] button.unban')
    host.wait_for(f"{attacker4} unbanned", lambda: attacker4 not in host.nft_elements())
    wait_until(lambda: attacker4 not in text(page, "#bans"), "the row leaves the page")
    assert host.tcp_connects(attacker4, 22)
    # Who did it: the logged-in administrator, in the agent's journal entry.
    entries = host.journal("-u", "journalban.service", "-o", "cat", "--grep", f"Unban {attacker4}")
    assert f"by uid {uid} (" in entries, entries
    page.context.close()


@pytest.mark.usefixtures("cockpit")
def test_an_ordinary_user_gets_the_read_only_page_with_the_reason(
    host: BootedHost, browser: Any, attacker4: str
) -> None:
    host.run("journalban", "ban", "sshd", attacker4, "--time", "10m")
    try:
        page = log_in(browser, USER)
        wait_until(lambda: shown(page) == "running", "the running view")
        uid = host.run("id", "-u", USER).stdout.strip()
        access = text(page, "#access")
        assert "Read only" in access
        assert f"to {USER} (uid {uid})" in access
        assert "org.jailban.ban" in access
        wait_until(lambda: attacker4 in text(page, "#bans"), "bans are readable")
        assert page.query_selector_all("button.unban") == []
        assert not page.is_visible("#ban-form")
        assert not page.is_visible("#reload")
        page.context.close()
    finally:
        host.run("journalban", "unban", attacker4)


@pytest.mark.usefixtures("cockpit")
def test_banned_prefixes_are_counted_over_every_ban_not_the_page_shown(
    host: BootedHost, browser: Any
) -> None:
    prefixes = ["198.51.100.0/24", "2001:db8:77::/48"]
    addresses = host.fresh_addresses(100)
    # The prefixes first: the newest 100 bans, the page shown, hold none of them.
    script = "".join(
        f"busctl call org.jailban /org/jailban org.jailban.Manager1 Ban ssta{{sv}} sshd {a} "
        f"600000000 0 >/dev/null || exit 1\n"
        for a in [*prefixes, *addresses]
    )
    host.run("sh", "-c", script, timeout=120)
    try:
        status = host.run("busctl", "get-property", *MANAGER, "BannedPrefixCount").stdout
        before = int(status.split()[1])
        assert before >= 2
        page = log_in(browser, ADMIN)
        wait_until(lambda: shown(page) == "running", "the running view")
        wait_until(lambda: "of them prefixes" in text(page, "#summary"), "the summary")
        assert f", {before} of them prefixes;" in text(page, "#summary")
        assert "1\u2013100 of" in text(page, "#page-info")
        assert not any(p in text(page, "#bans") for p in prefixes), "a prefix on the page shown"
        shot(page, "prefixes", full_page=False)
        # One prefix lifted elsewhere: the open page's count follows.
        host.run("busctl", "call", *MANAGER, "Unban", "ss", prefixes[0], "sshd")
        wait_until(lambda: f", {before - 1} of them prefixes;" in text(page, "#summary"),
                   "the count after an unban")  # fmt: skip
        page.context.close()
    finally:
        unbans = "".join(
            f"busctl call org.jailban /org/jailban org.jailban.Manager1 Unban ss {a} sshd "
            ">/dev/null 2>&1\n"
            for a in [*prefixes, *addresses]
        )
        host.run("sh", "-c", unbans, check=False, timeout=120)
