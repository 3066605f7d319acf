/* A jail's page: its settings, its last failures and bans with their lines, and "test a line". */
"use strict";

(function (jb) {
    const SETTINGS = ["Name", "Enabled", "Filter", "Sources", "Ports", "MaxRetry", "FindTimeUSec", "BanTimeUSec",
        "CurrentlyFailed", "TotalFailed", "CurrentlyBanned", "TotalBanned", "DroppedPackets", "LinesUnreadable"];

    function shown(name, value) {
        if (Array.isArray(value)) return value.join(", ");
        if (name === "FindTimeUSec" || name === "BanTimeUSec") {
            return value ? (value / 1e6) + " s" : "permanent";
        }
        return String(value);
    }

    const REREAD_MS = 1000;
    let shownJail = null;
    let allowedNow = {};
    let rereadTimer = null;

    /* The networks with failures counted and no ban yet (ListRecentFailures: lines hold
     * user names, so for org.jailban.manage only). */
    function readFailures(name) {
        const body = document.querySelector("#jail-failures tbody");
        const note = document.getElementById("jail-failures-note");
        if (!allowedNow["org.jailban.manage"]) {
            body.replaceChildren();
            note.textContent = "only for administrators (org.jailban.manage)";
            return;
        }
        jb.call("ListRecentFailures", [name]).then(reply => {
            if (shownJail !== name) return;
            const fresh = document.createDocumentFragment();
            reply[0].forEach(([address, failures, last, lines]) => {
                const tr = document.createElement("tr");
                const cell = document.createElement("td");
                cell.append(jb.element("pre", lines.join("\n")));
                tr.append(jb.element("td", address), jb.element("td", failures, "num"),
                          jb.element("td", jb.formatTime(last)), cell);
                fresh.append(tr);
            });
            body.replaceChildren(fresh);
            note.textContent = reply[0].length ? "" : "no failures counted now";
        }).catch(err => { note.textContent = jb.errorText(err) });
    }

    function renderSettings(props) {
        const settings = document.querySelector("#jail-settings tbody");
        const fresh = document.createDocumentFragment();
        SETTINGS.forEach(key => {
            if (!(key in props)) return;
            const tr = document.createElement("tr");
            tr.append(jb.element("th", key), jb.element("td", shown(key, props[key].v)));
            fresh.append(tr);
        });
        settings.replaceChildren(fresh);
    }

    /* The shown jail's properties changed (PropertiesChanged, ``props`` as they are now):
     * its settings follow, and its failures are read again, at most once a second. */
    jb.jailChanged = function (name, props, failuresChanged) {
        if (name !== shownJail) return;
        renderSettings(props);
        if (!failuresChanged || rereadTimer) return;
        rereadTimer = window.setTimeout(() => { rereadTimer = null; readFailures(name) }, REREAD_MS);
    };

    /* A read of the shown jail failed: said in its table (not an empty table). */
    function failedRow(body, name, err) {
        if (shownJail !== name) return;
        const tr = document.createElement("tr");
        const cell = jb.element("td", "could not be read: " + jb.errorText(err), "error");
        cell.colSpan = 5;
        tr.append(cell);
        body.replaceChildren(tr);
    }

    jb.hideJail = function () { shownJail = null };

    jb.showJail = function (name, path, allowed) {
        shownJail = name;
        allowedNow = allowed;
        readFailures(name);
        document.getElementById("jail-title").textContent = "Jail " + name;
        document.querySelector("#jail-settings tbody").replaceChildren();
        jb.call("GetAll", [jb.JAIL], path, "org.freedesktop.DBus.Properties").then(reply => {
            if (shownJail === name) renderSettings(reply[0]);
        }).catch(err => failedRow(document.querySelector("#jail-settings tbody"), name, err));
        const bans = document.querySelector("#jail-bans tbody");
        bans.replaceChildren();
        jb.call("GetBans", [name, 0, 20]).then(reply => {
            reply[2].forEach(r => {
                const tr = document.createElement("tr");
                const lines = document.createElement("td");
                if (allowed["org.jailban.manage"]) {
                    jb.call("GetBanDetails", [r[0], name]).then(details => {
                        const d = details[0];
                        const text = (d.lines ? d.lines.v : []).join("\n");
                        const who = d.caller_uid ? "banned by uid " + d.caller_uid.v + "\n" : "";
                        lines.append(jb.element("pre", who + (text || "(no lines: " + (d.source ? d.source.v : "") + ")")));
                    }).catch(err => lines.append(jb.element("span", jb.errorText(err), "error")));
                } else {
                    lines.textContent = "only for administrators (org.jailban.manage)";
                }
                tr.append(jb.element("td", r[0]), jb.element("td", r[5]), jb.element("td", jb.formatTime(r[2])),
                          jb.element("td", jb.formatTime(r[3])), lines);
                bans.append(tr);
            });
        }).catch(err => failedRow(bans, name, err));
        const form = document.getElementById("test-form");
        form.onsubmit = ev => {
            ev.preventDefault();
            const out = document.getElementById("test-result");
            out.textContent = "testing…";
            jb.call("TestLine", [name, document.getElementById("test-line").value]).then(reply => {
                const [matched, address, captures] = reply;
                const parts = Object.keys(captures).map(k => k + "=" + captures[k].v);
                out.textContent = matched
                    ? "matched: address " + address + (parts.length ? "\n" + parts.join("\n") : "")
                    : "no match";
            }).catch(err => { out.textContent = jb.errorText(err) });
        };
    };
}(window.journalban));
