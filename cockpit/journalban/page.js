/* The overview: agent state, jails, the live ban list; routes to a jail's page. */
"use strict";

(function (jb) {
    let jails = {}; // path -> {name, props}
    let list = null;
    let allowed = {};
    let subscriptions = [];

    function $(id) { return document.getElementById(id) }

    function showStopped() {
        $("overview").hidden = true;
        $("jail-page").hidden = true;
        $("stopped").hidden = false;
        $("agent-state").textContent = "Not running";
        $("agent-state").className = "state stopped";
        $("agent-version").textContent = "";
        subscriptions.forEach(s => s.remove());
        subscriptions = [];
        running = false;
        stopStatus();
        if (jb.client) jb.client.close();
    }

    function renderJails() {
        const body = document.querySelector("#jails tbody");
        const fresh = document.createDocumentFragment();
        Object.keys(jails).sort((a, b) => jails[a].name.localeCompare(jails[b].name)).forEach(path => {
            const j = jails[path];
            const p = j.props;
            const value = key => (p[key] ? p[key].v : "");
            const tr = document.createElement("tr");
            const link = jb.element("a", j.name);
            link.href = "#/jail/" + encodeURIComponent(j.name);
            const nameCell = document.createElement("td");
            nameCell.append(link);
            tr.append(nameCell, jb.element("td", value("CurrentlyFailed"), "num"),
                      jb.element("td", value("TotalFailed"), "num"), jb.element("td", value("CurrentlyBanned"), "num"),
                      jb.element("td", value("TotalBanned"), "num"), jb.element("td", value("DroppedPackets"), "num"),
                      jb.element("td", value("Enabled") === false ? "disabled" : ""));
            fresh.append(tr);
        });
        body.replaceChildren(fresh);
    }

    function fillJailSelects() {
        const names = Object.values(jails).map(j => j.name).sort();
        [["list-jail", true], ["ban-jail", false]].forEach(([id, withAll]) => {
            const select = $(id);
            const current = select.value;
            select.replaceChildren();
            if (withAll) select.append(new Option("every jail", ""));
            names.forEach(n => select.append(new Option(n, n)));
            if ([...select.options].some(o => o.value === current)) select.value = current;
        });
    }

    /* The summary from GetStatus, read again after each signal that can change it. At most
     * one read is in flight: a signal meanwhile asks for one more once it is answered (its
     * answer then holds the change). A read that fails (polkit answers GetStatus too, and
     * may fail under load) is tried again, 1 s later and then each time twice as late (at
     * most 30 s), and the summary says it is not current until a read succeeds. */
    const STATUS_RETRY_MS = 1000;
    const STATUS_RETRY_MAX_MS = 30000;
    let statusReading = false;
    let statusAgain = false;
    let statusTimer = null;
    let statusDelay = STATUS_RETRY_MS;
    let running = false; // between showRunning and showStopped: no call activates the agent

    function showStatus(s) {
        $("agent-version").textContent = "journalban " + s.Version.v;
        $("agent-state").textContent = "Agent " + s.State.v + ", backend " + s.Backend.v;
        $("agent-state").className = "state " + s.State.v;
        const attacked = s.AccountsUnderAttack ? s.AccountsUnderAttack.v : 0;
        // Counted by the agent over every ban (an agent older than BannedPrefixCount: not shown).
        const prefixes = s.BannedPrefixCount ? ", " + s.BannedPrefixCount.v + " of them prefixes" : "";
        $("summary").textContent = s.BannedCount.v + " active bans" + prefixes + "; " + attacked +
            " accounts under attack";
        $("summary").classList.remove("stale");
    }

    function stopStatus() {
        window.clearTimeout(statusTimer);
        statusTimer = null;
        statusAgain = false;
        statusDelay = STATUS_RETRY_MS;
    }

    function readStatus() {
        if (!running) return;
        if (statusReading) {
            statusAgain = true;
            return;
        }
        window.clearTimeout(statusTimer); // a retry waiting: this read is it
        statusTimer = null;
        statusReading = true;
        jb.call("GetStatus").then(reply => {
            statusDelay = STATUS_RETRY_MS;
            showStatus(reply[0]);
        }).catch(err => {
            if (!running) return; // the agent went away: presence() said so
            const summary = $("summary");
            const shown = summary.textContent.replace(/ \(not current:.*$/, "");
            summary.textContent = shown + " (not current: " + jb.errorText(err) + "; trying again)";
            summary.classList.add("stale");
            statusTimer = window.setTimeout(readStatus, statusDelay);
            statusDelay = Math.min(statusDelay * 2, STATUS_RETRY_MAX_MS);
        }).finally(() => {
            statusReading = false;
            if (statusAgain) {
                statusAgain = false;
                readStatus();
            }
        });
    }

    function readJails() {
        return jb.call("ListJails").then(reply => {
            const next = {};
            return Promise.all(reply[0].map(([name, path]) =>
                jb.call("GetAll", [jb.JAIL], path, "org.freedesktop.DBus.Properties").then(props => {
                    next[path] = { name, props: props[0] };
                }))).then(() => {
                jails = next;
                renderJails();
                fillJailSelects();
            });
        });
    }

    function subscribe() {
        const client = jb.connect();
        subscriptions.push(client.subscribe({ interface: jb.MANAGER, path: jb.PATH }, (_p, _i, signal, args) => {
            if (signal === "Banned") list.banned(args[0], args[1], args[2], args[3]);
            else if (signal === "BannedMany") list.bannedMany(args[0]);
            else if (signal === "Unbanned") list.unbanned(args[0], args[1]);
            else if (signal === "Reloaded") { readJails(); list.read() }
            readStatus();
        }));
        subscriptions.push(client.subscribe(
            { interface: "org.freedesktop.DBus.Properties", member: "PropertiesChanged", path_namespace: jb.PATH },
            (path, _i, _s, args) => {
                const [iface, changed] = args;
                if (iface === jb.MANAGER && changed.Generation) list.generationIs(changed.Generation.v);
                // The counts moved (also when a signal was lost on the way): read the summary.
                if (iface === jb.MANAGER && (changed.State || changed.BannedCount || changed.BannedPrefixCount))
                    readStatus();
                if (iface === jb.JAIL && jails[path]) {
                    Object.assign(jails[path].props, changed);
                    renderJails();
                    jb.jailChanged(jails[path].name, jails[path].props,
                                   !!(changed.CurrentlyFailed || changed.TotalFailed));
                }
            }));
    }

    function route() {
        const path = cockpit.location.path;
        if (path[0] === "jail" && path[1]) {
            const entry = Object.entries(jails).find(([, j]) => j.name === path[1]);
            $("overview").hidden = true;
            $("jail-page").hidden = false;
            if (entry) jb.showJail(entry[1].name, entry[0], allowed);
        } else {
            jb.hideJail();
            $("jail-page").hidden = true;
            $("overview").hidden = false;
        }
    }

    function showRunning() {
        $("stopped").hidden = true;
        running = true;
        jb.permissions().then(perms => {
            allowed = perms.allowed;
            $("access").hidden = !perms.reason;
            $("access").textContent = perms.reason;
            document.querySelectorAll(".admin").forEach(el => { el.hidden = false });
            if (!allowed["org.jailban.manage"]) $("reload").parentElement.hidden = true;
            if (!allowed["org.jailban.ban"]) document.querySelector(".ban-form").hidden = true;
            // One list for the page's life: its controls keep their listeners across agent restarts.
            if (!list) list = new jb.BanList(false);
            list.canUnban = !!allowed["org.jailban.unban"];
            list.offset = 0;
            subscribe();
            return Promise.all([readJails(), list.read()]);
        }).then(() => {
            readStatus();
            route();
            document.body.dataset.ready = "yes";
        }).catch(err => {
            $("agent-state").textContent = "Cannot talk to journalban: " + jb.errorText(err);
        });
    }

    function presence(running) {
        if (running) showRunning();
        else showStopped();
    }

    document.addEventListener("DOMContentLoaded", () => {
        $("start-agent").addEventListener("click", () => {
            $("start-result").textContent = "";
            jb.startAgent().catch(err => {
                jb.startRefusal(err).then(text => { $("start-result").textContent = text });
            });
        });
        $("reload").addEventListener("click", () => {
            $("reload-result").textContent = "";
            jb.call("Reload").then(() => { $("reload-result").textContent = "reloaded" })
                    .catch(err => { $("reload-result").textContent = jb.errorText(err) });
        });
        $("ban-form").addEventListener("submit", ev => {
            ev.preventDefault();
            const minutes = Number($("ban-minutes").value) || 0;
            $("ban-result").textContent = "banning…"; // this call's answer replaces it
            jb.call("Ban", [$("ban-jail").value, $("ban-address").value.trim(),
                minutes * 60 * 1000000, {}])
                    .then(() => { $("ban-result").textContent = "banned" })
                    .catch(err => { $("ban-result").textContent = jb.errorText(err) });
        });
        cockpit.addEventListener("locationchanged", route);
        jb.watchPresence(presence);
        jb.agentPresent().then(presence).catch(err => {
            $("agent-state").textContent = "Cannot ask the system bus: " + jb.errorText(err);
        });
    });
}(window.journalban));
